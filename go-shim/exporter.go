package sentryexporter // import "github.com/otelcol-sentry/sentryexporter"

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	pdatareq "go.opentelemetry.io/collector/pdata/xpdata/request"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
)

// signalKey is the attribute the collector adds to the logger of each exporter to name its
// signal (go.opentelemetry.io/collector/internal/telemetry.SignalKey).
const signalKey = "otelcol.signal"

// attributeDropper is the zap core of the collector's component loggers
// (service/internal/componentattribute): it can give back the core without some of the
// attributes the collector injected. The collector's own shared components do this through
// internal/telemetry.DropInjectedAttributes, which is internal to the collector's module; this
// is the same interface, matched by its method.
type attributeDropper interface {
	DropInjectedAttributes(droppedAttrs ...string) zapcore.Core
}

// coreLogger is the logger of the shared core: the component's, without otelcol.signal. The
// core serves the traces, logs and metrics exporters alike, so its lines must not carry the
// signal of whichever exporter happened to create it. Other zap cores (tests, other hosts) are
// kept as they are.
func coreLogger(logger *zap.Logger) *zap.Logger {
	return logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		if d, ok := c.(attributeDropper); ok {
			return d.DropInjectedAttributes(signalKey)
		}
		return c
	}))
}

// The traces, logs and metrics exporters created from one *Config share one core: one endpoint
// cache, one set of rate limits, one runtime. Each exporter holds a reference; the core is
// started by the first Start and shut down and freed when the last reference is released, so
// that an exporter shut down after another can still drain its queue through the core.

// coreAPI is what the exporter uses of *ffi.Core; the tests of the outcome mapping replace it.
type coreAPI interface {
	Start() error
	Route(signal ffi.Signal, req []byte, items []uint64) (ffi.Routing, error)
	RestoreQueues(slugs []string) ([]string, error)
	Export(signal ffi.Signal, req []byte, timeout time.Duration) (ffi.Outcome, error)
	Telemetry() ([]byte, error)
	Health() (string, error)
	BeginShutdown(grace time.Duration) error
	Shutdown() error
	Free()
}

// sharedCore is the core of one *Config and the number of exporters using it.
type sharedCore struct {
	core coreAPI
	// metrics publishes the core's counters, and shim's, through the collector's MeterProvider.
	metrics metric.Registration
	// shim counts what the core cannot see (items the collector's queues lost at shutdown, or
	// that a persistent queue sends again after a restart).
	shim *shimCounters

	// final is the core's last telemetry, taken when the last exporter released it.
	finalMu sync.Mutex
	final   []byte

	startOnce sync.Once
	startErr  error

	// refs is guarded by coreRegistry.mu.
	refs int
}

// telemetry is the core's counters: read from the core while it lives, then the last ones it
// reported (see release).
func (s *sharedCore) telemetry() ([]byte, error) {
	s.finalMu.Lock()
	final := s.final
	s.finalMu.Unlock()
	if final != nil {
		return final, nil
	}
	return s.core.Telemetry()
}

// start starts the core once; later calls return the first result.
func (s *sharedCore) start() error {
	s.startOnce.Do(func() { s.startErr = s.core.Start() })
	return s.startErr
}

// coreRegistry maps each *Config with live exporters to its core.
type coreRegistry struct {
	mu       sync.Mutex
	byConfig map[*Config]*sharedCore
}

var cores = &coreRegistry{byConfig: map[*Config]*sharedCore{}}

// acquire returns the core of cfg, creating it on first use, and takes a reference.
func (r *coreRegistry) acquire(cfg *Config, set exporter.Settings) (*sharedCore, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.byConfig[cfg]; ok {
		s.refs++
		return s, nil
	}
	configJSON, err := cfg.coreJSON()
	if err != nil {
		return nil, err
	}
	core, err := ffi.New(configJSON, coreLogger(set.Logger))
	if err != nil {
		return nil, fmt.Errorf("creating the sentry exporter: %w", err)
	}
	s := &sharedCore{core: core, shim: &shimCounters{}, refs: 1}
	s.metrics, err = registerCoreMetrics(set.MeterProvider, set.ID, s.telemetry, s.shim)
	if err != nil {
		core.Free()
		return nil, fmt.Errorf("registering the sentry exporter's metrics: %w", err)
	}
	r.byConfig[cfg] = s
	return s, nil
}

