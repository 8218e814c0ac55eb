package sentryexporter // import "github.com/otelcol-sentry/sentryexporter"

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
)

// What a persistent queue sends again after a start, though Sentry may hold it already: it is
// counted as items_maybe_delivered (beside the core's count of requests that got no answer in
// time) and logged once per project and signal, by the exporter that sends it again.
//
// exporterhelper's persistent queue (v0.161.0, internal/queue/persistent_queue.go) deletes a
// request from disk only once its export is done. From the time a consumer reads it, its index
// is in the queue's list of dispatched requests: the metadata under the key "qmv0" (a
// PersistentMetadata protobuf; the list is field 5, currently_dispatched_items, fixed64),
// in queues written by older versions the key "di" (a little-endian uint32 count, then as
// many uint64), which exporterhelper still reads when "qmv0" is missing. Each
// request is under its index (strconv.FormatUint), in exporterhelper's encoding
// (pdata/xpdata/request, or bare OTLP protobuf). When the queue starts it puts every request
// of that list back at the end of the queue, whole, and sends it again
// (enqueueNotDispatchedReqs), before anything new. Which of them may Sentry hold already?
//
//   - After a crash (SIGKILL, an OOM kill, a lost machine) any of them: a request may have been
//     answered and the process died before the queue deleted it; an unanswered request may
//     have been stored; a batch of the shared queue may have been accepted by some of its
//     projects while the others were waiting to be retried (in memory, by exporterhelper's
//     retry sender, which only holds the data to retry; the queue keeps the whole batch).
//     Nothing said which, so every item of those requests is counted, by the exporter that
//     sends them again: "were being sent when the collector stopped without a clean
//     shutdown". It is exact in what it covers (what the queue sends again) and an upper
//     bound on what arrives twice (a request that only got 503s, or was still in the queue's
//     batcher, is counted too).
//   - After a clean stop (Shutdown ran to its end), the list holds the requests whose export
//     was cut off (persistentQueue.onDone keeps a request whose export ended with
//     exporterhelper's shutdown error). A request cut off while waiting for Sentry's answer
//     was counted by the core of the stopping collector (a timed-out request), once. What
//     else of them Sentry holds is known to the stopping collector exactly: the items of the
//     requests still being retried that Sentry accepted in their earlier attempts
//     (acceptedInRetry). It writes their number per queue beside its list of projects, and
//     the next start counts them.
//
// The two cases are told apart by that record: a clean Shutdown writes it last, and Start
// reads and deletes it first, before any queue starts. A start that finds none follows a
// crash (or a version that wrote none: counting all is then the safe side of "may").
//
// Reading exporterhelper's keys is the only exact way found: exporterhelper counts nothing
// of what it sends again (it logs "Moved items for dispatching back to queue" with a number
// of requests, at info level), and a list of our own (written before each export, deleted
// after it) would double the storage writes of every export and still need exporterhelper's
// indexes to name what the queue sends again. The keys are read before the queue starts,
// through the same storage extension, kind, component ID and name as the queue's own client
// (exporterhelper's toStorageClient: exporter kind, the project's exporter ID, the signal),
// read only, and the client is closed before the queue opens its own (file_storage holds
// one lock per file). TestInFlightRequestsOfTheRealPersistentQueue runs exporterhelper's
// persistent queue of the pinned version on file_storage and fails if these keys or their
// encoding change.

// Keys of exporterhelper's persistent queue (internal/queue/persistent_queue.go, v0.161.0).
const (
	queueMetadataKey = "qmv0"
	// queueDispatchedField is PersistentMetadata.currently_dispatched_items.
	queueDispatchedField protowire.Number = 5
	legacyDispatchedKey                   = "di"
)

// cleanStopKey is the record a clean Shutdown leaves beside the list of projects
// (projectIndex): JSON of cleanStop.
const cleanStopKey = "clean_stop"

type cleanStop struct {
	// Accepted: by queue name, the items Sentry had accepted of the requests that queue kept,
	// cut off while being retried (acceptedInRetry): sent again after the next start.
	Accepted map[string]uint64 `json:"accepted_in_kept_requests"`
}

