package sentryexporter // import "github.com/otelcol-sentry/sentryexporter"

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
)

// One sick project must cost the others nothing (docs/design.md, "One queue per project").
// The exporter of a signal therefore sends nothing itself: the core tells where each resource
// of a batch goes (ffi.Core.Route), and each project's resources go to that project's own
// exporterhelper exporter, with its own queue, consumers, retries and timeout (the config's),
// which sends them through the shared core. A project whose lookup, ingest or envelopes hang
// holds its own consumers only, and its full queue refuses its own data only. The collector's
// loadbalancing exporter is built the same way, one exporter per backend. Projects the core
// gives no queue of their own (not known to exist, or past max_project_queues) share one
// exporter, sharedQueue.

// projectExporter is the exporterhelper exporter of one project and signal.
type projectExporter[T any] interface {
	component.Component
	consume(context.Context, T) error
}

// projectExporters is the exporter of one signal: it routes each batch and hands each
// project's resources to that project's exporter, made on the project's first data.
type projectExporters[T any] struct {
	e     *sentryExporter
	codec signalCodec[T]
	set   exporter.Settings

	mu sync.Mutex
	// host is nil until Start.
	host      component.Host
	byProject map[string]projectExporter[T]
	// index lists the projects whose queues are on disk; nil without a persistent queue.
	index *projectIndex
	// restored: Start started every queue on disk, so that a clean Shutdown may say so.
	restored bool
	stopped  bool

	// counted: each project's queue holds batches whose senders were already answered, so
	// what it still holds at shutdown is counted (leftovers.go); persistent: it keeps them.
	counted, persistent bool
	// trackAccepted: what Sentry accepted of the batches being retried is followed, since a
	// persistent queue sends such a batch again whole after a restart (replay.go).
	trackAccepted bool
}

func newProjectExporters[T any](e *sentryExporter, codec signalCodec[T], set exporter.Settings) *projectExporters[T] {
	p := &projectExporters[T]{e: e, codec: codec, set: set, byProject: map[string]projectExporter[T]{}}
	if e.cfg != nil {
		if q := e.cfg.QueueConfig.Get(); q != nil && !q.WaitForResult {
			p.counted = true
			p.persistent = q.StorageID != nil
			p.trackAccepted = p.persistent && e.cfg.RetryConfig.Enabled && e.cfg.RetryConfig.MaxElapsedTime == 0
		}
	}
	return p
}

// Start starts the shared core and, with a persistent queue, the exporters of the projects
// whose queues are on disk, so that what they hold is sent even if those projects send
// nothing new; before each starts, what its queue sends again though Sentry may hold it is
// counted and logged (replay.go).
func (p *projectExporters[T]) Start(ctx context.Context, host component.Host) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return ffi.ErrShutDown
	}
	if p.host != nil {
		return nil
	}
	if err := p.e.start(ctx, host); err != nil {
		return err
	}
	p.host = host
	queue := p.e.cfg.QueueConfig.Get()
	if queue == nil || queue.StorageID == nil {
		return nil
	}
	index, err := openProjectIndex(ctx, host, *queue.StorageID, p.set.ID, p.codec.signal)
	if err != nil {
		return err
	}
	p.index = index
	// First, so that a crash from here on finds no record at the next start.
	stop, err := index.takeCleanStop(ctx)
	if err != nil {
		return err
	}
	// Every queue on disk is read again; the core counts those of projects among its queues.
	if _, err := p.e.shared.core.RestoreQueues(index.projects()); err != nil {
		return err
	}
	for _, name := range append([]string{previousQueue}, index.projects()...) {
		p.countResent(ctx, *queue.StorageID, name, stop)
		if _, err := p.startProject(ctx, name); err != nil {
			return err
		}
	}
	p.restored = true
	return nil
}

// Shutdown tells the core to wind down (see beginShutdown), then shuts the projects'
// exporters down at the same time (each drains or keeps its queue; what it still held is
// counted and logged, see leftovers.go), then releases the core.
func (p *projectExporters[T]) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	p.stopped = true
	exporters := p.byProject
	p.byProject = map[string]projectExporter[T]{}
	index, restored := p.index, p.restored
	p.index = nil
	p.mu.Unlock()
	for _, exp := range exporters {
		if c, ok := exp.(*countedProject[T]); ok {
			c.ledger.stopping.Store(true)
		}
	}
	errs := []error{p.e.beginShutdown(ctx)}

	var mu sync.Mutex
	var wg sync.WaitGroup
	stop := cleanStop{Accepted: map[string]uint64{}}
	for name, exp := range exporters {
		wg.Go(func() {
			err := exp.Shutdown(ctx)
			// Its consumers are done: what its ledger still holds was lost or kept.
			c, counted := exp.(*countedProject[T])
			if counted {
				p.reportLeftovers(name, c.ledger)
			}
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err)
			if counted && c.ledger.accepted != nil {
				if n := c.ledger.accepted.kept(); n > 0 {
					stop.Accepted[name] = n
				}
			}
		})
	}
	wg.Wait()
	if index != nil {
		if restored {
			// Every queue of the signal has shut down: the next start is not after a crash.
			// (After a Start that failed midway, the queues not started still hold what a
			// crash before left in flight: no record, so the next start counts it.)
			errs = append(errs, index.writeCleanStop(ctx, stop))
		}
		errs = append(errs, index.close(ctx))
	}
	errs = append(errs, p.e.shutdown(ctx))
	return errors.Join(errs...)
}

