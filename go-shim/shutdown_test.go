//go:build cgo

package sentryexporter

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
)

// checkAfterShutdown: on a core shut down but not freed, Shutdown again is nil, Start and
// Export answer ErrShutDown, Telemetry still answers; then checkAfterFree.
func checkAfterShutdown(t *testing.T, core *ffi.Core, req []byte) {
	require.NoError(t, core.Shutdown(), "shutdown twice")
	assert.ErrorIs(t, core.Start(), ffi.ErrShutDown, "start after shutdown")
	_, err := core.Export(ffi.SignalTraces, req, time.Second)
	assert.ErrorIs(t, err, ffi.ErrShutDown, "export after shutdown")
	_, err = core.Telemetry()
	assert.NoError(t, err, "telemetry after shutdown, before free")
	checkAfterFree(t, core, req)
}

// checkAfterFree frees the core (twice); then Shutdown is nil and every other call answers
// ErrShutDown.
func checkAfterFree(t *testing.T, core *ffi.Core, req []byte) {
	core.Free()
	core.Free()
	assert.NoError(t, core.Shutdown(), "shutdown after free")
	assert.ErrorIs(t, core.Start(), ffi.ErrShutDown, "start after free")
	_, err := core.Export(ffi.SignalLogs, req, time.Second)
	assert.ErrorIs(t, err, ffi.ErrShutDown, "export after free")
	_, err = core.Telemetry()
	assert.ErrorIs(t, err, ffi.ErrShutDown, "telemetry after free")
}

// Every call on a core after Shutdown, as ffi.Core documents them.
func TestCoreCallsAfterShutdown(t *testing.T) {
	req := request(t, ffi.SignalTraces, "orders-service")
	newUnstarted := func(t *testing.T) *ffi.Core {
		configJSON, err := validConfig().coreJSON()
		require.NoError(t, err)
		core, err := ffi.New(configJSON, zap.NewNop())
		require.NoError(t, err)
		return core
	}

	t.Run("started", func(t *testing.T) {
		core := newUnstarted(t)
		require.NoError(t, core.Start())
		require.NoError(t, core.Shutdown())
		checkAfterShutdown(t, core, req)
	})
	t.Run("never started", func(t *testing.T) {
		core := newUnstarted(t)
		require.NoError(t, core.Shutdown())
		checkAfterShutdown(t, core, req)
	})
	t.Run("shutdown and free from many goroutines at once", func(t *testing.T) {
		core := newUnstarted(t)
		require.NoError(t, core.Start())
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch i % 4 {
				case 0:
					assert.NoError(t, core.Shutdown())
				case 1:
					core.Free()
				case 2:
					_ = core.Start()
				default:
					// Unreachable Sentry: an outcome to retry, or refused once shut down.
					if _, err := core.Export(ffi.SignalTraces, req, time.Second); err != nil {
						assert.ErrorIs(t, err, ffi.ErrShutDown)
					}
				}
			}()
		}
		waitOrDump(t, &wg, 30*time.Second)
		checkAfterFree(t, core, req)
	})
}

// The component after Shutdown: Start and pushes fail with ErrShutDown, Shutdown again is nil.
func TestExporterCallsAfterShutdown(t *testing.T) {
	ctx := context.Background()
	for _, sc := range signalCases {
		t.Run(sc.name, func(t *testing.T) {
			exp := sc.create(t, directConfig())
			require.NoError(t, exp.Start(ctx, componenttest.NewNopHost()))
			require.NoError(t, exp.Shutdown(ctx))
			require.NoError(t, exp.Shutdown(ctx), "shutdown twice")
			assert.ErrorIs(t, exp.Start(ctx, componenttest.NewNopHost()), ffi.ErrShutDown, "start after shutdown")
			assert.ErrorIs(t, sc.consume(ctx, exp), ffi.ErrShutDown, "push after shutdown")
			assert.Empty(t, cores.byConfig, "the core is freed")
		})
	}
}
