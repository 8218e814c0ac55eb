//go:build cgo

package sentryexporter

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
	"github.com/otelcol-sentry/sentryexporter/internal/metadata"
)

// checkAfterShutdown: on a core shut down but not freed, Shutdown again is nil, Start and
// Export answer ErrShutDown, Telemetry and Health still answer; then checkAfterFree.
func checkAfterShutdown(t *testing.T, core *ffi.Core, req []byte) {
	require.NoError(t, core.Shutdown(), "shutdown twice")
	assert.NoError(t, core.BeginShutdown(time.Second), "begin shutdown after shutdown")
	assert.ErrorIs(t, core.Start(), ffi.ErrShutDown, "start after shutdown")
	_, err := core.Export(ffi.SignalTraces, req, time.Second)
	assert.ErrorIs(t, err, ffi.ErrShutDown, "export after shutdown")
	_, err = core.Telemetry()
	assert.NoError(t, err, "telemetry after shutdown, before free")
	_, err = core.Health()
	assert.NoError(t, err, "health after shutdown, before free")
	checkAfterFree(t, core, req)
}

// checkAfterFree frees the core (twice); then Shutdown is nil and every other call answers
// ErrShutDown.
func checkAfterFree(t *testing.T, core *ffi.Core, req []byte) {
	core.Free()
	core.Free()
	assert.NoError(t, core.Shutdown(), "shutdown after free")
	assert.NoError(t, core.BeginShutdown(time.Second), "begin shutdown after free")
	assert.ErrorIs(t, core.Start(), ffi.ErrShutDown, "start after free")
	_, err := core.Export(ffi.SignalLogs, req, time.Second)
	assert.ErrorIs(t, err, ffi.ErrShutDown, "export after free")
	_, err = core.Telemetry()
	assert.ErrorIs(t, err, ffi.ErrShutDown, "telemetry after free")
	_, err = core.Health()
	assert.ErrorIs(t, err, ffi.ErrShutDown, "health after free")
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

// Shutdown of the component tells the core to wind down before the projects' exporters
// (exporterhelper's) drain their queues, with shutdownGrace, or less when ctx's deadline comes sooner.
func TestShutdownBeginsCoreShutdownFirst(t *testing.T) {
	tests := []struct {
		name      string
		ctx       func() (context.Context, context.CancelFunc)
		wantGrace func(t *testing.T, got time.Duration)
	}{
		{
			name: "no deadline: shutdownGrace",
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			wantGrace: func(t *testing.T, got time.Duration) {
				assert.Equal(t, shutdownGrace, got)
			},
		},
		{
			name: "sooner deadline: the time left",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), time.Second)
			},
			wantGrace: func(t *testing.T, got time.Duration) {
				assert.Greater(t, got, time.Duration(0))
				assert.LessOrEqual(t, got, time.Second)
			},
		},
		{
			name: "later deadline: shutdownGrace",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), time.Minute)
			},
			wantGrace: func(t *testing.T, got time.Duration) {
				assert.Equal(t, shutdownGrace, got)
			},
		},
		{
			name: "deadline passed: no grace",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			},
			wantGrace: func(t *testing.T, got time.Duration) {
				assert.Equal(t, time.Duration(0), got)
			},
		},
	}
	for _, sc := range []string{"traces", "logs", "metrics"} {
		for _, tt := range tests {
			t.Run(sc+"/"+tt.name, func(t *testing.T) {
				fake := &fakeCore{}
				e := &sentryExporter{shared: &sharedCore{core: fake}, logger: zap.NewNop()}
				// The inner Shutdown sees whether the core was told first.
				var gracesAtInnerShutdown int
				inner := component.ShutdownFunc(func(context.Context) error {
					gracesAtInnerShutdown = len(fake.graces)
					return nil
				})
				// A project's exporter (exporterhelper's) drains its queue in its Shutdown.
				project := shutdownRecorder{ShutdownFunc: inner}
				set := exportertest.NewNopSettings(metadata.Type)
				var exp component.Component
				switch sc {
				case "traces":
					p := newProjectExporters(e, tracesCodec, set)
					p.byProject["checkout"] = tracesProject{project}
					exp = sentryTraces{p}
				case "logs":
					p := newProjectExporters(e, logsCodec, set)
					p.byProject["checkout"] = logsProject{project}
					exp = sentryLogs{p}
				default:
					p := newProjectExporters(e, metricsCodec, set)
					p.byProject["checkout"] = metricsProject{project}
					exp = sentryMetrics{p}
				}
				ctx, cancel := tt.ctx()
				defer cancel()
				require.NoError(t, exp.Shutdown(ctx))
				require.Len(t, fake.graces, 1)
				assert.Equal(t, 1, gracesAtInnerShutdown, "the core was told before the project's exporter drained its queue")
				tt.wantGrace(t, fake.graces[0])
			})
		}
	}
}

// shutdownRecorder stands for exporterhelper's exporter of a project, of every signal.
type shutdownRecorder struct {
	component.StartFunc
	component.ShutdownFunc
}

func (shutdownRecorder) Capabilities() consumer.Capabilities                { return consumer.Capabilities{} }
func (shutdownRecorder) ConsumeTraces(context.Context, ptrace.Traces) error { return nil }
func (shutdownRecorder) ConsumeLogs(context.Context, plog.Logs) error       { return nil }
func (shutdownRecorder) ConsumeMetrics(context.Context, pmetric.Metrics) error {
	return nil
}

// Against a Sentry whose ingest accepts connections and never answers (the stand-in's `hang`
// rule), with the default timeout (30 s), queue and retry: each exporter's Shutdown, with
// batches in flight and queued, ends soon after shutdownGrace instead of waiting out the
// timeout of every queued batch.
func TestShutdownBoundedWhileSentryHangs(t *testing.T) {
	s := startStandin(t, "orders-service", "payments")
	s.fault(t, `{"target":"ingest","hang":true}`)
	cfg := validConfig()
	cfg.URL = s.API
	cfg.OrgSlug = s.Org
	cfg.AuthToken = configopaque.String(s.Token)
	// More batches than consumers: some wait in the queue while others are in flight.
	cfg.QueueConfig.Get().NumConsumers = 2
	ctx := context.Background()
	traces, logs := startExporters(t, cfg)
	for range 4 {
		require.NoError(t, traces.ConsumeTraces(ctx, testTraces()))
		require.NoError(t, logs.ConsumeLogs(ctx, testLogs()))
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.requestsHanging(t) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	require.GreaterOrEqual(t, s.requestsHanging(t), 2, "no export reached the hanging ingest")

	began := time.Now()
	for _, exp := range []component.Component{traces, logs} {
		require.NoError(t, exp.Shutdown(ctx))
		t.Logf("Shutdown returned after %s", time.Since(began))
	}
	// Both exporters share the core: the first Shutdown bounds the second one's exports too.
	assert.Less(t, time.Since(began), shutdownGrace+shutdownBound)
	assert.Empty(t, cores.byConfig, "the core is freed")
}