// Capabilities says that a batch is taken apart: each project's resources are moved into a
// batch of their own, not copied (the collector hands this exporter a copy of its own when
// another consumer shares the data).
func (p *projectExporters[T]) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: true}
}

// consume routes one batch and hands each project's resources to its exporter, all at once:
// without a queue, each project's send then waits for that project only. What the batch's
// sender learns is said by outcome.
func (p *projectExporters[T]) consume(ctx context.Context, data T) error {
	if p.e.released.Load() {
		return ffi.ErrShutDown
	}
	// Routing reads the resources alone: only they are encoded, each resource's items counted.
	items, putBack := p.codec.parts.resourcesAlone(data)
	req, err := p.codec.marshal(data)
	putBack()
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("encoding %s as OTLP protobuf: %w", p.codec.signal, err))
	}
	routing, err := p.e.shared.core.Route(p.codec.signal, req, items)
	if err != nil {
		if errors.Is(err, ffi.ErrInvalidRequest) {
			return consumererror.NewPermanent(err)
		}
		return err
	}
	if len(routing.Resources) != p.codec.parts.count(data) || len(routing.OwnQueue) != len(routing.Projects) {
		return fmt.Errorf("the sentry core routed %d resources of a batch of %d (a bug): %w",
			len(routing.Resources), p.codec.parts.count(data), ffi.ErrInternal)
	}
	names, batches := p.queued(p.codec.parts.split(data, routing), routing)
	failures := make([]error, len(batches))
	if len(names) == 1 {
		// One project, the common case without a batch processor in front: no goroutine to
		// hand the batch to.
		failures[0] = p.consumeBy(ctx, names[0], batches[0])
		return p.outcome(batches, failures)
	}
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { failures[i] = p.consumeBy(ctx, name, batches[i]) })
	}
	wg.Wait()
	return p.outcome(batches, failures)
}

// consumeBy hands a batch to the exporter named name.
func (p *projectExporters[T]) consumeBy(ctx context.Context, name string, batch T) error {
	exp, err := p.project(ctx, name)
	if err != nil {
		return err
	}
	return exp.consume(ctx, batch)
}

// sharedQueue names the exporter whose queue the projects without one of their own share
// (`sentry/(shared)`); no slug holds parentheses.
const sharedQueue = "(shared)"

// previousQueue names the exporter that sends what the persistent queue of a version before
// one queue per project holds: it has the signal's own ID (`sentry`), and so its storage.
// Nothing new goes to it; like any exporter of a project, it sends through the core, which
// routes what it sends.
const previousQueue = ""

// queued pairs each batch with the exporter it goes to: its project's, or the shared one,
// which gets the batches of all such projects as one.
func (p *projectExporters[T]) queued(parts []T, routing ffi.Routing) ([]string, []T) {
	var names []string
	var batches, shared []T
	for i, part := range parts {
		if routing.OwnQueue[i] {
			names = append(names, routing.Projects[i])
			batches = append(batches, part)
		} else {
			shared = append(shared, part)
		}
	}
	if len(shared) > 0 {
		names = append(names, sharedQueue)
		batches = append(batches, p.codec.parts.merge(shared))
	}
	return names, batches
}

// outcome is what the batch's sender learns: nil when every project's exporter took its
// resources; the data to retry, when an exporter refused data for a reason that may pass (a
// full queue; without a queue, a failed send); else a permanent error (the core dropped the
// items for good). Resources of no project are no error of the sender's batch: the rest of it
// was taken, and the core counted and logged them (items_dropped, missing_attribute or
// invalid_slug), as the configuration asks when it names no fallback_project.
func (p *projectExporters[T]) outcome(parts []T, failures []error) error {
	var errs []error
	var retry []T
	for i, err := range failures {
		if err == nil {
			continue
		}
		if consumererror.IsPermanent(err) {
			// Only its text: a permanent error in the chain would make the retryable data
			// permanent too.
			errs = append(errs, errors.New(err.Error()))
			continue
		}
		errs = append(errs, err)
		if carried, ok := p.codec.carried(err); ok {
			retry = append(retry, carried)
		} else {
			retry = append(retry, parts[i])
		}
	}
	if len(errs) == 0 {
		return nil
	}
	err := errors.Join(errs...)
	if len(retry) > 0 {
		return p.codec.withData(err, p.codec.parts.merge(retry))
	}
	return consumererror.NewPermanent(err)
}

