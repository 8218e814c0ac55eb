//go:build cgo && faultinjection

package sentryexporter

// Tests of a panic inside the Rust core. They need the core built with its test-only
// `fault-injection` feature, linked by the faultinjection build tag:
//
//	cargo build -p sentry-exporter-ffi --features fault-injection --target-dir target/fault-injection
//	cd go-shim && go test -count=1 -tags faultinjection \
//	  -ldflags "-X github.com/otelcol-sentry/sentryexporter/internal/ffi.CoreDigest=$(sha256sum ../target/fault-injection/debug/libsentry_exporter.a | cut -c1-16)" ./...
//
// The core panics in the per-project work of an export (after the project's lookup, while
// the batch's other projects are in flight) when data is routed to ffi.FaultInjectionProject.
//
// Decided behaviour: the panic is kept to that project. Its data comes back in the retry
// request, what the batch's other projects did stands (so a retry never sends their data
// twice), and the core logs the panic's message at error level. The exporter is not
// poisoned: the core's locks tolerate poisoning, so later exports work and Shutdown keeps
// its bound. (A panic anywhere else is caught at the C boundary: ffi.ErrPanic; the request
// ffi.FaultInjectionPanicRequest injects one there.)

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
)

const injectedPanic = "injected panic (fault-injection)"

func TestInjectedPanicIsKeptToItsProjectAndTheCoreRecovers(t *testing.T) {
	require.True(t, ffi.FaultInjection, "the faultinjection tag links the fault-injection core")
	s := startStandin(t, "orders-service", "payments", ffi.FaultInjectionProject)
	logs, observed := observer.New(zapcore.DebugLevel)
	core := newCore(t, s.config(), zap.New(logs))

	for _, signal := range []ffi.Signal{ffi.SignalTraces, ffi.SignalLogs} {
		t.Run(signal.String(), func(t *testing.T) {
			errorLines := func() []observer.LoggedEntry {
				return observed.FilterMessageSnippet(injectedPanic).FilterLevelExact(zapcore.ErrorLevel).All()
			}
			before := len(errorLines())
			out, err := core.Export(signal, request(t, signal, "orders-service", ffi.FaultInjectionProject, "payments"), 10*time.Second)
			require.NoError(t, err)
			assert.Equal(t, uint64(2), out.ItemsSent, "the other projects are sent: %s", out.Message)
			assert.Equal(t, uint64(1), out.ItemsRetryable, out.Message)
			assert.NotEmpty(t, out.RetryRequest)
			assert.Contains(t, out.Message, "project "+ffi.FaultInjectionProject+": the exporter panicked: "+injectedPanic)

			// The panic's message reaches the logger, at error level, naming the project.
			panics := errorLines()
			require.Len(t, panics, before+1, "one error line per caught panic")
			assert.Contains(t, panics[len(panics)-1].Message, "project "+ffi.FaultInjectionProject)

			// Not poisoned: the next export of the same projects, minus the faulty one, is sent.
			out, err = core.Export(signal, request(t, signal, "orders-service", "payments"), 10*time.Second)
			require.NoError(t, err)
			assert.Equal(t, uint64(2), out.ItemsSent, out.Message)
			assert.Empty(t, out.RetryRequest)
		})
	}

	t.Run("concurrent panics and exports", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 16*10)
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				signal := ffi.Signal(i % 2)
				for n := range 10 {
					faulty := (i+n)%3 == 0
					services := []string{"orders-service", "payments"}
					if faulty {
						services = append(services, ffi.FaultInjectionProject)
					}
					out, err := core.Export(signal, request(t, signal, services...), 10*time.Second)
					switch {
					case err != nil:
						errs <- err
					case out.ItemsSent != 2:
						errs <- errors.New("the healthy projects were not sent: " + out.Message)
					case faulty != (out.ItemsRetryable == 1):
						errs <- errors.New("only the faulty project's item is to be retried: " + out.Message)
					}
				}
			}()
		}
		waitOrDump(t, &wg, time.Minute)
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	// Telemetry still answers; shutdown keeps its bound (no export is left counted in flight).
	_, err := core.Telemetry()
	require.NoError(t, err)
	started := time.Now()
	require.NoError(t, core.Shutdown())
	assert.Less(t, time.Since(started), shutdownBound, "shutdown after caught panics")
}

// Through the factory, as the collector uses it: the faulty project's data fails retryably,
// the batch's other project is sent once, the exporter keeps working and shuts down cleanly.
func TestInjectedPanicThroughTheExporter(t *testing.T) {
	s := startStandin(t, "orders-service", ffi.FaultInjectionProject)
	ctx := context.Background()
	traces, logs := startExporters(t, s.config())

	err := traces.ConsumeTraces(ctx, tracesOf("orders-service", ffi.FaultInjectionProject))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "panicked")
	assert.False(t, consumererror.IsPermanent(err), "a caught panic is retryable: %v", err)
	var retry consumererror.Traces
	require.ErrorAs(t, err, &retry, "only the faulty project's data comes back")
	assert.Equal(t, 1, retry.Data().SpanCount())
	err = logs.ConsumeLogs(ctx, logsOf(ffi.FaultInjectionProject))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "panicked")

	require.NoError(t, traces.ConsumeTraces(ctx, tracesOf("orders-service")))
	require.NoError(t, logs.ConsumeLogs(ctx, logsOf("orders-service")))

	started := time.Now()
	require.NoError(t, traces.Shutdown(ctx))
	require.NoError(t, logs.Shutdown(ctx))
	assert.Less(t, time.Since(started), shutdownBound)
	assert.Empty(t, cores.byConfig, "the core is freed")
}

// A panic outside the per-project work reaches the C boundary: the export fails with
// ffi.ErrPanic (retryable for exporterhelper), the core logs it, and keeps working.
func TestInjectedPanicCaughtAtTheCBoundary(t *testing.T) {
	s := startStandin(t, "orders-service")
	logs, observed := observer.New(zapcore.DebugLevel)
	core := newCore(t, s.config(), zap.New(logs))

	for _, signal := range []ffi.Signal{ffi.SignalTraces, ffi.SignalLogs} {
		t.Run(signal.String(), func(t *testing.T) {
			_, err := core.Export(signal, []byte(ffi.FaultInjectionPanicRequest), 10*time.Second)
			require.ErrorIs(t, err, ffi.ErrPanic)

			out, err := core.Export(signal, request(t, signal, "orders-service"), 10*time.Second)
			require.NoError(t, err, "the core works after the panic")
			assert.Equal(t, uint64(1), out.ItemsSent, out.Message)
		})
	}
	caught := observed.FilterMessageSnippet("caught at the C boundary").FilterLevelExact(zapcore.ErrorLevel).All()
	require.Len(t, caught, 2, "one error line per caught panic")
	assert.Contains(t, caught[0].Message, injectedPanic)

	_, err := core.Health()
	require.NoError(t, err)
	started := time.Now()
	require.NoError(t, core.Shutdown())
	assert.Less(t, time.Since(started), shutdownBound, "shutdown after panics caught at the boundary")
}
