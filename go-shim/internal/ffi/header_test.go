//go:build cgo

package ffi

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// goCopies are this package's copies of the header's enums (SentryResult, SentryLogLevel,
// SentrySignal, SentryLogFieldKind), under the header's names.
var goCopies = []struct {
	name  string
	value uint32
}{
	{name: "SENTRY_RESULT_OK", value: uint32(resultOK)},
	{name: "SENTRY_RESULT_NULL_ARGUMENT", value: uint32(resultNullArgument)},
	{name: "SENTRY_RESULT_INVALID_CONFIG", value: uint32(resultInvalidConfig)},
	{name: "SENTRY_RESULT_INVALID_REQUEST", value: uint32(resultInvalidRequest)},
	{name: "SENTRY_RESULT_NOT_STARTED", value: uint32(resultNotStarted)},
	{name: "SENTRY_RESULT_SHUT_DOWN", value: uint32(resultShutDown)},
	{name: "SENTRY_RESULT_RUNTIME_FAILED", value: uint32(resultRuntimeFailed)},
	{name: "SENTRY_RESULT_PANIC", value: uint32(resultPanic)},
	{name: "SENTRY_RESULT_INVALID_SIGNAL", value: uint32(resultInvalidSignal)},
	{name: "SENTRY_RESULT_MEMORY_FULL", value: uint32(resultMemoryFull)},
	{name: "SENTRY_LOG_LEVEL_DEBUG", value: uint32(logLevelDebug)},
	{name: "SENTRY_LOG_LEVEL_INFO", value: uint32(logLevelInfo)},
	{name: "SENTRY_LOG_LEVEL_WARN", value: uint32(logLevelWarn)},
	{name: "SENTRY_LOG_LEVEL_ERROR", value: uint32(logLevelError)},
	{name: "SENTRY_SIGNAL_TRACES", value: uint32(SignalTraces)},
	{name: "SENTRY_SIGNAL_LOGS", value: uint32(SignalLogs)},
	{name: "SENTRY_SIGNAL_METRICS", value: uint32(SignalMetrics)},
	{name: "SENTRY_LOG_FIELD_KIND_STRING", value: uint32(logFieldString)},
	{name: "SENTRY_LOG_FIELD_KIND_U64", value: uint32(logFieldU64)},
}

// Each Go copy equals the header's constant, as the C compiler sees it (headerConstants, in
// ffi.go, reads them through cgo).
func TestGoCopiesEqualTheHeaderConstants(t *testing.T) {
	for _, c := range goCopies {
		t.Run(c.name, func(t *testing.T) {
			header, ok := headerConstants[c.name]
			require.True(t, ok, "ffi.go's headerConstants lacks %s", c.name)
			assert.Equal(t, header, c.value, "the Go copy of %s", c.name)
		})
	}
	assert.Len(t, headerConstants, len(goCopies), "every constant read from the header has a Go copy")
}

// Every enumerator the header declares is among the constants checked above, so that one added
// to the Rust enums (and the header) cannot go without its Go copy.
func TestEveryHeaderEnumeratorHasAGoCopy(t *testing.T) {
	header, err := os.ReadFile(filepath.Join("..", "..", "..", "include", "sentry_exporter.h"))
	require.NoError(t, err)
	enumerators := regexp.MustCompile(`(?m)^\s*(SENTRY_[A-Z0-9_]+) = (\d+),?\s*$`).FindAllSubmatch(header, -1)
	require.NotEmpty(t, enumerators, "the header's enums are found")
	copied := make(map[string]uint32, len(goCopies))
	for _, c := range goCopies {
		copied[c.name] = c.value
	}
	for _, e := range enumerators {
		name := string(e[1])
		value, err := strconv.ParseUint(string(e[2]), 10, 32)
		require.NoError(t, err, name)
		t.Run(name, func(t *testing.T) {
			goValue, ok := copied[name]
			require.True(t, ok, "%s has no Go copy", name)
			assert.Equal(t, uint32(value), goValue, name)
		})
	}
	assert.Len(t, enumerators, len(goCopies), "every Go copy is in the header")
}
