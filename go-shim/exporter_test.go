//go:build cgo

package sentryexporter

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
	"github.com/otelcol-sentry/sentryexporter/internal/metadata"
)

// signalCase runs the same test against the traces, the logs and the metrics exporter.
type signalCase struct {
	name   string
	create func(t *testing.T, cfg *Config) component.Component
	// consume sends a batch of three items over two resources to an exporter made by create.
	consume func(ctx context.Context, exp component.Component) error
	// retried is the number of items in the data a consumererror carries, and whether it carries any.
	retried func(err error) (int, bool)
}

var signalCases = []signalCase{
	{
		name: "traces",
		create: func(t *testing.T, cfg *Config) component.Component {
			exp, err := NewFactory().CreateTraces(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
			require.NoError(t, err)
			return exp
		},
		consume: func(ctx context.Context, exp component.Component) error {
			return exp.(exporter.Traces).ConsumeTraces(ctx, testTraces())
		},
		retried: func(err error) (int, bool) {
			var failed consumererror.Traces
			if !errors.As(err, &failed) {
				return 0, false
			}
			return failed.Data().SpanCount(), true
		},
	},
	{
		name: "logs",
		create: func(t *testing.T, cfg *Config) component.Component {
			exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
			require.NoError(t, err)
			return exp
		},
		consume: func(ctx context.Context, exp component.Component) error {
			return exp.(exporter.Logs).ConsumeLogs(ctx, testLogs())
		},
		retried: func(err error) (int, bool) {
			var failed consumererror.Logs
			if !errors.As(err, &failed) {
				return 0, false
			}
			return failed.Data().LogRecordCount(), true
		},
	},
	{
		name: "metrics",
		create: func(t *testing.T, cfg *Config) component.Component {
			exp, err := NewFactory().CreateMetrics(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
			require.NoError(t, err)
			return exp
		},
		consume: func(ctx context.Context, exp component.Component) error {
			return exp.(exporter.Metrics).ConsumeMetrics(ctx, testMetrics())
		},
		retried: func(err error) (int, bool) {
			var failed consumererror.Metrics
			if !errors.As(err, &failed) {
				return 0, false
			}
			return failed.Data().DataPointCount(), true
		},
	},
}

// directConfig sends every push straight to the core: no queue and no retries, so the test
// sees the error exporterhelper would act on.
func directConfig() *Config {
	cfg := validConfig()
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	cfg.RetryConfig.Enabled = false
	cfg.TimeoutConfig.Timeout = 20 * time.Second
	return cfg
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	host := componenttest.NewNopHost()
	tests := []struct {
		name string
		// cfg: the rows calling Shutdown twice use directConfig, as exporterhelper's own retry
		// sender panics on a second Shutdown (the collector never calls it twice).
		cfg func() *Config
		run func(t *testing.T, exp component.Component)
	}{
		{name: "start and shutdown with queue and retry", cfg: validConfig, run: func(t *testing.T, exp component.Component) {
			require.NoError(t, exp.Start(ctx, host))
			require.NoError(t, exp.Shutdown(ctx))
		}},
		{name: "start twice and shutdown twice", cfg: directConfig, run: func(t *testing.T, exp component.Component) {
			require.NoError(t, exp.Start(ctx, host))
			require.NoError(t, exp.Start(ctx, host))
			require.NoError(t, exp.Shutdown(ctx))
			require.NoError(t, exp.Shutdown(ctx))
		}},
		{name: "shutdown without start", cfg: validConfig, run: func(t *testing.T, exp component.Component) {
			require.NoError(t, exp.Shutdown(ctx))
		}},
		{name: "shutdown twice without start", cfg: directConfig, run: func(t *testing.T, exp component.Component) {
			require.NoError(t, exp.Shutdown(ctx))
			require.NoError(t, exp.Shutdown(ctx))
		}},
	}
	for _, sc := range signalCases {
		for _, tt := range tests {
			t.Run(sc.name+"/"+tt.name, func(t *testing.T) {
				tt.run(t, sc.create(t, tt.cfg()))
				assert.Empty(t, cores.byConfig, "the core is freed")
			})
		}
	}
}

// The exporter shut down first must not take the core away from the other one, which may
// still be draining its queue.
func TestSharedCoreOutlivesFirstShutdown(t *testing.T) {
	ctx := context.Background()
	host := componenttest.NewNopHost()
	cfg := directConfig()
	traces := signalCases[0].create(t, cfg)
	logs := signalCases[1].create(t, cfg)
	require.NoError(t, traces.Start(ctx, host))
	require.NoError(t, logs.Start(ctx, host))

	require.NoError(t, traces.Shutdown(ctx))
	require.Len(t, cores.byConfig, 1)
	err := signalCases[1].consume(ctx, logs)
	assert.NotErrorIs(t, err, ffi.ErrShutDown, "the logs exporter still has the core")
	n, ok := signalCases[1].retried(err)
	assert.True(t, ok, "unreachable Sentry: the logs come back to be retried, got %v", err)
	assert.Equal(t, 3, n)

	require.NoError(t, logs.Shutdown(ctx))
	assert.Empty(t, cores.byConfig)
}

// Against the real core: nothing listens on 127.0.0.1:1, so the whole batch comes back as
// retryable, carrying all of its items.
func TestPushToUnreachableSentryIsRetryable(t *testing.T) {
	ctx := context.Background()
	for _, sc := range signalCases {
		t.Run(sc.name, func(t *testing.T) {
			exp := sc.create(t, directConfig())
			require.NoError(t, exp.Start(ctx, componenttest.NewNopHost()))
			defer func() { require.NoError(t, exp.Shutdown(ctx)) }()

			err := sc.consume(ctx, exp)
			require.Error(t, err)
			assert.False(t, consumererror.IsPermanent(err), "retryable: %v", err)
			n, ok := sc.retried(err)
			require.True(t, ok, "the error carries the data to retry: %v", err)
			assert.Equal(t, 3, n)
			assert.NotContains(t, err.Error(), "sntrys_secret_token")
		})
	}
}

// The core's log lines reach the exporter's zap logger, and none holds the auth token.
func TestCoreLogsReachZap(t *testing.T) {
	ctx := context.Background()
	logs, observed := observer.New(zapcore.DebugLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(logs)
	exp, err := NewFactory().CreateTraces(ctx, set, directConfig())
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, componenttest.NewNopHost()))
	require.Error(t, exp.ConsumeTraces(ctx, testTraces()))
	require.NoError(t, exp.Shutdown(ctx))

	fromCore := observed.FilterMessageSnippet("orders-service")
	assert.NotZero(t, fromCore.Len(), "the core logged the failed lookup: %v", observed.All())
	for _, entry := range observed.All() {
		assert.NotContains(t, entry.Message, "sntrys_secret_token")
	}
}

// fakeCore returns a canned routing and outcome, to test how outcomes become errors without
// Sentry.
type fakeCore struct {
	routing ffi.Routing
	outcome ffi.Outcome
	err     error

	mu sync.Mutex
	// timeout is what the last Export was given.
	timeout time.Duration
	// exported are the requests of every Export.
	exported [][]byte
	// graces are what each BeginShutdown was given.
	graces []time.Duration
}

func (f *fakeCore) Start() error    { return nil }
func (f *fakeCore) Shutdown() error { return nil }
func (f *fakeCore) Free()           {}
func (f *fakeCore) BeginShutdown(grace time.Duration) error {
	f.graces = append(f.graces, grace)
	return nil
}
func (f *fakeCore) Telemetry() ([]byte, error) {
	return []byte(`{"metrics":[]}`), nil
}
func (f *fakeCore) Health() (string, error)                                 { return "", nil }
func (f *fakeCore) Route(ffi.Signal, []byte, []uint64) (ffi.Routing, error) { return f.routing, nil }
func (f *fakeCore) RestoreQueues(slugs []string) ([]string, error)          { return slugs, nil }
func (f *fakeCore) Export(_ ffi.Signal, req []byte, timeout time.Duration) (ffi.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.timeout = timeout
	f.exported = append(f.exported, req)
	return f.outcome, f.err
}

func TestOutcomeToError(t *testing.T) {
	oneSpan := ptrace.NewTraces()
	oneSpan.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("retry me")
	retryTraces, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(oneSpan)
	require.NoError(t, err)

	tests := []struct {
		name      string
		outcome   ffi.Outcome
		exportErr error
		// wantErr false: push returns nil.
		wantErr       bool
		wantPermanent bool
		wantRetried   int // spans carried by the error, -1: no data carried
		wantThrottle  string
		// wantMessage is part of the error's text, when not empty.
		wantMessage string
	}{
		{name: "all sent", outcome: ffi.Outcome{ItemsSent: 3}},
		{name: "nothing in the batch", outcome: ffi.Outcome{}},
		// Dropped items must be counted as failed by exporterhelper, never as sent.
		{
			name:    "some dropped, nothing to retry",
			outcome: ffi.Outcome{ItemsSent: 2, ItemsDropped: 1, Message: "1 span dropped: invalid_slug"},
			wantErr: true, wantPermanent: true, wantRetried: -1, wantMessage: "1 span dropped: invalid_slug",
		},
		{
			name:    "all dropped",
			outcome: ffi.Outcome{ItemsDropped: 3, Message: "project not found: ghost"},
			wantErr: true, wantPermanent: true, wantRetried: -1, wantMessage: "project not found: ghost",
		},
		{
			name:    "dropped without a message",
			outcome: ffi.Outcome{ItemsDropped: 3},
			wantErr: true, wantPermanent: true, wantRetried: -1, wantMessage: "3 traces items dropped",
		},
		// The retryable part must not be lost: not permanent, carrying only that part.
		{
			name:    "dropped and retryable",
			outcome: ffi.Outcome{ItemsSent: 1, ItemsDropped: 1, ItemsRetryable: 1, RetryRequest: retryTraces, Message: "project_not_found; project api: 503"},
			wantErr: true, wantRetried: 1, wantMessage: "project api: 503",
		},
		{
			name:    "dropped and rate limited",
			outcome: ffi.Outcome{ItemsDropped: 2, ItemsRetryable: 1, RetryAfterMillis: 600_000, RetryRequest: retryTraces, Message: "rate limited"},
			wantErr: true, wantRetried: 1, wantThrottle: "Throttle (10m0s)",
		},
		{
			name:    "retry without delay",
			outcome: ffi.Outcome{ItemsSent: 2, ItemsRetryable: 1, RetryRequest: retryTraces, Message: "project api: 503"},
			wantErr: true, wantRetried: 1,
		},
		{
			name:    "retry after a rate limit",
			outcome: ffi.Outcome{ItemsRetryable: 1, RetryAfterMillis: 2500, RetryRequest: retryTraces, Message: "rate limited"},
			wantErr: true, wantRetried: 1, wantThrottle: "Throttle (2.5s)",
		},
		{
			name:    "retry without a message",
			outcome: ffi.Outcome{ItemsRetryable: 1, RetryRequest: retryTraces},
			wantErr: true, wantRetried: 1,
		},
		{
			name:    "unreadable retry request",
			outcome: ffi.Outcome{ItemsRetryable: 1, RetryRequest: []byte{0xff, 0xff, 0xff}},
			wantErr: true, wantRetried: -1,
		},
		{name: "request the core cannot read", exportErr: ffi.ErrInvalidRequest, wantErr: true, wantPermanent: true, wantRetried: -1},
		// The batch waits in its queue, and is tried again a second later.
		{name: "core memory full", exportErr: ffi.ErrMemoryFull, wantErr: true, wantRetried: -1, wantMessage: "Throttle (1s)"},
		{name: "core shut down", exportErr: ffi.ErrShutDown, wantErr: true, wantRetried: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &sentryExporter{
				shared: &sharedCore{core: &fakeCore{outcome: tt.outcome, err: tt.exportErr}},
				logger: zap.NewNop(),
			}
			err := push(context.Background(), e, tracesCodec, testTraces())
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			assertCarried(t, err, tt.wantPermanent, tt.wantRetried)
			if tt.wantMessage != "" {
				assert.Contains(t, err.Error(), tt.wantMessage)
			}
			if tt.wantRetried < 0 {
				return
			}
			if tt.wantThrottle != "" {
				assert.Contains(t, err.Error(), tt.wantThrottle)
			} else {
				assert.NotContains(t, err.Error(), "Throttle")
			}
		})
	}
}

