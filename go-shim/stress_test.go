//go:build cgo

package sentryexporter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
)

// One core (the traces and the logs exporter of one config) against the Sentry stand-in,
// pushed to from 32 goroutines, shut down midway. Every push returns (no deadlock), with nil
// (sent) or ErrShutDown (or, on a very slow machine, its data to retry); Shutdown keeps the
// core's bound; nothing crashes. Run it with -race too.
func TestStressPushesWithShutdownMidway(t *testing.T) {
	const (
		workers = 32
		// Shutdown comes after warmupTime, once this many pushes were sent (at the latest
		// after warmupBound).
		warmupTime   = time.Second
		warmupPushes = 10 * workers
		warmupBound  = 20 * time.Second
		// A worker stops after this many ErrShutDown in a row (both exporters shut down).
		refusedInARow = 4
		// Every worker returns within this bound: a push is bounded by the exporter timeout
		// (20 s in directConfig), and ends at once when the core shuts down.
		workersBound = time.Minute
	)
	s := startStandin(t, "orders-service", "payments")
	ctx := context.Background()
	traces, logs := startExporters(t, s.config())

	var (
		sent, refused, retried atomic.Int64
		slowest                atomic.Int64 // nanoseconds of the slowest push
		unexpectedMu           sync.Mutex
		unexpected             []error
	)
	push := func(i int) error {
		if i%2 == 0 {
			return traces.ConsumeTraces(ctx, testTraces())
		}
		return logs.ConsumeLogs(ctx, testLogs())
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inARow := 0
			for i := w; inARow < refusedInARow; i++ {
				began := time.Now()
				err := push(i)
				took := int64(time.Since(began))
				for old := slowest.Load(); took > old && !slowest.CompareAndSwap(old, took); old = slowest.Load() {
				}
				switch {
				case err == nil:
					sent.Add(1)
					inARow = 0
				case errors.Is(err, ffi.ErrShutDown):
					refused.Add(1)
					inARow++
				default:
					// Data to retry is acceptable only as a consumererror carrying it.
					if _, ok := signalCases[i%2].retried(err); ok {
						retried.Add(1)
						continue
					}
					unexpectedMu.Lock()
					unexpected = append(unexpected, fmt.Errorf("push %d of worker %d: %w", i, w, err))
					unexpectedMu.Unlock()
					return
				}
			}
		}()
	}

	began, deadline := time.Now(), time.Now().Add(warmupBound)
	for (sent.Load() < warmupPushes || time.Since(began) < warmupTime) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	sentBeforeShutdown := sent.Load()
	require.Positive(t, sentBeforeShutdown, "no push was sent to the stand-in")

	// The collector shuts its components down one after the other; the second releases the
	// core (Shutdown within its bound, then Free) while pushes are still coming.
	for _, exp := range []component.Component{traces, logs} {
		began := time.Now()
		require.NoError(t, exp.Shutdown(ctx))
		took := time.Since(began)
		t.Logf("Shutdown took %s", took)
		assert.Less(t, took, shutdownBound)
	}
	waitOrDump(t, &wg, workersBound)

	t.Logf("%d pushes sent (%d before shutdown), %d refused as shut down, %d handed back to retry; slowest push %s",
		sent.Load(), sentBeforeShutdown, refused.Load(), retried.Load(), time.Duration(slowest.Load()))
	for _, err := range unexpected {
		t.Errorf("unexpected push result: %v", err)
	}
	assert.GreaterOrEqual(t, refused.Load(), int64(workers*refusedInARow), "every worker ended refused")
	assert.Empty(t, cores.byConfig, "the core is freed")
	for _, exp := range []component.Component{traces, logs} {
		assert.ErrorIs(t, exp.Start(ctx, componenttest.NewNopHost()), ffi.ErrShutDown)
	}
}
