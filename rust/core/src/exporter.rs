//! The driver of one batch: route it, run one [`Job`] per project (concurrently, bounded)
//! against the ports (the [`Resolver`] for endpoints, [`AutoCreator`] for creations, a
//! [`Transport`] for ingest), and count the outcomes in one [`Tally`]. It decides nothing
//! itself: the job does.

use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::stream::{self, StreamExt};
use futures_util::FutureExt;

use crate::autocreate::{Admission, AutoCreator};
use crate::clock::{Clock, TokioClock};
use crate::config::{Config, Destination, OrganizationConfig};
use crate::deadline::{Deadline, StopAt};
use crate::endpoint_cache::EndpointCache;
use crate::environment::Environment;
use crate::issues::{Errors, EventDrop, Settled};
use crate::http::{build_client, ClientError};
use crate::ingest::endpoint::IngestEndpoint;
use crate::ingest::envelope::{EnvelopePiece, EnvelopeTransport};
use crate::ingest::otlp::{OtlpPiece, OtlpTransport};
use crate::ingest::{Answer, Piece, Poster, Transport};
use crate::job::{Action, Event, Job, Resolved};
use crate::log::{panic_message, Field, Level, Logger};
use crate::memory::{available_memory, CoreMemory};
use crate::trace_metrics::{Converted, ItemDrop, Metrics};
use crate::mgmt::MgmtClient;
use crate::org::Organization;
use crate::outcome::{DropReason, Outcome, RetryReason};
use crate::preload::preload;
use crate::queues::ProjectQueues;
use crate::ratelimit::RateLimits;
use crate::redact::Redactor;
use crate::resolve::{EndpointSource, Resolver};
use crate::routing::{ProjectPart, Router};
use crate::signal::{OtlpSignal, Signal};
use crate::slug::Slug;
use crate::tally::{Counters, ExportOutcome, Retryable, Tally, Warnings, WARNING_INTERVAL};
use crate::telemetry::Telemetry;
use crate::wire::WireError;

/// Projects of one batch sent at the same time.
const MAX_CONCURRENT_PROJECTS: usize = 16;
/// Error events of one project sent at the same time (one envelope each).
const MAX_CONCURRENT_EVENTS: usize = 4;
/// How often owed error events are looked at, and how long one retry may take.
const OWED_TICK: Duration = Duration::from_secs(1);
const OWED_SEND_BOUND: Duration = Duration::from_secs(30);

pub struct Exporter {
    router: Router,
    resolver: EndpointSource,
    /// The legacy `environment`, added to resources that state none.
    environment: Option<Environment>,
    autocreate: Option<Arc<AutoCreator>>,
    otlp: OtlpTransport,
    envelopes: EnvelopeTransport,
    /// Error events from exceptions; `None` when `errors.enabled` is false.
    errors: Option<Errors>,
    metrics: Metrics,
    limits: Arc<RateLimits>,
    /// The bound on the core's heap: no export starts above it.
    memory: CoreMemory,
    /// The projects that have a queue of their own in the host.
    queues: Mutex<ProjectQueues>,
    telemetry: Arc<Telemetry>,
    clock: Arc<dyn Clock>,
    /// Every message it logs is cleaned by `redactor`.
    logger: Logger,
    /// Cleans the texts handed out otherwise: outcome problems, the health problem.
    redactor: Arc<Redactor>,
    warnings: Warnings,
}