func TestTimeoutFromContext(t *testing.T) {
	fake := &fakeCore{}
	e := &sentryExporter{shared: &sharedCore{core: fake}, logger: zap.NewNop()}

	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		wantErr error
		check   func(t *testing.T, got time.Duration)
	}{
		{
			name: "no deadline: no timeout",
			ctx:  func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			check: func(t *testing.T, got time.Duration) {
				assert.Equal(t, time.Duration(0), got)
			},
		},
		{
			name: "deadline: the time left",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 10*time.Second)
			},
			check: func(t *testing.T, got time.Duration) {
				assert.Greater(t, got, 9*time.Second)
				assert.LessOrEqual(t, got, 10*time.Second)
			},
		},
		{
			name: "deadline passed: not sent",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			},
			wantErr: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			fake.timeout = -1
			err := push(ctx, e, logsCodec, testLogs())
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.Equal(t, time.Duration(-1), fake.timeout, "the core was not called")
				return
			}
			require.NoError(t, err)
			tt.check(t, fake.timeout)
		})
	}
}

// testTraces is three spans over two resources of two services.
func testTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	for i, service := range []string{"orders-service", "payments"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for j := 0; j <= i; j++ {
			span := spans.AppendEmpty()
			span.SetName("op")
			span.SetTraceID([16]byte{1, byte(i), byte(j)})
			span.SetSpanID([8]byte{2, byte(i), byte(j)})
		}
	}
	return td
}