// release drops a reference; the last one shuts the core down (bounded by the core) and
// frees it. The metrics keep the core's last counters (and the shim's, which go on counting
// until the last exporter's queues are shut down, before this), observed until the collector
// shuts its telemetry down: its last export then holds what was counted at shutdown (items
// dropped at shutdown, error events dropped at shutdown). The collector makes a MeterProvider
// for each run of its pipelines (a new one on a config reload), which ends with it.
func (r *coreRegistry) release(cfg *Config, s *sharedCore) error {
	r.mu.Lock()
	s.refs--
	last := s.refs == 0
	if last && r.byConfig[cfg] == s {
		delete(r.byConfig, cfg)
	}
	r.mu.Unlock()
	if !last {
		return nil
	}
	err := s.core.Shutdown()
	// Shut down but not freed, the core still answers its telemetry.
	if final, terr := s.core.Telemetry(); terr == nil {
		s.finalMu.Lock()
		s.final = final
		s.finalMu.Unlock()
	} else {
		err = errors.Join(err, s.metrics.Unregister())
	}
	// Free waits for exports still in the core; after it they get ErrShutDown.
	s.core.Free()
	return err
}

// sentryExporter is one exporter (traces, logs or metrics) and its reference to the shared core.
type sentryExporter struct {
	cfg    *Config
	shared *sharedCore
	logger *zap.Logger

	released    atomic.Bool
	releaseOnce sync.Once
	releaseErr  error
	// status reports the core's health as this component's status while started.
	status *statusWatcher
}

func newSentryExporter(cfg *Config, set exporter.Settings) (*sentryExporter, error) {
	shared, err := cores.acquire(cfg, set)
	if err != nil {
		return nil, err
	}
	return &sentryExporter{cfg: cfg, shared: shared, logger: set.Logger}, nil
}

func (e *sentryExporter) start(_ context.Context, host component.Host) error {
	if e.released.Load() {
		return ffi.ErrShutDown
	}
	if err := e.shared.start(); err != nil {
		return err
	}
	e.status = watchStatus(host, e.shared.core.Health, statusInterval)
	return nil
}

// shutdown releases this exporter's reference once; Shutdown twice, or without Start, is safe.
func (e *sentryExporter) shutdown(context.Context) error {
	e.releaseOnce.Do(func() {
		e.released.Store(true)
		if e.status != nil {
			e.status.close()
		}
		e.releaseErr = cores.release(e.cfg, e.shared)
	})
	return e.releaseErr
}

// shutdownGrace is how long exports in flight, and those that drain the queue after them, may
// still take once the collector stops. exporterhelper's Shutdown first stops retries, then
// drains the queue with one push per queued batch, each allowed the whole `timeout`, and only
// then calls our shutdown: against a Sentry that accepts connections and never answers, that
// took minutes. 3 s lets a request to a Sentry that answers finish (they take well under a
// second), and keeps the whole shutdown well inside the 10 s that podman stop and most
// orchestrators wait before they kill (Kubernetes waits 30 s), including the core's own
// bounded shutdown after it. What is cut off comes back as retryable; with retry_on_failure on,
// exporterhelper's retry sender, already stopped, turns that into its shutdown error, and a
// persistent queue then keeps the batch for the next start (persistentQueue.onDone).
const shutdownGrace = 3 * time.Second

// beginShutdown tells the shared core that the collector is stopping, before exporterhelper
// drains the queue: every export of this core, those of the other signals' exporters too, ends
// within shutdownGrace (or ctx's deadline, when sooner). Calling it again never extends that.
func (e *sentryExporter) beginShutdown(ctx context.Context) error {
	grace := shutdownGrace
	if deadline, ok := ctx.Deadline(); ok {
		grace = max(0, min(grace, time.Until(deadline)))
	}
	if err := e.shared.core.BeginShutdown(grace); err != nil {
		return fmt.Errorf("starting the sentry exporter's shutdown: %w", err)
	}
	return nil
}

