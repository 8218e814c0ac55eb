//go:build cgo

package sentryexporter

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
	"github.com/otelcol-sentry/sentryexporter/internal/metadata"
)

func TestQueueLedger(t *testing.T) {
	retryable := errors.New("project checkout: 503")
	permanent := consumererror.NewPermanent(errors.New("project ghost not found"))
	type push struct {
		n, left int
		err     error
		// stopping: the push returns after the exporter's Shutdown began.
		stopping bool
	}
	tests := []struct {
		name       string
		retryOff   bool
		persistent bool
		queued     []int
		refused    []int
		pushes     []push
		want       [2]int64 // dropped, kept
		wantErr    string
	}{
		{name: "all sent", queued: []int{3, 3}, pushes: []push{{n: 3}, {n: 3}}},
		{name: "dropped for good by the core: not at shutdown", queued: []int{3}, pushes: []push{{n: 3, err: permanent}}},
		{name: "refused by a full queue: never held", queued: []int{3, 3}, refused: []int{3}, pushes: []push{{n: 3}}},
		{
			name: "retried, then sent", queued: []int{3},
			pushes: []push{{n: 3, left: 2, err: retryable}, {n: 2}},
		},
		{
			name: "waiting to retry at shutdown, and never pushed", queued: []int{3, 3},
			pushes: []push{{n: 3, left: 2, err: retryable}},
			want:   [2]int64{5, 0}, wantErr: "project checkout: 503",
		},
		{
			name: "a persistent queue keeps them", persistent: true, queued: []int{3, 3},
			pushes: []push{{n: 3, left: 2, err: retryable}},
			want:   [2]int64{0, 5}, wantErr: "project checkout: 503",
		},
		{
			name: "a persistent queue sent what it held from before: at least nothing", persistent: true,
			pushes: []push{{n: 3}},
		},
		{
			name: "an error carrying no data: the whole batch is retried", queued: []int{3},
			pushes: []push{{n: 3, left: 3, err: retryable}},
			want:   [2]int64{3, 0}, wantErr: "project checkout: 503",
		},
		{
			name: "without retries, an error before shutdown is exporterhelper's drop", retryOff: true, queued: []int{3, 3},
			pushes: []push{{n: 3, left: 2, err: retryable}, {n: 3}},
		},
		{
			name: "without retries, an error at shutdown is a drop at shutdown", retryOff: true, queued: []int{3, 3},
			pushes: []push{{n: 3, left: 2, err: retryable, stopping: true}, {n: 3, left: 3, err: retryable, stopping: true}},
			want:   [2]int64{5, 0}, wantErr: "project checkout: 503",
		},
		{
			name: "without retries, a persistent queue removes a batch cut off", retryOff: true, persistent: true, queued: []int{3, 3},
			pushes: []push{{n: 3, left: 2, err: retryable, stopping: true}},
			want:   [2]int64{2, 3}, wantErr: "project checkout: 503",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &queueLedger{retryOff: tt.retryOff}
			for _, n := range tt.queued {
				l.queued(n)
			}
			for _, n := range tt.refused {
				l.refused(n)
			}
			for _, p := range tt.pushes {
				l.stopping.Store(p.stopping)
				l.pushed(p.n, p.left, p.err)
			}
			dropped, kept, lastErr := l.settle(tt.persistent)
			assert.Equal(t, tt.want, [2]int64{dropped, kept})
			if tt.want != [2]int64{} {
				assert.Equal(t, tt.wantErr, lastErr)
			}
		})
	}
}

// leftoverCore answers every export with its outcome; with block, an export waits until the
// exporter begins to shut down.
type leftoverCore struct {
	fakeCore
	outcome func(req []byte) ffi.Outcome
	block   bool

	once  sync.Once
	begun chan struct{}
}

func (c *leftoverCore) BeginShutdown(time.Duration) error {
	c.once.Do(func() { close(c.begun) })
	return nil
}

func (c *leftoverCore) Export(_ ffi.Signal, req []byte, _ time.Duration) (ffi.Outcome, error) {
	if c.block {
		<-c.begun
	}
	return c.outcome(req), nil
}

// retryAll hands every span back to retry; retryAllBut1 all but the first one, sent.
func retryAll(req []byte) ffi.Outcome {
	return ffi.Outcome{ItemsRetryable: 3, RetryRequest: req, Message: "project checkout: 503"}
}

func retryAllBut1(req []byte) ffi.Outcome {
	td, _ := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(req)
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool { return rs.ScopeSpans().At(0).Spans().Len() == 1 })
	retry, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	return ffi.Outcome{ItemsSent: 1, ItemsRetryable: uint64(td.SpanCount()), RetryRequest: retry, Message: "project checkout: 503"}
}