// project is the exporter named name (a project's slug, or sharedQueue), made and started on
// first use.
func (p *projectExporters[T]) project(ctx context.Context, name string) (projectExporter[T], error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if exp, ok := p.byProject[name]; ok {
		return exp, nil
	}
	if p.stopped || p.host == nil {
		return nil, ffi.ErrShutDown
	}
	if p.index != nil {
		if err := p.index.add(ctx, name); err != nil {
			return nil, err
		}
	}
	return p.startProject(ctx, name)
}

// startProject makes and starts name's exporter; p.mu is held.
func (p *projectExporters[T]) startProject(ctx context.Context, name string) (projectExporter[T], error) {
	set := p.set
	set.ID = projectID(p.set.ID, name)
	if name != previousQueue {
		set.Logger = p.set.Logger.With(zap.String("project", name))
	}
	cfg := p.e.cfg
	var ledger *queueLedger
	if p.counted {
		ledger = &queueLedger{retryOff: !cfg.RetryConfig.Enabled}
		if p.trackAccepted {
			ledger.accepted = newAcceptedInRetry()
		}
	}
	push := func(ctx context.Context, data T) error {
		if ledger == nil {
			return push(ctx, p.e, p.codec, data)
		}
		n := p.codec.items(data)
		sent, err := pushCounted(ctx, p.e, p.codec, data)
		left, next := n, data
		if carried, ok := p.codec.carried(err); ok {
			left, next = p.codec.items(carried), carried
		}
		ledger.pushed(n, left, err)
		if ledger.accepted != nil {
			ledger.accepted.pushed(data, next, sent, err)
		}
		return err
	}
	queue := cfg.QueueConfig
	if q := queue.Get(); q != nil && p.codec.inOrder {
		// One consumer: its retry holds the next batch back, so batches go in order.
		ordered := *q
		ordered.NumConsumers = 1
		queue = configoptional.Some(ordered)
	}
	exp, err := p.codec.newProject(ctx, set, cfg, push,
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		exporterhelper.WithTimeout(cfg.TimeoutConfig),
		exporterhelper.WithRetry(cfg.RetryConfig),
		exporterhelper.WithQueue(queue))
	if err != nil {
		return nil, fmt.Errorf("creating the exporter of project %s: %w", name, err)
	}
	// The project's exporter lives as long as the collector's, not as the call that made it.
	if err := exp.Start(context.WithoutCancel(ctx), p.host); err != nil {
		return nil, fmt.Errorf("starting the exporter of project %s: %w", name, err)
	}
	if ledger != nil {
		exp = &countedProject[T]{projectExporter: exp, ledger: ledger, items: p.codec.items}
	}
	p.byProject[name] = exp
	return exp, nil
}

// projectID is the component ID of the exporter of project slug of the exporter parent:
// `sentry/checkout` for `sentry`, `sentry/eu/checkout` for `sentry/eu`, and parent itself for
// previousQueue. It names the project's own telemetry
// (otelcol_exporter_queue_size{exporter="sentry/checkout"}) and its persistent queue; a slug
// holds no `/`, so no two projects or exporters share one.
func projectID(parent component.ID, slug string) component.ID {
	if slug == previousQueue {
		return parent
	}
	if parent.Name() == "" {
		return component.NewIDWithName(parent.Type(), slug)
	}
	return component.NewIDWithName(parent.Type(), parent.Name()+"/"+slug)
}

// projectIndex lists, in the persistent queue's storage, the projects whose exporters keep a
// queue there, so that a restarted collector starts them (see projectExporters.Start).
type projectIndex struct {
	client storage.Client
	slugs  []string
}

// projectIndexKey is the storage key of the list: the slugs, one per line.
const projectIndexKey = "projects"

func openProjectIndex(ctx context.Context, host component.Host, storageID, id component.ID, signal ffi.Signal) (*projectIndex, error) {
	storageExt, err := storageExtension(host, storageID)
	if err != nil {
		return nil, err
	}
	client, err := storageExt.GetClient(ctx, component.KindExporter, id, signal.String()+"_projects")
	if err != nil {
		return nil, fmt.Errorf("opening the list of projects in storage %s: %w", storageID, err)
	}
	stored, err := client.Get(ctx, projectIndexKey)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("reading the list of projects in storage %s: %w", storageID, err), client.Close(ctx))
	}
	return &projectIndex{client: client, slugs: strings.Fields(string(stored))}, nil
}