// signalCodec is what differs between the signals on the way through the core.
type signalCodec[T any] struct {
	signal    ffi.Signal
	marshal   func(T) ([]byte, error)
	unmarshal func([]byte) (T, error)
	// withData wraps an error with the data to retry (consumererror.NewTraces / NewLogs /
	// NewMetrics); carried is the data an error wraps, when it does.
	withData func(error, T) error
	carried  func(error) (T, bool)
	// items counts the items of data: spans, log records, metric data points (as
	// exporterhelper counts them).
	items func(T) int
	// sentryItems counts them as the core does (items_sent, items_maybe_delivered): spans,
	// log records, metrics.
	sentryItems func(T) int
	// unmarshalQueued decodes a request as exporterhelper's persistent queue stores it
	// (pdata/xpdata/request, else bare OTLP protobuf: queuebatch's tracesEncoding, ...).
	unmarshalQueued func([]byte) (T, error)
	// parts splits a batch by project and merges batches.
	parts batchParts[T]
	// inOrder: a project's batches must reach the core in order, one at a time (metrics: a
	// series' state moves on only for what Sentry accepted, so a batch retried after a later
	// one was accepted would be stale and its points lost).
	inOrder bool
	// newProject makes the exporterhelper exporter of one project.
	newProject func(context.Context, exporter.Settings, *Config, func(context.Context, T) error, ...exporterhelper.Option) (projectExporter[T], error)
}

