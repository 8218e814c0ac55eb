//go:build cgo

package sentryexporter

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
	"github.com/otelcol-sentry/sentryexporter/internal/metadata"
)

// standinPath is the Sentry stand-in built by `make build` (cargo build --release -p sentry-standin).
var standinPath = filepath.Join("..", "target", "release", "sentry-standin")

// standin is a running Sentry stand-in: management API and OTLP ingest on one address.
type standin struct {
	API   string `json:"api"`
	Org   string `json:"org"`
	Token string `json:"token"`
}

// startStandin runs the stand-in with the given projects until the test ends. Without the
// binary the test fails, saying how to build it.
func startStandin(t testing.TB, projects ...string) standin {
	t.Helper()
	if _, err := os.Stat(standinPath); err != nil {
		t.Fatalf("%s is missing: run `cargo build --release -p sentry-standin` (part of `make build`)", standinPath)
	}
	cmd := exec.Command(standinPath, "--quiet", "--projects", strings.Join(projects, ","))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	// The first line names the addresses; it comes once the listeners are bound.
	line := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		if scanner.Scan() {
			line <- scanner.Text()
		}
		close(line)
	}()
	var s standin
	select {
	case text, ok := <-line:
		require.True(t, ok, "the stand-in exited before printing its addresses")
		require.NoError(t, json.Unmarshal([]byte(text), &s), "start-up line %q", text)
	case <-time.After(10 * time.Second):
		t.Fatal("the stand-in printed no start-up line within 10s")
	}
	return s
}

// fault adds a fault rule (JSON) through the stand-in's control API.
func (s standin) fault(t testing.TB, rule string) {
	t.Helper()
	resp, err := http.Post(s.API+"/_standin/faults", "application/json", strings.NewReader(rule))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "fault %s: %s", rule, body)
}

// requestsHanging is the number of requests the stand-in's `hang` rules hold right now.
func (s standin) requestsHanging(t testing.TB) int {
	t.Helper()
	resp, err := http.Get(s.API + "/_standin/records?ids=false")
	require.NoError(t, err)
	defer resp.Body.Close()
	var records struct {
		RequestsHanging int `json:"requests_hanging"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&records))
	return records.RequestsHanging
}

// config is an exporter config for this stand-in: no queue and no retries, as directConfig.
func (s standin) config() *Config {
	cfg := directConfig()
	cfg.URL = s.API
	cfg.OrgSlug = s.Org
	cfg.AuthToken = configopaque.String(s.Token)
	return cfg
}

// startExporters creates the traces and the logs exporter of cfg through the factory, as the
// collector does, and starts them.
func startExporters(t testing.TB, cfg *Config) (exporter.Traces, exporter.Logs) {
	t.Helper()
	ctx := context.Background()
	set := exportertest.NewNopSettings(metadata.Type)
	traces, err := NewFactory().CreateTraces(ctx, set, cfg)
	require.NoError(t, err)
	logs, err := NewFactory().CreateLogs(ctx, set, cfg)
	require.NoError(t, err)
	require.NoError(t, traces.Start(ctx, componenttest.NewNopHost()))
	require.NoError(t, logs.Start(ctx, componenttest.NewNopHost()))
	return traces, logs
}

// tracesOf is one span per service, each in its own resource.
func tracesOf(services ...string) ptrace.Traces {
	td := ptrace.NewTraces()
	for i, service := range services {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		span := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		span.SetName("op")
		span.SetTraceID([16]byte{3, byte(i)})
		span.SetSpanID([8]byte{4, byte(i)})
	}
	return td
}

// logsOf is one log record per service, each in its own resource.
func logsOf(services ...string) plog.Logs {
	ld := plog.NewLogs()
	for _, service := range services {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", service)
		rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hello")
	}
	return ld
}

// request is the OTLP protobuf request of signal holding one item per service.
func request(t testing.TB, signal ffi.Signal, services ...string) []byte {
	t.Helper()
	var req []byte
	var err error
	if signal == ffi.SignalTraces {
		req, err = (&ptrace.ProtoMarshaler{}).MarshalTraces(tracesOf(services...))
	} else {
		req, err = (&plog.ProtoMarshaler{}).MarshalLogs(logsOf(services...))
	}
	require.NoError(t, err)
	return req
}

// newCore creates and starts a core of cfg directly (no factory), freed when the test ends.
func newCore(t testing.TB, cfg *Config, logger *zap.Logger) *ffi.Core {
	t.Helper()
	configJSON, err := cfg.coreJSON()
	require.NoError(t, err)
	core, err := ffi.New(configJSON, logger)
	require.NoError(t, err)
	t.Cleanup(core.Free)
	require.NoError(t, core.Start())
	return core
}

// shutdownBound is the core's bound on Shutdown (SHUTDOWN_BOUND in rust/core/src/service.rs)
// plus a margin for a loaded machine (-race, -asan).
const shutdownBound = 5*time.Second + time.Second

// waitOrDump waits for wg, failing the test with every goroutine's stack if it takes longer
// than bound (a deadlock).
func waitOrDump(t testing.TB, wg *sync.WaitGroup, bound time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(bound):
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines still running after %s (deadlock?):\n%s", bound, buf[:runtime.Stack(buf, true)])
	}
}