// testMetrics is three gauge data points over two resources of two services.
func testMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	for i, service := range []string{"orders-service", "payments"} {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("service.name", service)
		metric := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		metric.SetName("queue.depth")
		points := metric.SetEmptyGauge().DataPoints()
		for j := 0; j <= i; j++ {
			point := points.AppendEmpty()
			point.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
			point.SetIntValue(int64(j))
			point.Attributes().PutInt("queue", int64(j))
		}
	}
	return md
}

// testLogs is three log records over two resources of two services.
func testLogs() plog.Logs {
	ld := plog.NewLogs()
	for i, service := range []string{"orders-service", "payments"} {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", service)
		records := rl.ScopeLogs().AppendEmpty().LogRecords()
		for j := 0; j <= i; j++ {
			records.AppendEmpty().Body().SetStr("hello")
		}
	}
	return ld
}

// Each project's exporter gets its own resources, in order; resources of no project go nowhere
// and fail nothing (the core counts them).
func TestBatchGoesToEachProjectsExporter(t *testing.T) {
	td := ptrace.NewTraces()
	for _, service := range []string{"a", "ghost", "b", "a"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName(service)
	}
	fake := &fakeCore{
		routing: ffi.Routing{
			Resources: []int{0, ffi.Unrouted, 1, 0}, Projects: []string{"a", "b"}, OwnQueue: []bool{true, true},
		},
		outcome: ffi.Outcome{ItemsSent: 1},
	}
	cfg := directConfig()
	e := &sentryExporter{cfg: cfg, shared: &sharedCore{core: fake}, logger: zap.NewNop()}
	p := newProjectExporters(e, tracesCodec, exportertest.NewNopSettings(metadata.Type))
	ctx := context.Background()
	p.host = componenttest.NewNopHost()

	// The unrouted span was counted and logged by the core; the rest of the batch was taken.
	require.NoError(t, p.consume(ctx, td))

	services := map[string][]string{}
	for _, req := range fake.exported {
		got, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(req)
		require.NoError(t, err)
		first, _ := got.ResourceSpans().At(0).Resource().Attributes().Get("service.name")
		for i := range got.ResourceSpans().Len() {
			name, _ := got.ResourceSpans().At(i).Resource().Attributes().Get("service.name")
			services[first.Str()] = append(services[first.Str()], name.Str())
		}
	}
	assert.Equal(t, map[string][]string{"a": {"a", "a"}, "b": {"b"}}, services)
	assert.Equal(t, []string{"a", "b"}, slices.Sorted(maps.Keys(p.byProject)))
	assert.Equal(t, component.MustNewIDWithName("sentry", "a"), projectID(component.MustNewID("sentry"), "a"))
	assert.Equal(t, component.MustNewIDWithName("sentry", "eu/a"), projectID(component.MustNewIDWithName("sentry", "eu"), "a"))
	assert.Equal(t, component.MustNewIDWithName("sentry", "eu"), projectID(component.MustNewIDWithName("sentry", "eu"), previousQueue))
	require.NoError(t, p.Shutdown(ctx))
	assert.ErrorIs(t, p.consume(ctx, td), ffi.ErrShutDown)
}