impl Exporter {
    pub fn new(config: &Config, logger: Logger) -> Result<Exporter, ClientError> {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::new());
        let secret = match &config.destination {
            Destination::Organization(org) => org.auth_token.expose(),
            Destination::Dsn(endpoint) => &endpoint.public_key,
        };
        let redactor = Arc::new(Redactor::new([secret.to_owned()]));
        let logger = logger.redacting(redactor.clone());
        let http = build_client(&config.http, &logger)?;
        let telemetry = Arc::new(Telemetry::default());
        let ports = Ports {
            http: &http,
            logger: &logger,
            telemetry: &telemetry,
            clock: &clock,
        };
        let (router, resolver, autocreate) = match &config.destination {
            Destination::Organization(org) => {
                let (resolver, autocreate) = ports.organization(org);
                let resolver = EndpointSource::Lookup(resolver);
                (Router::new(&config.routing), resolver, autocreate)
            }
            Destination::Dsn(endpoint) => {
                let resolver = EndpointSource::Fixed(Arc::new(endpoint.clone()));
                (Router::fixed(dsn_project(endpoint)), resolver, None)
            }
        };
        let limits = Arc::new(RateLimits::default());
        let memory = CoreMemory::new(config.core_memory_limit, available_memory());
        telemetry.core_memory_limit(memory.limit());
        let poster = || {
            let (telemetry, limits) = (telemetry.clone(), limits.clone());
            Poster::new(
                http.clone(),
                config.http.compression,
                telemetry,
                limits,
                clock.clone(),
            )
        };
        Ok(Exporter {
            router,
            environment: config.environment.as_deref().and_then(Environment::new),
            otlp: OtlpTransport::new(poster()),
            envelopes: EnvelopeTransport::new(poster()),
            errors: Errors::new(&config.errors),
            metrics: Metrics::new(&config.metrics, unix_nanos(clock.wall())),
            resolver,
            autocreate,
            limits,
            memory,
            queues: Mutex::new(ProjectQueues::new(config.max_project_queues)),
            telemetry,
            clock,
            warnings: Warnings::new(logger.clone()),
            logger,
            redactor,
        })
    }

    /// The background work of a started exporter: loading every project's
    /// endpoint (none in `dsn` mode). Runs on the exporter's runtime until done or shut down.
    pub fn background(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let work = self.resolver.lookups().map(|resolver| {
            preload(
                resolver.mgmt.clone(),
                resolver.endpoints.clone(),
                resolver.org.clone(),
                self.logger.clone(),
                self.clock.clone(),
            )
        });
        async move {
            if let Some(work) = work {
                work.await;
            }
        }
    }

    /// Projects whose ingest endpoint is known.
    pub fn known_projects(&self) -> usize {
        self.resolver.known_projects()
    }

    /// Projects this exporter created.
    pub fn created_projects(&self) -> u64 {
        self.telemetry.projects_created()
    }

    /// The logger of the core: the host's, with every message cleaned of secrets.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// The exporter's counters, as described by [`Telemetry::snapshot`].
    pub fn telemetry(&self) -> serde_json::Value {
        self.telemetry.snapshot(self.known_projects() as u64)
    }

    /// What keeps Sentry from being used now (every cause, cleaned of secrets); `None` when
    /// all is well.
    pub fn health_problem(&self) -> Option<String> {
        let problem = self.telemetry.health().problem()?;
        Some(self.redactor.clean(&problem))
    }

    /// The core's one clock.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The transport of OTLP spans and log records.
    pub fn otlp(&self) -> &OtlpTransport {
        &self.otlp
    }

    /// The transport of Sentry envelopes (error events, trace metrics).
    pub fn envelopes(&self) -> &EnvelopeTransport {
        &self.envelopes
    }

    /// `Err` (counted, and warned about once a minute) when the core's heap is over its limit:
    /// no export starts then, its data waits in the collector's queue.
    pub fn memory_for_export(&self) -> Result<(), MemoryFull> {
        let live_bytes = crate::heap::stats().live_bytes;
        if self.memory.admits(live_bytes) {
            return Ok(());
        }
        self.telemetry.export_refused_for_memory();
        let full = MemoryFull {
            live_bytes,
            limit: self.memory.limit().unwrap_or_default(),
        };
        let fields = [
            Field::str("status", "retryable"),
            Field::str("reason", "core_memory"),
        ];
        let message = || format!("{full}; exports wait in their queues until it falls");
        self.warnings
            .warn("core_memory", message, &fields, &*self.clock);
        Err(full)
    }

    /// Exports one OTLP request; each project gets until `deadline`.
    pub async fn export(
        &self,
        signal: Signal,
        request: &[u8],
        deadline: &Deadline,
    ) -> Result<ExportOutcome, WireError> {
        let signal = match signal {
            Signal::Traces => OtlpSignal::Traces,
            Signal::Logs => OtlpSignal::Logs,
            Signal::Metrics => return self.export_metrics(request, deadline).await,
        };
        let request = self.with_environment(signal.into(), request)?;
        let request = self.repair_strings(signal, &request);
        let request = &*request;
        let routed = self.router.route(request)?;
        let mut tally = Tally::new(signal.into(), self.counters());
        for (reason, items) in &routed.dropped {
            tally.unrouted(*reason, *items);
        }
        let parts = stream::iter(&routed.parts)
            .map(|part| async move {
                let events = self.events_of(signal, part, request);
                let data = self.run_part(signal, part, request, deadline);
                let (outcomes, ()) =
                    futures_util::future::join(data, self.send_events(part, events, deadline))
                        .await;
                (part, outcomes)
            })
            .buffered(MAX_CONCURRENT_PROJECTS)
            .collect::<Vec<_>>()
            .await;
        for (part, outcomes) in parts {
            for outcome in outcomes {
                tally.add(&part.slug, outcome);
            }
        }
        Ok(tally.finish())
    }

    /// Where each resource of `request` goes, sending nothing: the host queues each project's
    /// resources apart, so that one project's trouble never holds another's (docs/design.md).
    /// The dropped resources' items are counted and logged here, once: each project's own
    /// export routes its resources again and finds none to drop.
    pub fn route(&self, signal: Signal, request: &[u8]) -> Result<Routing, WireError> {
        let request = self.with_environment(signal, request)?;
        // The router reads a routing attribute's invalid UTF-8 as the export repairs it.
        let routed = self.router.route(&request)?;
        let mut tally = Tally::new(signal, self.counters());
        for (reason, items) in &routed.dropped {
            tally.unrouted(*reason, *items);
        }
        tally.finish();
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let own_queue = routed
            .parts
            .iter()
            .map(|part| queues.own_queue(&part.slug, self.resolver.is_known(&part.slug)))
            .collect();
        drop(queues);
        Ok(Routing {
            projects: routed.parts.into_iter().map(|part| part.slug).collect(),
            own_queue,
            resources: routed.resources,
        })
    }

    /// The host holds queues of these projects from before a restart: they keep them, within
    /// `max_project_queues`. Returns those that do.
    pub fn restore_queues<'s>(&self, slugs: impl IntoIterator<Item = &'s Slug>) -> Vec<Slug> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        slugs
            .into_iter()
            .filter(|slug| queues.restore(slug))
            .cloned()
            .collect()
    }

    /// `request` with the legacy `environment` added to the resources of spans and log records
    /// that state none; metrics requests as they are (their path reads resources itself).
    fn with_environment<'r>(
        &self,
        signal: Signal,
        request: &'r [u8],
    ) -> Result<Cow<'r, [u8]>, WireError> {
        match (&self.environment, signal) {
            (Some(environment), Signal::Traces | Signal::Logs) => environment.apply(request),
            _ => Ok(Cow::Borrowed(request)),
        }
    }

    /// `request` with invalid UTF-8 in its strings replaced, counted and warned about: Sentry
    /// would refuse the whole request for one bad string.
    fn repair_strings<'r>(&self, signal: OtlpSignal, request: &'r [u8]) -> Cow<'r, [u8]> {
        let repaired = crate::utf8::repair(signal, request);
        if repaired.strings > 0 {
            let (signal, strings) = (Signal::from(signal), repaired.strings);
            self.telemetry.strings_repaired(signal, strings);
            let message = || {
                format!(
                    "{strings} string fields of {} held invalid UTF-8, replaced with U+FFFD to be sent",
                    signal.item_name()
                )
            };
            let fields = [
                Field::str("signal", signal.name()),
                Field::u64("count", strings),
            ];
            let key = format!("invalid_utf8:{}", signal.name());
            self.warnings.warn(&key, message, &fields, &*self.clock);
        }
        repaired.request
    }

    fn counters(&self) -> Counters<'_> {
        Counters {
            telemetry: &self.telemetry,
            warnings: &self.warnings,
            redactor: &self.redactor,
            logger: &self.logger,
            clock: &*self.clock,
        }
    }

    /// One project's job, with a panic kept to this project: its data comes back to be
    /// retried, and what the batch's other projects did stands, so a retry never sends their
    /// data twice.
    async fn run_part(
        &self,
        signal: OtlpSignal,
        part: &ProjectPart,
        request: &[u8],
        deadline: &Deadline,
    ) -> Vec<Outcome<OtlpPiece>> {
        let piece = || OtlpPiece {
            signal,
            request: crate::release::stamped(signal, part.request(request)),
            items: part.items,
        };
        let platform = part.platform.unwrap_or(crate::platform::OTHER);
        let job = Job::new(piece()).with_platform(platform);
        self.contained(&part.slug, job, &self.otlp, deadline, piece)
            .await
    }

    /// [`Exporter::run_job`], with a panic kept to this job: logged, and its data (`piece`)
    /// handed back to be retried.
    async fn contained<P: Piece>(
        &self,
        slug: &Slug,
        job: Job<P>,
        transport: &impl Transport<P>,
        deadline: &Deadline,
        piece: impl FnOnce() -> P,
    ) -> Vec<Outcome<P>> {
        let work = self.run_job(slug, job, transport, deadline);
        AssertUnwindSafe(work)
            .catch_unwind()
            .await
            .unwrap_or_else(|payload| {
                let reason = panic_message(&*payload).to_owned();
                let problem = format!("project {slug}: the exporter panicked: {reason}");
                self.logger.log(Level::Error, problem);
                let piece = piece();
                let items = piece.items();
                let reason = RetryReason::Panicked(reason);
                vec![Outcome::Retry {
                    piece,
                    items,
                    reason,
                    delay: None,
                }]
            })
    }

    /// Does what `job` asks until it is done: lookups, creations and sends, each within
    /// `deadline`.
    pub async fn run_job<P: Piece>(
        &self,
        slug: &Slug,
        mut job: Job<P>,
        transport: &impl Transport<P>,
        deadline: &Deadline,
    ) -> Vec<Outcome<P>> {
        let mut event = Event::Start;
        loop {
            event = match job.step(event, self.clock.now(), &self.limits) {
                Action::LookUp => Event::LookedUp(self.resolve(slug, deadline).await),
                Action::LookUpAgain { stale } => {
                    self.resolver.evict(slug, &stale).await;
                    Event::LookedUp(self.resolve(slug, deadline).await)
                }
                Action::RequestCreation { platform } => Event::Admitted(match &self.autocreate {
                    Some(creator) => creator.request(slug, platform, self.clock.now()),
                    None => Admission::Off,
                }),
                Action::Send { endpoint, piece } => {
                    #[cfg(feature = "fault-injection")]
                    injected_panic(slug);
                    let send = transport.send(endpoint, piece);
                    Event::Answered(deadline.within(send).await.unwrap_or_else(|_| {
                        // Cut off, the request may have reached Sentry: as no answer in time.
                        let reason = "export timeout reached while sending".into();
                        Answer::TimedOut { reason }
                    }))
                }
                Action::Done(outcomes) => return outcomes,
            }
        }
    }

    /// Exports one OTLP metrics request: per project, its metrics as trace metric items.
    async fn export_metrics(
        &self,
        request: &[u8],
        deadline: &Deadline,
    ) -> Result<ExportOutcome, WireError> {
        let routed = self.router.route(request)?;
        let mut tally = Tally::new(Signal::Metrics, self.counters());
        for (reason, items) in &routed.dropped {
            tally.unrouted(*reason, *items);
        }
        let parts = stream::iter(&routed.parts)
            .map(|part| async move { (part, self.run_metrics_part(part, request, deadline).await) })
            .buffered(MAX_CONCURRENT_PROJECTS)
            .collect::<Vec<_>>()
            .await;
        for (part, ended) in parts {
            match ended {
                Ok(items) => tally.accepted(&part.slug, items),
                Err(outcome) => tally.add(&part.slug, outcome),
            }
        }
        self.telemetry.metric_series(self.metrics.series());
        Ok(tally.finish())
    }

    /// One project's metrics of a batch: converted, sent, and their series moved on for what
    /// Sentry settled. When an envelope must be retried the project's whole part comes back
    /// to the collector: its settled points are stale then, and make nothing again.
    /// `Ok`: all accepted (the part's metrics); else what became of the part.
    async fn run_metrics_part(
        &self,
        part: &ProjectPart,
        request: &[u8],
        deadline: &Deadline,
    ) -> Result<u64, Outcome<MetricsPart>> {
        let _one_batch_at_a_time = self.metrics.serialize(&part.slug).await;
        let blocks = part.blocks.iter().map(|range| &request[range.clone()]);
        let mut converted = match self.metrics.convert(&part.slug, blocks, self.clock.now()) {
            Ok(converted) => converted,
            Err(e) => {
                let detail = format!("the metrics could not be read: {e}");
                return Err(Outcome::Dropped {
                    items: part.items,
                    reason: DropReason::Rejected,
                    detail,
                });
            }
        };
        let items = part.items;
        let sent = self.send_metrics(part, &mut converted, deadline).await;
        if let Some((reason, delay)) = sent.retry {
            // Counted when the batch is done: a retry reads its points again.
            return Err(Outcome::Retry {
                piece: MetricsPart(part.request(request)),
                items,
                reason,
                delay,
            });
        }
        self.count_conversion(&part.slug, &converted);
        match sent.dropped {
            Some((reason, detail)) if !sent.any_sent => Err(Outcome::Dropped {
                items,
                reason,
                detail,
            }),
            // Items dropped beside accepted ones were counted as items.
            _ => Ok(items),
        }
    }

    /// Sends `converted`'s envelopes of `part` in order, none after one to retry, and moves
    /// their series on for what Sentry settled.
    async fn send_metrics(
        &self,
        part: &ProjectPart,
        converted: &mut Converted,
        deadline: &Deadline,
    ) -> MetricsSent {
        let platform = part.platform.unwrap_or(crate::platform::OTHER);
        let job = Job::in_order(std::mem::take(&mut converted.pieces)).with_platform(platform);
        let empty = || EnvelopePiece::TraceMetrics(Vec::new());
        let outcomes = self
            .contained(&part.slug, job, &self.envelopes, deadline, empty)
            .await;
        let mut sent = MetricsSent::default();
        let (mut accepted, mut retried) = (Vec::new(), Vec::new());
        let mut known = true;
        for outcome in outcomes {
            match outcome {
                Outcome::Sent { piece, .. } => accepted.push(piece),
                Outcome::Dropped {
                    items,
                    reason,
                    detail,
                } => {
                    self.items_dropped(&part.slug, ItemDrop::Ingest(reason), items, &detail);
                    sent.dropped = Some((reason, detail));
                }
                Outcome::Retry {
                    piece,
                    reason,
                    delay,
                    ..
                } => {
                    known &= !matches!(reason, RetryReason::Panicked(_));
                    if sent.retry.as_ref().is_none_or(|(_, d)| delay > *d) {
                        sent.retry = Some((reason, delay));
                    }
                    retried.push(piece);
                }
            }
        }
        let now = self.clock.now();
        let settled = self
            .metrics
            .settle(&part.slug, converted, &accepted, &retried, known, now);
        self.telemetry.metric_items_sent(settled.sent);
        sent.any_sent = settled.sent > 0;
        sent
    }

    /// What the conversion of a batch left out, counted once the batch is done.
    fn count_conversion(&self, slug: &Slug, converted: &Converted) {
        let telemetry = &self.telemetry;
        telemetry.metric_points_received(converted.points);
        telemetry.metric_points_excluded(converted.excluded + converted.unreadable);
        let dropped = [
            (
                ItemDrop::Capped,
                converted.capped,
                "over metrics.max_items_per_minute",
            ),
            (
                ItemDrop::SeriesLimit,
                converted.series_limit,
                "their series found no room in metrics.max_series_mib",
            ),
            (
                ItemDrop::Ingest(DropReason::TooLarge),
                converted.too_large,
                "over Sentry's limit per trace metric (1 MiB) or per envelope",
            ),
        ];
        for (reason, items, detail) in dropped {
            if items > 0 {
                self.items_dropped(slug, reason, items, detail);
            }
        }
    }

    fn items_dropped(&self, slug: &Slug, reason: ItemDrop, items: u64, detail: &str) {
        self.telemetry.metric_items_dropped(reason, items);
        self.warn_dropped(slug, "trace metric items", reason.label(), items, detail);
    }

    /// The error events of `part`'s exceptions, counted as found (deduplicated, capped).
    /// A span or log record that cannot be read makes no event and is still sent as it is.
    fn events_of(
        &self,
        signal: OtlpSignal,
        part: &ProjectPart,
        request: &[u8],
    ) -> Vec<EnvelopePiece> {
        let Some(errors) = &self.errors else {
            return Vec::new();
        };
        let blocks = part.blocks.iter().map(|range| &request[range.clone()]);
        let (now, wall) = (self.clock.now(), self.clock.wall());
        let slug = &part.slug;
        match errors.derive(signal, slug, blocks, now, wall) {
            Ok(derived) => {
                self.telemetry
                    .error_events_deduplicated(derived.deduplicated);
                if derived.capped > 0 {
                    self.event_dropped(
                        slug,
                        EventDrop::Capped,
                        derived.capped,
                        "over errors.max_per_minute",
                    );
                }
                derived
                    .events
                    .into_iter()
                    .map(|e| EnvelopePiece::Error(Box::new(e)))
                    .collect()
            }
            Err(e) => {
                let message =
                    || format!("project {slug}: exceptions not read, no error events made: {e}");
                let fields = [Field::str("project", slug.as_str())];
                self.warnings.warn(
                    &format!("unread_exceptions:{slug}"),
                    message,
                    &fields,
                    &*self.clock,
                );
                Vec::new()
            }
        }
    }

    /// Sends `part`'s error events, each in its own envelope.
    async fn send_events(
        &self,
        part: &ProjectPart,
        events: Vec<EnvelopePiece>,
        deadline: &Deadline,
    ) {
        let platform = part.platform.unwrap_or(crate::platform::OTHER);
        stream::iter(events)
            .for_each_concurrent(MAX_CONCURRENT_EVENTS, |piece| {
                self.send_event(&part.slug, platform, piece, 1, deadline)
            })
            .await;
    }

    /// One attempt (the `attempts`-th) to send one error event; what failed is owed.
    async fn send_event(
        &self,
        slug: &Slug,
        platform: &'static str,
        piece: EnvelopePiece,
        attempts: u32,
        deadline: &Deadline,
    ) {
        let Some(errors) = &self.errors else { return };
        let job = Job::new(piece.clone()).with_platform(platform);
        let outcomes = self
            .contained(slug, job, &self.envelopes, deadline, || piece)
            .await;
        let now = self.clock.now();
        for outcome in outcomes {
            match errors.settle(slug, platform, outcome, attempts, now) {
                Settled::Sent => self.telemetry.error_event_sent(),
                Settled::Owed => {}
                Settled::Dropped(reason, detail) => self.event_dropped(slug, reason, 1, &detail),
            }
        }
        self.telemetry.error_events_owed(errors.owed());
    }

    fn event_dropped(&self, slug: &Slug, reason: EventDrop, events: u64, detail: &str) {
        self.telemetry.error_events_dropped(reason, events);
        self.warn_dropped(slug, "error events", reason.label(), events, detail);
    }

    /// A throttled warning that `count` `what` of `slug` were dropped, for `label`: it says
    /// all such drops since the last one.
    fn warn_dropped(
        &self,
        slug: &Slug,
        what: &'static str,
        label: &'static str,
        count: u64,
        detail: &str,
    ) {
        let (shown_slug, detail) = (slug.clone(), detail.to_owned());
        let message =
            move |n| format!("project {shown_slug}: {n} {what} dropped ({label}): {detail}");
        let key = format!("{what}:{label}:{slug}");
        let cause = (Some(slug.as_str()), label);
        (self.warnings).dropped(&key, count, cause, Box::new(message), &*self.clock);
    }

    /// Says the drops held since their last warning: every [`WARNING_INTERVAL`] until the
    /// runtime stops (then [`Exporter::flush_warnings`] says the rest).
    pub async fn flush_warnings_every_interval(self: Arc<Self>) {
        loop {
            self.clock.sleep(WARNING_INTERVAL / 4).await;
            self.warnings.flush(self.clock.now(), false);
        }
    }

    /// Says every drop not said yet (at shutdown).
    pub fn flush_warnings(&self) {
        self.warnings.flush(self.clock.now(), true);
    }

    /// Sends the owed error events as they fall due, until the runtime stops; each attempt
    /// ends within 30 s (`OWED_SEND_BOUND`) or the host's shutdown deadline (`stop`).
    pub async fn retry_owed(self: Arc<Self>, stop: StopAt) {
        let Some(errors) = &self.errors else { return };
        loop {
            self.clock.sleep(OWED_TICK).await;
            let due = errors.take_due(self.clock.now());
            let own = self.clock.now() + OWED_SEND_BOUND;
            let deadline = Deadline::new(own, stop.clone(), self.clock.clone());
            stream::iter(due)
                .for_each_concurrent(MAX_CONCURRENT_EVENTS, |owed| {
                    let (slug, attempts) = (owed.slug.clone(), owed.attempts + 1);
                    let deadline = &deadline;
                    let this = &self;
                    async move {
                        match owed.piece() {
                            Ok(piece) => {
                                this.send_event(&slug, owed.platform, piece, attempts, deadline)
                                    .await
                            }
                            Err(e) => {
                                let detail = format!("could not be read back to retry it: {e}");
                                this.event_dropped(&slug, EventDrop::RetryQueueFull, 1, &detail)
                            }
                        }
                    }
                })
                .await;
        }
    }

    /// The exporter stops: the error events still owed are dropped, and counted.
    pub fn abandon_owed(&self) {
        let Some(errors) = &self.errors else { return };
        let owed = errors.take_all();
        for event in &owed {
            let detail = "still waiting to be retried when the exporter stopped";
            self.event_dropped(&event.slug, EventDrop::Shutdown, 1, detail);
        }
        self.telemetry.error_events_owed((0, 0));
    }

    async fn resolve(&self, slug: &Slug, deadline: &Deadline) -> Resolved {
        let found = deadline.within(self.resolver.resolve(slug)).await;
        found.unwrap_or(Resolved::DeadlineReached)
    }
}