// takeCleanStop reads and deletes the record of the last clean stop: nil when the collector
// did not stop cleanly (a crash), or never wrote one.
func (x *projectIndex) takeCleanStop(ctx context.Context) (*cleanStop, error) {
	get := storage.GetOperation(cleanStopKey)
	if err := x.client.Batch(ctx, get, storage.DeleteOperation(cleanStopKey)); err != nil {
		return nil, fmt.Errorf("reading how the collector last stopped: %w", err)
	}
	if get.Value == nil {
		return nil, nil
	}
	var stop cleanStop
	if err := json.Unmarshal(get.Value, &stop); err != nil {
		// Written by this code only: unreadable, it tells nothing (the safe side: a crash).
		return nil, nil
	}
	return &stop, nil
}

// writeCleanStop records that every queue of the signal has shut down.
func (x *projectIndex) writeCleanStop(ctx context.Context, stop cleanStop) error {
	value, err := json.Marshal(stop)
	if err != nil {
		return err
	}
	if err := x.client.Set(ctx, cleanStopKey, value); err != nil {
		return fmt.Errorf("recording the clean stop in storage: %w", err)
	}
	return nil
}

// storageExtension is the storage extension storageID of host.
func storageExtension(host component.Host, storageID component.ID) (storage.Extension, error) {
	ext, ok := host.GetExtensions()[storageID]
	if !ok {
		return nil, fmt.Errorf("storage %s of sending_queue not found", storageID)
	}
	storageExt, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("%s of sending_queue is not a storage extension", storageID)
	}
	return storageExt, nil
}

// inFlight counts the items (as the core counts them: spans, log records, metrics) of the
// requests that the persistent queue of the exporter id, in storage storageID, puts back to
// be sent again when it starts: those its previous process was exporting. Call it before that
// queue starts.
func inFlight[T any](ctx context.Context, host component.Host, storageID, id component.ID, codec signalCodec[T]) (requests int, items uint64, err error) {
	ext, err := storageExtension(host, storageID)
	if err != nil {
		return 0, 0, err
	}
	// exporterhelper's own client: exporter kind, the exporter's ID, the signal's name.
	client, err := ext.GetClient(ctx, component.KindExporter, id, codec.signal.String())
	if err != nil {
		return 0, 0, err
	}
	defer func() { err = errors.Join(err, client.Close(ctx)) }()
	indexes, err := dispatchedIndexes(ctx, client)
	if err != nil || len(indexes) == 0 {
		return 0, 0, err
	}
	gets := make([]*storage.Operation, len(indexes))
	for i, index := range indexes {
		gets[i] = storage.GetOperation(strconv.FormatUint(index, 10))
	}
	if err := client.Batch(ctx, gets...); err != nil {
		return 0, 0, err
	}
	// As exporterhelper does: a request missing or unreadable is skipped, not sent again.
	for _, get := range gets {
		if get.Value == nil {
			continue
		}
		data, err := codec.unmarshalQueued(get.Value)
		if err != nil {
			continue
		}
		requests++
		items += uint64(codec.sentryItems(data))
	}
	return requests, items, nil
}

// dispatchedIndexes is the queue's list of dispatched requests, read as exporterhelper reads
// it at start: the metadata key, else the legacy one.
func dispatchedIndexes(ctx context.Context, client storage.Client) ([]uint64, error) {
	metadata, err := client.Get(ctx, queueMetadataKey)
	if err != nil {
		return nil, err
	}
	if len(metadata) > 0 {
		return decodeDispatched(metadata)
	}
	legacy, err := client.Get(ctx, legacyDispatchedKey)
	if err != nil || len(legacy) == 0 {
		return nil, err
	}
	if len(legacy) < 4 {
		return nil, errors.New("the list of dispatched requests is cut short")
	}
	n := int(binary.LittleEndian.Uint32(legacy))
	legacy = legacy[4:]
	if len(legacy) < n*8 {
		return nil, errors.New("the list of dispatched requests is cut short")
	}
	indexes := make([]uint64, n)
	for i := range indexes {
		indexes[i] = binary.LittleEndian.Uint64(legacy[i*8:])
	}
	return indexes, nil
}

