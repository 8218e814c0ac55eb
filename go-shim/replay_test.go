//go:build cgo

package sentryexporter

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	xstorage "go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
	"github.com/otelcol-sentry/sentryexporter/internal/metadata"
)

// replayCore records the spans of every export and answers with outcome; an export for which
// hang says so waits until release is closed.
type replayCore struct {
	fakeCore
	outcome func(req []byte) ffi.Outcome
	hang    func(call int) bool
	release chan struct{}

	mu      sync.Mutex
	calls   int
	spans   []int
	hanging chan struct{}
}

func newReplayCore(routing ffi.Routing, outcome func([]byte) ffi.Outcome) *replayCore {
	c := &replayCore{outcome: outcome, hang: func(int) bool { return false },
		release: make(chan struct{}), hanging: make(chan struct{}, 100)}
	c.routing = routing
	return c
}

func (c *replayCore) Export(_ ffi.Signal, req []byte, _ time.Duration) (ffi.Outcome, error) {
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(req)
	if err != nil {
		return ffi.Outcome{}, err
	}
	c.mu.Lock()
	c.calls++
	call := c.calls
	c.spans = append(c.spans, td.SpanCount())
	c.mu.Unlock()
	if c.hang(call) {
		c.hanging <- struct{}{}
		<-c.release
		return ffi.Outcome{ItemsRetryable: uint64(td.SpanCount()), RetryRequest: req, Message: "cut off"}, nil
	}
	return c.outcome(req), nil
}

// exported is the number of spans of each export so far.
func (c *replayCore) exported() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.spans...)
}

func acceptAll(req []byte) ffi.Outcome {
	td, _ := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(req)
	return ffi.Outcome{ItemsSent: uint64(td.SpanCount())}
}

// storageHost is a host with extensions.
type storageHost map[component.ID]component.Component

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h }

// fileStorage is a started file_storage extension (contrib's, the collector's own) on dir.
func fileStorage(t *testing.T, dir string) (component.ID, component.Host) {
	t.Helper()
	factory := filestorage.NewFactory()
	cfg := factory.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	cfg.Compaction.Directory = dir
	ctx := context.Background()
	ext, err := factory.Create(ctx, extensiontest.NewNopSettings(factory.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(ctx, componenttest.NewNopHost()))
	t.Cleanup(func() { assert.NoError(t, ext.Shutdown(ctx)) })
	id := component.NewID(factory.Type())
	return id, storageHost{id: ext}
}

// persistentTraces is the traces exporter of a config with a persistent queue in storage.
func persistentTraces(core coreAPI, storage component.ID, retryInterval time.Duration) (*projectExporters[ptrace.Traces], *sharedCore, *observer.ObservedLogs) {
	cfg := validConfig()
	cfg.QueueConfig.Get().StorageID = &storage
	cfg.RetryConfig.InitialInterval = retryInterval
	cfg.RetryConfig.MaxInterval = retryInterval
	shared := &sharedCore{core: core, shim: &shimCounters{}, refs: 1}
	e := &sentryExporter{cfg: cfg, shared: shared, logger: zap.NewNop()}
	logs, observed := observer.New(zapcore.InfoLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	// The same exporter at each start (NewNopSettings names it anew).
	set.ID = component.NewID(metadata.Type)
	set.Logger = zap.New(logs)
	return newProjectExporters(e, tracesCodec, set), shared, observed
}

// copyDir copies the files of a storage directory: what a crash leaves on disk at that instant.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	require.NoError(t, err)
	for _, entry := range entries {
		if !entry.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, entry.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, entry.Name()), data, 0o600))
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 10*time.Second, 10*time.Millisecond, what)
}

func maybeDeliveredLines(observed *observer.ObservedLogs) []observer.LoggedEntry {
	var lines []observer.LoggedEntry
	for _, entry := range observed.All() {
		if _, ok := entry.ContextMap()["maybe_delivered_items"]; ok {
			lines = append(lines, entry)
		}
	}
	return lines
}