var (
	tracesResources = resourcesOf[ptrace.Traces, ptrace.ResourceSpansSlice, ptrace.ResourceSpans]{
		newData: ptrace.NewTraces, slice: ptrace.Traces.ResourceSpans,
		aside: scopesAside(ptrace.ResourceSpans.ScopeSpans, ptrace.NewScopeSpansSlice,
			func(s ptrace.ScopeSpans) int { return s.Spans().Len() }),
	}
	logsResources = resourcesOf[plog.Logs, plog.ResourceLogsSlice, plog.ResourceLogs]{
		newData: plog.NewLogs, slice: plog.Logs.ResourceLogs,
		aside: scopesAside(plog.ResourceLogs.ScopeLogs, plog.NewScopeLogsSlice,
			func(s plog.ScopeLogs) int { return s.LogRecords().Len() }),
	}
	// The core counts a resource's metrics as its items (sentryItems).
	metricsResources = resourcesOf[pmetric.Metrics, pmetric.ResourceMetricsSlice, pmetric.ResourceMetrics]{
		newData: pmetric.NewMetrics, slice: pmetric.Metrics.ResourceMetrics,
		aside: scopesAside(pmetric.ResourceMetrics.ScopeMetrics, pmetric.NewScopeMetricsSlice,
			func(s pmetric.ScopeMetrics) int { return s.Metrics().Len() }),
	}

	tracesCodec = signalCodec[ptrace.Traces]{
		signal:    ffi.SignalTraces,
		marshal:   (&ptrace.ProtoMarshaler{}).MarshalTraces,
		unmarshal: (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces,
		withData:  consumererror.NewTraces,
		carried:   carriedBy[consumererror.Traces, ptrace.Traces],
		items:     ptrace.Traces.SpanCount,
		parts:     tracesResources,

		sentryItems: ptrace.Traces.SpanCount,
		unmarshalQueued: func(b []byte) (ptrace.Traces, error) {
			_, td, err := pdatareq.UnmarshalTraces(b)
			if errors.Is(err, pdatareq.ErrInvalidFormat) {
				return (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
			}
			return td, err
		},
		newProject: func(ctx context.Context, set exporter.Settings, cfg *Config, push func(context.Context, ptrace.Traces) error, opts ...exporterhelper.Option) (projectExporter[ptrace.Traces], error) {
			exp, err := exporterhelper.NewTraces(ctx, set, cfg, push, opts...)
			return tracesProject{exp}, err
		},
	}
	logsCodec = signalCodec[plog.Logs]{
		signal:    ffi.SignalLogs,
		marshal:   (&plog.ProtoMarshaler{}).MarshalLogs,
		unmarshal: (&plog.ProtoUnmarshaler{}).UnmarshalLogs,
		withData:  consumererror.NewLogs,
		carried:   carriedBy[consumererror.Logs, plog.Logs],
		items:     plog.Logs.LogRecordCount,
		parts:     logsResources,

		sentryItems: plog.Logs.LogRecordCount,
		unmarshalQueued: func(b []byte) (plog.Logs, error) {
			_, ld, err := pdatareq.UnmarshalLogs(b)
			if errors.Is(err, pdatareq.ErrInvalidFormat) {
				return (&plog.ProtoUnmarshaler{}).UnmarshalLogs(b)
			}
			return ld, err
		},
		newProject: func(ctx context.Context, set exporter.Settings, cfg *Config, push func(context.Context, plog.Logs) error, opts ...exporterhelper.Option) (projectExporter[plog.Logs], error) {
			exp, err := exporterhelper.NewLogs(ctx, set, cfg, push, opts...)
			return logsProject{exp}, err
		},
	}
	metricsCodec = signalCodec[pmetric.Metrics]{
		signal:    ffi.SignalMetrics,
		marshal:   (&pmetric.ProtoMarshaler{}).MarshalMetrics,
		unmarshal: (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics,
		withData:  consumererror.NewMetrics,
		carried:   carriedBy[consumererror.Metrics, pmetric.Metrics],
		items:     pmetric.Metrics.DataPointCount,
		inOrder:   true,
		parts:     metricsResources,

		sentryItems: pmetric.Metrics.MetricCount,
		unmarshalQueued: func(b []byte) (pmetric.Metrics, error) {
			_, md, err := pdatareq.UnmarshalMetrics(b)
			if errors.Is(err, pdatareq.ErrInvalidFormat) {
				return (&pmetric.ProtoUnmarshaler{}).UnmarshalMetrics(b)
			}
			return md, err
		},
		newProject: func(ctx context.Context, set exporter.Settings, cfg *Config, push func(context.Context, pmetric.Metrics) error, opts ...exporterhelper.Option) (projectExporter[pmetric.Metrics], error) {
			exp, err := exporterhelper.NewMetrics(ctx, set, cfg, push, opts...)
			return metricsProject{exp}, err
		},
	}
)

// carriedBy is the data that an error E (consumererror.Traces, Logs or Metrics) in err's
// chain carries.
func carriedBy[E interface {
	error
	Data() T
}, T any](err error) (T, bool) {
	var failed E
	ok := errors.As(err, &failed)
	return failed.Data(), ok
}

// tracesProject, logsProject and metricsProject are projectExporter for exporterhelper's
// exporters.
type tracesProject struct{ exporter.Traces }

func (p tracesProject) consume(ctx context.Context, td ptrace.Traces) error {
	return p.ConsumeTraces(ctx, td)
}

type logsProject struct{ exporter.Logs }

func (p logsProject) consume(ctx context.Context, ld plog.Logs) error { return p.ConsumeLogs(ctx, ld) }

type metricsProject struct{ exporter.Metrics }

func (p metricsProject) consume(ctx context.Context, md pmetric.Metrics) error {
	return p.ConsumeMetrics(ctx, md)
}

// sentryTraces, sentryLogs and sentryMetrics are the exporters the collector sees.
type sentryTraces struct {
	*projectExporters[ptrace.Traces]
}

func (s sentryTraces) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return s.consume(ctx, td)
}

type sentryLogs struct{ *projectExporters[plog.Logs] }

func (s sentryLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error { return s.consume(ctx, ld) }

type sentryMetrics struct {
	*projectExporters[pmetric.Metrics]
}

func (s sentryMetrics) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	return s.consume(ctx, md)
}

// push hands one batch to the core and turns its outcome into what exporterhelper expects:
//
//   - everything sent: nil.
//   - something dropped for good, nothing to retry: a permanent error with the core's message,
//     so that exporterhelper counts the batch as failed (otelcol_exporter_send_failed_*), never
//     as sent, and does not retry it.
//   - something to retry: an error carrying only the data to retry (consumererror.NewTraces /
//     NewLogs / NewMetrics), throttled when the core knows a delay; never permanent, so nothing
//     retryable is lost.
//
// exporterhelper counts whole batches, not items: its obsreport sender, outside the retry
// sender, counts every item of the batch as sent when the last attempt returns nil and as
// failed otherwise. So counts are exact for batches that went one way; for the others:
//   - sent and dropped items, nothing to retry: the sent ones are counted as failed too.
//   - dropped and retryable items: the batch's count follows the retry of the retryable part
//     (the retry attempt only sees that part and cannot tell that the batch lost items
//     earlier). If it is sent later, the dropped items are counted as sent; if retries run
//     out, as failed. A permanent error here would lose the retryable data, which is worse.
//
// The core's own counters (otelcol_exporter_sentry_items_sent / items_dropped by reason) are
// exact per item, and the core logs each drop.
func push[T any](ctx context.Context, e *sentryExporter, codec signalCodec[T], data T) error {
	_, err := pushCounted(ctx, e, codec, data)
	return err
}

// pushCounted is push, and the number of items Sentry accepted (ffi.Outcome.ItemsSent, as the
// core counts items).
func pushCounted[T any](ctx context.Context, e *sentryExporter, codec signalCodec[T], data T) (uint64, error) {
	if e.released.Load() {
		return 0, ffi.ErrShutDown
	}
	timeout, err := timeoutFrom(ctx)
	if err != nil {
		return 0, err
	}
	req, err := codec.marshal(data)
	if err != nil {
		return 0, consumererror.NewPermanent(fmt.Errorf("encoding %s as OTLP protobuf: %w", codec.signal, err))
	}
	out, err := e.shared.core.Export(codec.signal, req, timeout)
	switch {
	case errors.Is(err, ffi.ErrInvalidRequest):
		return 0, consumererror.NewPermanent(err)
	case errors.Is(err, ffi.ErrMemoryFull):
		// The batch waits in its queue, in Go's heap, which memory_limiter sees.
		return 0, exporterhelper.NewThrottleRetry(err, memoryFullDelay)
	case err != nil:
		return 0, err
	}
	if e.logger.Core().Enabled(zap.DebugLevel) {
		e.logger.Debug("Sentry export done",
			zap.Stringer("signal", codec.signal),
			zap.Uint64("items_sent", out.ItemsSent),
			zap.Uint64("items_dropped", out.ItemsDropped),
			zap.Uint64("items_retryable", out.ItemsRetryable))
	}
	if len(out.RetryRequest) == 0 {
		if out.ItemsDropped == 0 {
			return out.ItemsSent, nil
		}
		msg := out.Message
		if msg == "" {
			msg = fmt.Sprintf("%d %s items dropped by the sentry exporter", out.ItemsDropped, codec.signal)
		}
		return out.ItemsSent, consumererror.NewPermanent(errors.New(msg))
	}
	failed, err := codec.unmarshal(out.RetryRequest)
	if err != nil {
		// A bug in the core. Retrying the whole batch may resend what was accepted, but
		// loses nothing.
		return out.ItemsSent, fmt.Errorf("decoding the %s to retry returned by the sentry core: %w", codec.signal, err)
	}
	msg := out.Message
	if msg == "" {
		msg = fmt.Sprintf("%d %s items could not be sent to Sentry yet", out.ItemsRetryable, codec.signal)
	}
	retryErr := errors.New(msg)
	if out.RetryAfterMillis > 0 {
		delay := time.Duration(min(out.RetryAfterMillis, maxDelayMillis)) * time.Millisecond
		retryErr = exporterhelper.NewThrottleRetry(retryErr, delay)
	}
	return out.ItemsSent, codec.withData(retryErr, failed)
}

// memoryFullDelay is how long a batch waits when the core's heap is over its limit: its
// exports in flight and owed events free memory within seconds.
const memoryFullDelay = time.Second

// maxDelayMillis keeps a delay from the core within time.Duration (no overflow to negative).
const maxDelayMillis = uint64(math.MaxInt64 / int64(time.Millisecond))

// timeoutFrom is the time left before ctx's deadline, 0 when it has none.
func timeoutFrom(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return 0, nil
	}
	left := time.Until(deadline)
	if left <= 0 {
		return 0, context.DeadlineExceeded
	}
	return left, nil
}