/// Test-only hook (feature `fault-injection`, absent from release builds): a panic deep inside
/// an export, after a lookup, while the batch's other projects are in flight.
#[cfg(feature = "fault-injection")]
fn injected_panic(slug: &Slug) {
    if slug.as_str() == "fault-injection-panic" {
        panic!("injected panic (fault-injection) in the export of project {slug}");
    }
}

/// What the construction of the management API's ports needs.
struct Ports<'a> {
    http: &'a reqwest::Client,
    logger: &'a Logger,
    telemetry: &'a Arc<Telemetry>,
    clock: &'a Arc<dyn Clock>,
}

impl Ports<'_> {
    /// The resolver (management API, endpoint cache, organization) and, when on, the creator
    /// of projects.
    fn organization(&self, config: &OrganizationConfig) -> (Resolver, Option<Arc<AutoCreator>>) {
        let (telemetry, clock) = (self.telemetry, self.clock);
        let endpoints = Arc::new(EndpointCache::default());
        let mgmt = Arc::new(MgmtClient::new(
            self.http.clone(),
            &config.url,
            config.org_slug.clone(),
            config.auth_token.clone(),
            telemetry.clone(),
            clock.clone(),
        ));
        let org = Arc::new(Organization::new(
            config.org_slug.clone(),
            shown_url(&config.url),
            telemetry.clone(),
        ));
        let autocreate = config.auto_create_projects.then(|| {
            Arc::new(AutoCreator::new(
                mgmt.clone(),
                endpoints.clone(),
                self.logger.clone(),
                telemetry.clone(),
                clock.clone(),
                config.team.clone(),
                config.max_created_projects,
            ))
        });
        let resolver = Resolver::new(endpoints, mgmt, org, clock.clone());
        (resolver, autocreate)
    }
}

