// Prints real Go stack traces for tests/stacktraces.rs: `debug.Stack()` output on stdout,
// then a re-raised panic (one panic chained to another) on stderr.
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
)

func parsePort(text string) int {
	port, err := strconv.Atoi(text)
	if err != nil {
		panic(fmt.Errorf("config broken: %w", err))
	}
	return port
}

func loadConfig() int {
	return parsePort("80x")
}

func start() {
	defer func() {
		if r := recover(); r != nil {
			panic(errors.New("startup failed"))
		}
	}()
	loadConfig()
}

func report() {
	os.Stdout.Write(debug.Stack())
}

func main() {
	report()
	start()
}
