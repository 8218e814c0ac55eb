package sentryexporter // import "github.com/otelcol-sentry/sentryexporter"

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
)

// What a project's queue still holds when the collector stops: every item of it is counted and
// logged with its number, as dropped (a queue in memory) or kept (a persistent queue).
//
// exporterhelper (v0.161.0, internal/base_exporter.go) shuts a project's exporter down in this
// order: first its retry sender, so that a batch waiting out a backoff is given up at once
// (retry_sender.go returns experr's shutdown error, without calling push again); then its queue.
// An in-memory queue drains on Shutdown: its consumers read every batch still queued and push
// each once (queue/memory_queue.go: Read returns false only once the queue is stopped and
// empty); each push ends within shutdownGrace, as the core was told to wind down. Whatever a
// push does not send or drop for good is then lost: the queue's consumer logs "Exporting
// failed. Dropping data." at error level, but the collector's logger samples each message
// (the first 10 of a 10 s tick, then one in 100), so of 600 items dropped that way 55 were
// named. A persistent queue (sending_queue.storage) does not drain: it keeps what it holds,
// and a batch whose push was cut off stays on disk (persistentQueue.onDone and the shutdown
// error).
//
// The ledger of a project's exporter therefore counts the items its queue took that are
// neither sent nor dropped for good yet: added when the queue takes a batch, settled by each
// push (sent, dropped for good by the core, which counted and logged them, or the part the core
// did not hand back to retry). Once the exporter's Shutdown has returned, its consumers are
// done, and what is still unsettled is what the queue lost, or kept on disk. This needs no
// identity of a batch, and counts the batches given up in a backoff, which never reach push
// again. One line per project and signal says it: each push's own line would be sampled away
// like exporterhelper's.
//
// Without retries (retry_on_failure.enabled: false) exporterhelper tries a batch once, so a
// push's error is final: its items are settled at once, and counted as dropped at shutdown if
// the exporter is stopping (a persistent queue removes such a batch too: the error is no
// shutdown error). With retry_on_failure.max_elapsed_time above 0, exporterhelper gives a
// batch up when its time runs out, unseen here: those items stay unsettled and are counted
// at shutdown too (exporterhelper logged them when it gave them up: "no more retries left").
// The default, 0, never gives up.
//
// With sending_queue.wait_for_result or without a queue, the sender of each batch learns its
// fate, and nothing is counted here.

// queueLedger counts the unsettled items of one project's exporter.
type queueLedger struct {
	// unsettled: items the queue took that were neither sent nor dropped for good yet.
	unsettled atomic.Int64
	// retryOff: exporterhelper tries each batch once, so every error is final.
	retryOff bool
	// stopping: the exporter's Shutdown has begun.
	stopping atomic.Bool
	// droppedStopping: items of final errors while stopping (retryOff only).
	droppedStopping atomic.Int64

	mu sync.Mutex
	// lastErr is the text of the last error a push returned for items it did not settle.
	lastErr string

	// accepted follows what Sentry accepted of the batches being retried (replay.go); nil
	// unless the queue is persistent and retries never give up.
	accepted *acceptedInRetry
}

// queued: the queue is offered n items; refused: it did not take them.
func (l *queueLedger) queued(n int)  { l.unsettled.Add(int64(n)) }
func (l *queueLedger) refused(n int) { l.unsettled.Add(-int64(n)) }

// pushed settles one push of n items that returned err; left is the number of items of the
// data err carries for a retry (exporterhelper's next attempt sends only those), n when it
// carries none.
func (l *queueLedger) pushed(n, left int, err error) {
	if err == nil || consumererror.IsPermanent(err) {
		l.unsettled.Add(-int64(n))
		return
	}
	l.mu.Lock()
	l.lastErr = err.Error()
	l.mu.Unlock()
	settled := n - left
	if l.retryOff {
		settled = n
		if l.stopping.Load() {
			l.droppedStopping.Add(int64(left))
		}
	}
	l.unsettled.Add(-int64(settled))
}

// settle is what the queue lost (dropped) or kept on disk (kept) once the exporter has shut
// down, and the last error, empty when no push failed.
func (l *queueLedger) settle(persistent bool) (dropped, kept int64, lastErr string) {
	// Negative when a persistent queue sent what it held from before this start.
	left := max(0, l.unsettled.Swap(0))
	dropped = l.droppedStopping.Swap(0)
	if persistent {
		kept = left
	} else {
		dropped += left
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return dropped, kept, l.lastErr
}

// countedProject is a project's exporter with its ledger.
type countedProject[T any] struct {
	projectExporter[T]
	ledger *queueLedger
	items  func(T) int
}

func (c *countedProject[T]) consume(ctx context.Context, data T) error {
	n := c.items(data)
	c.ledger.queued(n)
	err := c.projectExporter.consume(ctx, data)
	if err != nil {
		// With a queue (and without wait_for_result), an error means it did not take the batch.
		c.ledger.refused(n)
	}
	return err
}

// itemsWord names n items of signal in a message.
func itemsWord(signal ffi.Signal, n int64) string {
	word := map[ffi.Signal]string{
		ffi.SignalTraces:  "span",
		ffi.SignalLogs:    "log record",
		ffi.SignalMetrics: "metric data point",
	}[signal]
	if word == "" {
		word = signal.String() + " item"
	}
	if n != 1 {
		word += "s"
	}
	return word
}

// queueName names the queue of a project's exporter in a message.
func (p *projectExporters[T]) queueName(name string) string {
	switch name {
	case sharedQueue:
		return "the projects without a queue of their own (" + projectID(p.set.ID, name).String() + ")"
	case previousQueue:
		return "the queue of a version before one queue per project (" + p.set.ID.String() + ")"
	default:
		return "project " + name
	}
}

// reportLeftovers counts and logs what the queue of the project's exporter name lost or kept,
// once that exporter has shut down.
func (p *projectExporters[T]) reportLeftovers(name string, ledger *queueLedger) {
	dropped, kept, lastErr := ledger.settle(p.persistent)
	signal := p.codec.signal
	if dropped > 0 {
		p.e.shared.shim.droppedAtShutdown(signal, dropped)
		why := "the collector stopped before they were sent, and the sending queue is in memory (no storage)"
		if p.persistent {
			why = "the collector stopped before they were sent, and without retry_on_failure a batch cut off is not kept in the persistent queue"
		}
		if lastErr != "" {
			why += "; last error: " + lastErr
		}
		p.set.Logger.Warn(fmt.Sprintf("%d %s of %s dropped at shutdown: %s", dropped, itemsWord(signal, dropped), p.queueName(name), why),
			zap.String("project", name), zap.Int64("dropped_items", dropped), zap.String("reason", "shutdown"))
	}
	if kept > 0 {
		p.set.Logger.Info(fmt.Sprintf("at least %d %s of %s kept in the persistent queue at shutdown, to be sent after the next start",
			kept, itemsWord(signal, kept), p.queueName(name)),
			zap.String("project", name), zap.Int64("kept_items", kept))
	}
}