// What the sender of a batch learns from its projects' exporters.
func TestOutcomeOfProjects(t *testing.T) {
	spans := func(n int) ptrace.Traces {
		td := ptrace.NewTraces()
		spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
		for range n {
			spans.AppendEmpty()
		}
		return td
	}
	full := exporterhelper.ErrQueueIsFull
	dropped := consumererror.NewPermanent(errors.New("project ghost not found"))
	carrying := consumererror.NewTraces(errors.New("project b: 503"), spans(1))
	tests := []struct {
		name     string
		failures []error
		// wantRetried: spans carried by the error to retry; -1: none carried.
		wantRetried   int
		wantErr       bool
		wantPermanent bool
	}{
		{name: "every project took its part", failures: []error{nil, nil}, wantRetried: -1},
		{name: "one queue full: its part comes back", failures: []error{nil, full}, wantErr: true, wantRetried: 3},
		{name: "the data an error carries comes back", failures: []error{carrying, nil}, wantErr: true, wantRetried: 1},
		{name: "two parts come back as one", failures: []error{carrying, full}, wantErr: true, wantRetried: 4},
		{name: "dropped for good", failures: []error{dropped, nil}, wantErr: true, wantPermanent: true, wantRetried: -1},
		{name: "dropped beside retryable: the retryable part is kept", failures: []error{dropped, full}, wantErr: true, wantRetried: 3},
	}
	p := newProjectExporters(&sentryExporter{}, tracesCodec, exportertest.NewNopSettings(metadata.Type))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.outcome([]ptrace.Traces{spans(2), spans(3)}, tt.failures)
			if !tt.wantErr {
				require.NoError(t, err)
				return
			}
			assertCarried(t, err, tt.wantPermanent, tt.wantRetried)
		})
	}
}