// A project's exporterhelper exporter with a queue in memory, its batches not sent when the
// exporter shuts down: each item is counted (items_dropped{reason="shutdown"}) and logged with
// its number in one line, whether its batch waited out a backoff (never pushed again), was cut
// off in flight, or was pushed once more by the queue's drain.
func TestItemsLeftInTheQueueAtShutdownAreCountedAndLogged(t *testing.T) {
	tests := []struct {
		name    string
		outcome func([]byte) ffi.Outcome
		block   bool
		config  func(*Config)
		batches int
		want    int64
	}{
		{
			name: "waiting out a backoff", outcome: retryAll, batches: 4, want: 12,
			config: func(cfg *Config) { cfg.RetryConfig.InitialInterval = time.Hour },
		},
		{
			name: "partly sent, the rest waiting out a backoff", outcome: retryAllBut1, batches: 4, want: 8,
			config: func(cfg *Config) { cfg.RetryConfig.InitialInterval = time.Hour },
		},
		{
			name: "without retries: cut off in flight, and drained", outcome: retryAll, block: true, batches: 3, want: 9,
			config: func(cfg *Config) {
				cfg.RetryConfig.Enabled = false
				cfg.QueueConfig.Get().NumConsumers = 1
			},
		},
		{
			name: "all sent", outcome: func([]byte) ffi.Outcome { return ffi.Outcome{ItemsSent: 3} }, batches: 4, want: 0,
			config: func(*Config) {},
		},
		{
			name: "wait_for_result: each sender learns its batch's fate", outcome: retryAll, batches: 2, want: 0,
			config: func(cfg *Config) {
				cfg.RetryConfig.Enabled = false
				cfg.QueueConfig.Get().WaitForResult = true
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core := &leftoverCore{outcome: tt.outcome, block: tt.block, begun: make(chan struct{})}
			core.routing = ffi.Routing{Resources: []int{0, 0}, Projects: []string{"checkout"}, OwnQueue: []bool{true}}
			cfg := validConfig()
			tt.config(cfg)
			shared := &sharedCore{core: core, shim: &shimCounters{}, refs: 1}
			e := &sentryExporter{cfg: cfg, shared: shared, logger: zap.NewNop()}
			logs, observed := observer.New(zapcore.InfoLevel)
			set := exportertest.NewNopSettings(metadata.Type)
			set.Logger = zap.New(logs)
			p := newProjectExporters(e, tracesCodec, set)
			ctx := context.Background()
			require.NoError(t, p.Start(ctx, componenttest.NewNopHost()))
			for range tt.batches {
				err := p.consume(ctx, testTraces())
				if cfg.QueueConfig.Get().WaitForResult {
					require.Error(t, err, "the sender learns the batch was not sent")
				} else {
					require.NoError(t, err)
				}
			}
			// Let the consumers take their batches.
			time.Sleep(100 * time.Millisecond)
			require.NoError(t, p.Shutdown(ctx))

			assert.Equal(t, tt.want, shared.shim.shutdownDrops[ffi.SignalTraces].Load())
			lines := observed.FilterMessageSnippet("dropped at shutdown").All()
			if tt.want == 0 {
				assert.Empty(t, lines)
				return
			}
			require.Len(t, lines, 1, "one line for the project: %v", observed.All())
			assert.Equal(t, zapcore.WarnLevel, lines[0].Level)
			assert.Contains(t, lines[0].Message, "of project checkout dropped at shutdown: ")
			assert.Contains(t, lines[0].Message, "last error: project checkout: 503")
			assert.Regexp(t, `^\d+ spans `, lines[0].Message)
			assert.Equal(t, tt.want, lines[0].ContextMap()["dropped_items"])
			assert.Equal(t, "shutdown", lines[0].ContextMap()["reason"])
		})
	}
}

func TestItemsWord(t *testing.T) {
	assert.Equal(t, "span", itemsWord(ffi.SignalTraces, 1))
	assert.Equal(t, "spans", itemsWord(ffi.SignalTraces, 2))
	assert.Equal(t, "log records", itemsWord(ffi.SignalLogs, 0))
	assert.Equal(t, "metric data points", itemsWord(ffi.SignalMetrics, 3))
}

// The shim's drops at shutdown are points of the core's items_dropped, added to a point of
// the same attributes; and once the core is released, its last counters stay observed, so
// the collector's last export of its telemetry holds them.
func TestShutdownDropsArePublishedAndOutliveTheCore(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	core := &telemetryCore{snapshot: `{"metrics":[{"name":"items_dropped","kind":"counter","points":[
		{"attributes":{"signal":"logs","reason":"shutdown"},"value":2},
		{"attributes":{"signal":"traces","reason":"too_large"},"value":1}]}]}`}
	shared := &sharedCore{core: core, shim: &shimCounters{}, refs: 1}
	var err error
	shared.metrics, err = registerCoreMetrics(provider, component.MustNewID("sentry"), shared.telemetry, shared.shim)
	require.NoError(t, err)
	shared.shim.droppedAtShutdown(ffi.SignalTraces, 300)
	shared.shim.droppedAtShutdown(ffi.SignalLogs, 5)

	points := func() map[string]int64 {
		dropped, ok := collect(t, reader)["otelcol_exporter_sentry_items_dropped"].(metricdata.Sum[int64])
		require.True(t, ok)
		got := map[string]int64{}
		for _, p := range dropped.DataPoints {
			signal, _ := p.Attributes.Value(attribute.Key("signal"))
			reason, _ := p.Attributes.Value(attribute.Key("reason"))
			got[signal.AsString()+"/"+reason.AsString()] = p.Value
		}
		return got
	}
	want := map[string]int64{"traces/shutdown": 300, "logs/shutdown": 7, "metrics/shutdown": 0, "traces/too_large": 1}
	assert.Equal(t, want, points())

	// The core's last counters, taken at its release, stay; the core is not read again.
	core.snapshot = `{"metrics":[{"name":"items_dropped","kind":"counter","points":[
		{"attributes":{"signal":"logs","reason":"shutdown"},"value":4}]}]}`
	require.NoError(t, cores.release(&Config{}, shared))
	core.snapshot = "freed"
	shared.shim.droppedAtShutdown(ffi.SignalMetrics, 1)
	assert.Equal(t, map[string]int64{"traces/shutdown": 300, "logs/shutdown": 9, "metrics/shutdown": 1}, points())
}

// telemetryCore answers Telemetry with its snapshot.
type telemetryCore struct {
	fakeCore
	snapshot string
}

func (c *telemetryCore) Telemetry() ([]byte, error) { return []byte(c.snapshot), nil }