// exporterhelper's persistent queue of the pinned version, on file_storage, as the collector
// runs it: what it sends again at a start is what replay.go counts. This pins its keys and
// their encoding (replay.go reads them): if they change, the counts below do.
func TestInFlightRequestsOfTheRealPersistentQueue(t *testing.T) {
	ownQueue := ffi.Routing{Resources: []int{0, 0}, Projects: []string{"checkout"}, OwnQueue: []bool{true}}
	shared := ffi.Routing{Resources: []int{0, 1}, Projects: []string{"orders-service", "payments"}, OwnQueue: []bool{false, false}}
	ctx := context.Background()

	t.Run("killed while a request was in flight", func(t *testing.T) {
		before, after := t.TempDir(), t.TempDir()
		storage, host := fileStorage(t, before)
		core := newReplayCore(ownQueue, acceptAll)
		// The first batch is accepted; the second is held, unanswered, as by a Sentry that
		// stored it and whose answer is lost.
		core.hang = func(call int) bool { return call == 2 }
		p, _, _ := persistentTraces(core, storage, 10*time.Millisecond)
		require.NoError(t, p.Start(ctx, host))
		require.NoError(t, p.consume(ctx, testTraces()))
		waitFor(t, "the first batch to be sent", func() bool { return len(core.exported()) == 1 })
		require.NoError(t, p.consume(ctx, testTraces()))
		<-core.hanging
		// SIGKILL now: the disk holds what it holds at this instant.
		copyDir(t, before, after)
		close(core.release)
		require.NoError(t, p.Shutdown(ctx))

		storage, host = fileStorage(t, after)
		again := newReplayCore(ownQueue, acceptAll)
		p, sharedCore, observed := persistentTraces(again, storage, 10*time.Millisecond)
		require.NoError(t, p.Start(ctx, host))
		assert.Equal(t, int64(3), sharedCore.shim.resent[ffi.SignalTraces].Load())
		lines := maybeDeliveredLines(observed)
		require.Len(t, lines, 1, "%v", observed.All())
		assert.Equal(t, zapcore.WarnLevel, lines[0].Level)
		assert.Equal(t, "3 spans of project checkout were being sent when the collector stopped without a clean shutdown; "+
			"they are sent again and may arrive twice", lines[0].Message)
		assert.Equal(t, "checkout", lines[0].ContextMap()["project"])
		// exporterhelper does send it again: the request in flight, not the one accepted.
		waitFor(t, "the request in flight to be sent again", func() bool { return len(again.exported()) == 1 })
		require.NoError(t, p.Shutdown(ctx))
		assert.Equal(t, []int{3}, again.exported())

		// After that clean stop, nothing is in flight, and nothing is counted.
		third := newReplayCore(ownQueue, acceptAll)
		p, sharedCore, observed = persistentTraces(third, storage, 10*time.Millisecond)
		require.NoError(t, p.Start(ctx, host))
		require.NoError(t, p.Shutdown(ctx))
		assert.Zero(t, sharedCore.shim.resent[ffi.SignalTraces].Load())
		assert.Empty(t, maybeDeliveredLines(observed))
		assert.Empty(t, third.exported())
	})

	t.Run("stopped cleanly while part of a shared batch waited to be retried", func(t *testing.T) {
		storage, host := fileStorage(t, t.TempDir())
		// orders-service (1 span) accepts; payments (2 spans) is retried, after an hour.
		core := newReplayCore(shared, retryAllBut1)
		p, _, _ := persistentTraces(core, storage, time.Hour)
		require.NoError(t, p.Start(ctx, host))
		require.NoError(t, p.consume(ctx, testTraces()))
		waitFor(t, "the batch to be sent once", func() bool { return len(core.exported()) == 1 })
		require.NoError(t, p.Shutdown(ctx))

		again := newReplayCore(shared, acceptAll)
		p, sharedCore, observed := persistentTraces(again, storage, 10*time.Millisecond)
		require.NoError(t, p.Start(ctx, host))
		assert.Equal(t, int64(1), sharedCore.shim.resent[ffi.SignalTraces].Load())
		lines := maybeDeliveredLines(observed)
		require.Len(t, lines, 1, "%v", observed.All())
		assert.Equal(t, zapcore.WarnLevel, lines[0].Level)
		assert.Equal(t, "1 span of the projects without a queue of their own (sentry/(shared)) was accepted by Sentry "+
			"in batches that the persistent queue kept at the last shutdown while the rest of them waited to be retried; "+
			"they are sent again and may arrive twice", lines[0].Message)
		// exporterhelper sends the whole batch again, the accepted span with it.
		waitFor(t, "the kept batch to be sent again", func() bool { return len(again.exported()) == 1 })
		require.NoError(t, p.Shutdown(ctx))
		assert.Equal(t, []int{3}, again.exported())
	})

	t.Run("stopped cleanly while a batch nothing of which was accepted waited to be retried", func(t *testing.T) {
		storage, host := fileStorage(t, t.TempDir())
		core := newReplayCore(ownQueue, retryAll)
		p, _, _ := persistentTraces(core, storage, time.Hour)
		require.NoError(t, p.Start(ctx, host))
		require.NoError(t, p.consume(ctx, testTraces()))
		waitFor(t, "the batch to be sent once", func() bool { return len(core.exported()) == 1 })
		require.NoError(t, p.Shutdown(ctx))

		again := newReplayCore(ownQueue, acceptAll)
		p, sharedCore, observed := persistentTraces(again, storage, 10*time.Millisecond)
		require.NoError(t, p.Start(ctx, host))
		// The queue sends the batch again (it was in flight when the queue stopped), but
		// Sentry holds none of it.
		waitFor(t, "the kept batch to be sent again", func() bool { return len(again.exported()) == 1 })
		require.NoError(t, p.Shutdown(ctx))
		assert.Zero(t, sharedCore.shim.resent[ffi.SignalTraces].Load())
		assert.Empty(t, maybeDeliveredLines(observed))
	})
}