func (x *projectIndex) projects() []string { return x.slugs }

// add writes slug into the list before its exporter queues anything.
func (x *projectIndex) add(ctx context.Context, slug string) error {
	if slices.Contains(x.slugs, slug) {
		return nil
	}
	slugs := append(slices.Clone(x.slugs), slug)
	if err := x.client.Set(ctx, projectIndexKey, []byte(strings.Join(slugs, "\n"))); err != nil {
		return fmt.Errorf("adding project %s to the list in storage: %w", slug, err)
	}
	x.slugs = slugs
	return nil
}

func (x *projectIndex) close(ctx context.Context) error { return x.client.Close(ctx) }

// batchParts splits a batch of one signal by project and merges batches.
type batchParts[D any] interface {
	// count is the number of resources of a batch.
	count(D) int
	// split is one batch per project of a routing.
	split(D, ffi.Routing) []D
	// merge is one batch holding the resources of several.
	merge([]D) D
	// resourcesAlone moves the scopes out of a batch's resources, so that it encodes as its
	// resources alone; it returns the items of each resource and the function that moves the
	// scopes back.
	resourcesAlone(D) ([]uint64, func())
}

// resourceSlice is what splitting and merging use of ptrace.ResourceSpansSlice,
// plog.ResourceLogsSlice and pmetric.ResourceMetricsSlice.
type resourceSlice[S any, R resource[R]] interface {
	Len() int
	At(int) R
	AppendEmpty() R
	MoveAndAppendTo(S)
}

type resource[R any] interface{ MoveTo(R) }

// resourcesOf reaches the resources of one signal's data (D: ptrace.Traces, ...).
type resourcesOf[D any, S resourceSlice[S, R], R resource[R]] struct {
	newData func() D
	slice   func(D) S
	// aside moves a resource's scopes out of it (scopesAside).
	aside func(R) (uint64, func())
}

// scopeSlice is what scopesAside uses of ptrace.ScopeSpansSlice, plog.ScopeLogsSlice and
// pmetric.ScopeMetricsSlice.
type scopeSlice[SS any, E any] interface {
	Len() int
	At(int) E
	MoveAndAppendTo(SS)
}

// scopesAside is resourcesOf.aside for resources R whose scopes (scopes(R), a slice SS of E)
// hold items(E) items each: it moves them (pointers, nothing copied) into a slice of their
// own and returns the number of items and the function that moves them back.
func scopesAside[R any, SS scopeSlice[SS, E], E any](scopes func(R) SS, newScopes func() SS, items func(E) int) func(R) (uint64, func()) {
	return func(resource R) (uint64, func()) {
		from := scopes(resource)
		var n uint64
		for i := range from.Len() {
			n += uint64(items(from.At(i)))
		}
		held := newScopes()
		from.MoveAndAppendTo(held)
		return n, func() { held.MoveAndAppendTo(scopes(resource)) }
	}
}

func (r resourcesOf[D, S, R]) resourcesAlone(data D) ([]uint64, func()) {
	resources := r.slice(data)
	items := make([]uint64, resources.Len())
	back := make([]func(), resources.Len())
	for i := range resources.Len() {
		items[i], back[i] = r.aside(resources.At(i))
	}
	return items, func() {
		for _, putBack := range back {
			putBack()
		}
	}
}

func (r resourcesOf[D, S, R]) count(data D) int { return r.slice(data).Len() }

// split is one batch per project of routing, each with its resources, in order, moved out of
// data. A batch that goes whole to one project is passed on as it is.
func (r resourcesOf[D, S, R]) split(data D, routing ffi.Routing) []D {
	if len(routing.Projects) == 1 && !slices.Contains(routing.Resources, ffi.Unrouted) {
		return []D{data}
	}
	parts := make([]D, len(routing.Projects))
	for i := range parts {
		parts[i] = r.newData()
	}
	from := r.slice(data)
	for i, project := range routing.Resources {
		if project != ffi.Unrouted {
			from.At(i).MoveTo(r.slice(parts[project]).AppendEmpty())
		}
	}
	return parts
}

// merge is one batch holding the resources of parts (moved out of them).
func (r resourcesOf[D, S, R]) merge(parts []D) D {
	if len(parts) == 1 {
		return parts[0]
	}
	merged := r.newData()
	for _, part := range parts {
		r.slice(part).MoveAndAppendTo(r.slice(merged))
	}
	return merged
}