// assertCarried checks that err is permanent or not, as wanted, and carries wantRetried spans
// to retry (-1: no data).
func assertCarried(t *testing.T, err error, wantPermanent bool, wantRetried int) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, wantPermanent, consumererror.IsPermanent(err))
	var failed consumererror.Traces
	if wantRetried < 0 {
		assert.False(t, errors.As(err, &failed), "no data carried: %v", err)
		return
	}
	require.ErrorAs(t, err, &failed)
	assert.Equal(t, wantRetried, failed.Data().SpanCount())
}

// Projects without a queue of their own (not known to exist, or past max_project_queues)
// share one: their resources go to it as one batch.
func TestProjectsWithoutAQueueShareOne(t *testing.T) {
	td := ptrace.NewTraces()
	for _, service := range []string{"a", "made-up-1", "made-up-2"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", service)
		rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName(service)
	}
	fake := &fakeCore{
		routing: ffi.Routing{
			Resources: []int{0, 1, 2}, Projects: []string{"a", "made-up-1", "made-up-2"},
			OwnQueue: []bool{true, false, false},
		},
		outcome: ffi.Outcome{ItemsSent: 1},
	}
	e := &sentryExporter{cfg: directConfig(), shared: &sharedCore{core: fake}, logger: zap.NewNop()}
	p := newProjectExporters(e, tracesCodec, exportertest.NewNopSettings(metadata.Type))
	p.host = componenttest.NewNopHost()
	ctx := context.Background()
	require.NoError(t, p.consume(ctx, td))

	var batches [][]string
	for _, req := range fake.exported {
		got, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(req)
		require.NoError(t, err)
		var services []string
		for i := range got.ResourceSpans().Len() {
			name, _ := got.ResourceSpans().At(i).Resource().Attributes().Get("service.name")
			services = append(services, name.Str())
		}
		batches = append(batches, services)
	}
	assert.ElementsMatch(t, [][]string{{"a"}, {"made-up-1", "made-up-2"}}, batches)
	assert.Equal(t, []string{"(shared)", "a"}, slices.Sorted(maps.Keys(p.byProject)))
	require.NoError(t, p.Shutdown(ctx))
}

// Routing encodes a batch's resources alone: each resource's scopes are moved aside (their
// items counted) and put back unchanged, for each signal.
func TestResourcesAloneAndBack(t *testing.T) {
	td := ptrace.NewTraces()
	for i, spans := range [][]int{{2, 1}, {}, {3}} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", []string{"a", "b", "c"}[i])
		for _, n := range spans {
			ss := rs.ScopeSpans().AppendEmpty()
			for range n {
				ss.Spans().AppendEmpty().SetName("span")
			}
		}
	}
	var encoder ptrace.ProtoMarshaler
	original, err := encoder.MarshalTraces(td)
	require.NoError(t, err)
	items, putBack := tracesResources.resourcesAlone(td)
	assert.Equal(t, []uint64{3, 0, 3}, items)
	assert.Equal(t, 0, td.SpanCount(), "the scopes are aside")
	assert.Equal(t, 3, td.ResourceSpans().Len())
	putBack()
	again, err := encoder.MarshalTraces(td)
	require.NoError(t, err)
	assert.Equal(t, original, again, "the same batch, scopes in their places")

	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	items, putBack = logsResources.resourcesAlone(ld)
	assert.Equal(t, []uint64{1}, items)
	assert.Equal(t, 0, ld.LogRecordCount())
	putBack()
	assert.Equal(t, 1, ld.LogRecordCount())

	md := pmetric.NewMetrics()
	metrics := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
	metrics.AppendEmpty().SetEmptyGauge().DataPoints().AppendEmpty()
	metrics.AppendEmpty().SetEmptySum().DataPoints().AppendEmpty()
	items, putBack = metricsResources.resourcesAlone(md)
	assert.Equal(t, []uint64{2}, items, "a resource's metrics are its items")
	assert.Equal(t, 0, md.MetricCount())
	putBack()
	assert.Equal(t, 2, md.MetricCount())
}