func TestDecodeDispatched(t *testing.T) {
	var packed []byte
	packed = protowire.AppendTag(packed, 1, protowire.Fixed64Type)
	packed = protowire.AppendFixed64(packed, 40)
	packed = protowire.AppendTag(packed, 3, protowire.Fixed64Type)
	packed = protowire.AppendFixed64(packed, 9)
	var list []byte
	list = protowire.AppendFixed64(list, 7)
	list = protowire.AppendFixed64(list, 5)
	packed = protowire.AppendTag(packed, queueDispatchedField, protowire.BytesType)
	packed = protowire.AppendBytes(packed, list)
	got, err := decodeDispatched(packed)
	require.NoError(t, err)
	assert.Equal(t, []uint64{7, 5}, got)

	var unpacked []byte
	unpacked = protowire.AppendTag(unpacked, queueDispatchedField, protowire.Fixed64Type)
	unpacked = protowire.AppendFixed64(unpacked, 3)
	got, err = decodeDispatched(unpacked)
	require.NoError(t, err)
	assert.Equal(t, []uint64{3}, got)

	_, err = decodeDispatched(packed[:len(packed)-3])
	assert.Error(t, err)
}

// memClient is a storage client in memory.
type memClient map[string][]byte

func (m memClient) Get(_ context.Context, key string) ([]byte, error) { return m[key], nil }
func (m memClient) Set(_ context.Context, key string, value []byte) error {
	m[key] = value
	return nil
}

func (m memClient) Delete(_ context.Context, key string) error {
	delete(m, key)
	return nil
}

func (m memClient) Batch(_ context.Context, ops ...*xstorage.Operation) error {
	for _, op := range ops {
		switch op.Type {
		case xstorage.Get:
			op.Value = m[op.Key]
		case xstorage.Set:
			m[op.Key] = op.Value
		case xstorage.Delete:
			delete(m, op.Key)
		}
	}
	return nil
}
func (memClient) Close(context.Context) error { return nil }

// The list of dispatched requests of queues written before "qmv0": exporterhelper still reads
// "di" when "qmv0" is missing.
func TestLegacyDispatchedList(t *testing.T) {
	legacy := binary.LittleEndian.AppendUint32(nil, 2)
	legacy = binary.LittleEndian.AppendUint64(legacy, 4)
	legacy = binary.LittleEndian.AppendUint64(legacy, 6)
	got, err := dispatchedIndexes(context.Background(), memClient{"di": legacy})
	require.NoError(t, err)
	assert.Equal(t, []uint64{4, 6}, got)

	got, err = dispatchedIndexes(context.Background(), memClient{})
	require.NoError(t, err)
	assert.Empty(t, got)

	_, err = dispatchedIndexes(context.Background(), memClient{"di": legacy[:12]})
	assert.Error(t, err)
}

func TestAcceptedInRetry(t *testing.T) {
	retryable := errors.New("project payments: 503")
	first, second, third := testTraces(), testTraces(), testTraces()
	a := newAcceptedInRetry()
	// Nothing accepted yet: nothing to follow.
	a.pushed(first, first, 0, retryable)
	assert.Zero(t, a.kept())
	// 1 accepted, the rest retried as second; then 1 more, retried as third.
	a.pushed(first, second, 1, retryable)
	a.pushed(second, third, 1, retryable)
	assert.Equal(t, uint64(2), a.kept())
	// An error carrying no data: the same data is retried.
	a.pushed(third, third, 0, retryable)
	assert.Equal(t, uint64(2), a.kept())
	// Sent at last: the queue deletes the request.
	a.pushed(third, third, 1, nil)
	assert.Zero(t, a.kept())

	a.pushed(first, second, 1, retryable)
	a.pushed(second, second, 0, consumererror.NewPermanent(retryable))
	assert.Zero(t, a.kept())
}

// The data is the key of acceptedInRetry: pdata's types must stay comparable.
func TestPdataIsComparable(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[ptrace.Traces](), reflect.TypeFor[plog.Logs](), reflect.TypeFor[pmetric.Metrics]()} {
		assert.True(t, typ.Comparable(), typ.String())
	}
}

// What a persistent queue sends again is added to the core's items_maybe_delivered point of
// the same signal.
func TestResentItemsArePublishedAsMaybeDelivered(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	core := &telemetryCore{snapshot: `{"metrics":[{"name":"items_maybe_delivered","kind":"counter","points":[
		{"attributes":{"signal":"traces"},"value":4},{"attributes":{"signal":"logs"},"value":0},
		{"attributes":{"signal":"metrics"},"value":0}]}]}`}
	shim := &shimCounters{}
	_, err := registerCoreMetrics(provider, component.MustNewID("sentry"), core.Telemetry, shim)
	require.NoError(t, err)
	shim.maybeDelivered(ffi.SignalTraces, 40)
	shim.maybeDelivered(ffi.SignalLogs, 2)

	sum, ok := collect(t, reader)["otelcol_exporter_sentry_items_maybe_delivered"].(metricdata.Sum[int64])
	require.True(t, ok)
	got := map[string]int64{}
	for _, p := range sum.DataPoints {
		signal, _ := p.Attributes.Value(attribute.Key("signal"))
		got[signal.AsString()] = p.Value
	}
	assert.Equal(t, map[string]int64{"traces": 44, "logs": 2, "metrics": 0}, got)
}