// decodeDispatched reads currently_dispatched_items of a PersistentMetadata message, packed
// (as proto3 writes it) or not.
func decodeDispatched(b []byte) ([]uint64, error) {
	var indexes []uint64
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == queueDispatchedField && typ == protowire.BytesType:
			packed, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			for len(packed) > 0 {
				v, m := protowire.ConsumeFixed64(packed)
				if m < 0 {
					return nil, protowire.ParseError(m)
				}
				indexes = append(indexes, v)
				packed = packed[m:]
			}
			b = b[n:]
		case num == queueDispatchedField && typ == protowire.Fixed64Type:
			v, n := protowire.ConsumeFixed64(b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			indexes = append(indexes, v)
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return indexes, nil
}

// acceptedInRetry follows, for one project's exporter, the requests exporterhelper's retry
// sender is retrying: by the data it retries next, the items Sentry accepted in the earlier
// attempts of that request. A persistent queue keeps a request cut off at shutdown whole, so
// after the next start those items are sent again: what is left here once the exporter has
// shut down.
//
// The retry sender sends the next attempt with exactly the data the last error carried
// (request.ErrorHandler.OnError: consumererror.Traces.Data()), or the same data when the
// error carried none, so that data is the key (pdata's Traces, Logs and Metrics are a
// comparable pair of pointers; an entry only lives while the retry sender holds its data, so
// no other request can have the same). It is only used when retries never give up
// (retry_on_failure.max_elapsed_time: 0, the default here): a request given up would stay
// here, with its data.
type acceptedInRetry struct {
	mu      sync.Mutex
	byRetry map[any]uint64
}

func newAcceptedInRetry() *acceptedInRetry { return &acceptedInRetry{byRetry: map[any]uint64{}} }

// pushed notes one export of data that returned err, Sentry having accepted sent items of it;
// next is the data the retry sends (what err carries, else data itself).
func (a *acceptedInRetry) pushed(data, next any, sent uint64, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	earlier := a.byRetry[data]
	delete(a.byRetry, data)
	if err == nil || consumererror.IsPermanent(err) {
		// Done: the queue deletes the request.
		return
	}
	if accepted := earlier + sent; accepted > 0 {
		a.byRetry[next] = accepted
	}
}

// kept is what the requests still being retried hold of what Sentry accepted.
func (a *acceptedInRetry) kept() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var total uint64
	for _, n := range a.byRetry {
		total += n
	}
	return total
}

// sentryItemsWord names n items of signal as the core counts them.
func sentryItemsWord(signal ffi.Signal, n uint64) string {
	if signal == ffi.SignalMetrics {
		if n == 1 {
			return "metric"
		}
		return "metrics"
	}
	return itemsWord(signal, int64(n))
}

func wereWord(n uint64) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

// countResent counts and logs, before the queue of the exporter name starts, what that
// queue sends again though Sentry may hold it: after a crash, every item of the requests it
// was exporting; after a clean stop, what stop says.
func (p *projectExporters[T]) countResent(ctx context.Context, storageID component.ID, name string, stop *cleanStop) {
	signal := p.codec.signal
	if stop != nil {
		n := stop.Accepted[name]
		if n == 0 {
			return
		}
		p.e.shared.shim.maybeDelivered(signal, n)
		p.set.Logger.Warn(fmt.Sprintf("%d %s of %s %s accepted by Sentry in batches that the persistent queue kept "+
			"at the last shutdown while the rest of them waited to be retried; they are sent again and may arrive twice",
			n, sentryItemsWord(signal, n), p.queueName(name), wereWord(n)),
			zap.String("project", name), zap.Uint64("maybe_delivered_items", n))
		return
	}
	requests, n, err := inFlight(ctx, p.host, storageID, projectID(p.set.ID, name), p.codec)
	if err != nil {
		p.set.Logger.Warn(fmt.Sprintf("could not count what the persistent queue of %s sends again after a start "+
			"without a clean shutdown (it may arrive twice, uncounted)", p.queueName(name)),
			zap.String("project", name), zap.Error(err))
		return
	}
	if n == 0 {
		return
	}
	p.e.shared.shim.maybeDelivered(signal, n)
	p.set.Logger.Warn(fmt.Sprintf("%d %s of %s %s being sent when the collector stopped without a clean shutdown; "+
		"they are sent again and may arrive twice", n, sentryItemsWord(signal, n), p.queueName(name), wereWord(n)),
		zap.String("project", name), zap.Uint64("maybe_delivered_items", n), zap.Int("requests", requests))
}