/// The name the DSN's project goes by in telemetry and messages: `dsn-{project id}` (a slug
/// may not be all digits).
fn dsn_project(endpoint: &IngestEndpoint) -> Slug {
    Slug::parse(&format!("dsn-{}", endpoint.project_id))
        .expect("dsn- and digits, at most 24 characters, is a slug")
}

/// The core's heap is over its limit (see [`Exporter::memory_for_export`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the Rust core's heap holds {live_bytes} bytes, over its limit of {limit} (core_memory_limit_mib)")]
pub struct MemoryFull {
    pub live_bytes: u64,
    pub limit: u64,
}

/// Where each resource of one request goes (see [`Exporter::route`]).
#[derive(Debug)]
pub struct Routing {
    /// The request's projects, in order of first appearance.
    pub projects: Vec<Slug>,
    /// For each project: whether its data goes to a queue of its own, else to the shared one.
    pub own_queue: Vec<bool>,
    /// For each resource of the request, in order: the index in `projects` of its project,
    /// `None` when it is dropped.
    pub resources: Vec<Option<usize>>,
}

/// What became of one project's trace metric envelopes.
#[derive(Default)]
struct MetricsSent {
    /// The longest delay asked by an envelope to retry, with its reason.
    retry: Option<(RetryReason, Option<Duration>)>,
    dropped: Option<(DropReason, String)>,
    any_sent: bool,
}

/// A project's OTLP metrics request, handed back to the collector whole to be retried.
pub struct MetricsPart(Vec<u8>);

impl Retryable for MetricsPart {
    fn into_request(self) -> Vec<u8> {
        self.0
    }
}

/// Nanoseconds since the Unix epoch (0 before it).
fn unix_nanos(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// `url` for messages: without the user and password it may carry.
fn shown_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    // Both fail only for URLs that cannot have credentials, which then have none to hide.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials() {
        let table = [
            (
                "https://user:secret@sentry.example.com/sentry",
                "https://sentry.example.com/sentry",
            ),
            ("https://sentry.io", "https://sentry.io/"),
        ];
        for (url, shown) in table {
            let url = url::Url::parse(url).unwrap();
            assert_eq!(shown_url(&url), shown);
        }
    }
}
