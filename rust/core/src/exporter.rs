//! The exporter as the host drives it: a batch prepared ([`crate::prepare`]), routed
//! ([`crate::routing`]), and each project's part run through every payload that takes its
//! signal ([`crate::payload`]) by the [`Driver`], concurrently and bounded; what they count is
//! added up in one [`Tally`]. It knows no payload: each plugs in through the same trait.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::stream::{self, StreamExt};

use crate::autocreate::AutoCreator;
use crate::clock::{Clock, TokioClock};
use crate::config::{Config, Destination, OrganizationConfig};
use crate::deadline::{Deadline, StopAt};
use crate::driver::{Driver, Exports, MAX_CONCURRENT_PROJECTS};
use crate::endpoint_cache::EndpointCache;
use crate::environment::Environment;
use crate::forward::Forward;
use crate::http::{build_client, ClientError};
use crate::ingest::endpoint::IngestEndpoint;
use crate::ingest::envelope::EnvelopeTransport;
use crate::ingest::otlp::OtlpTransport;
use crate::ingest::Poster;
use crate::issues::Issues;
use crate::log::{Field, Logger};
use crate::memory::{available_memory, CoreMemory};
use crate::mgmt::MgmtClient;
use crate::org::Organization;
use crate::outcome::Counted;
use crate::payload::Part;
use crate::preload::preload;
use crate::prepare::Prepare;
use crate::queues::ProjectQueues;
use crate::ratelimit::RateLimits;
use crate::redact::Redactor;
use crate::resolve::{EndpointSource, Resolver};
use crate::routing::{ProjectPart, Router};
use crate::signal::Signal;
use crate::slug::Slug;
use crate::sync::locked;
use crate::tally::{Counters, ExportOutcome, Tally, Warnings, WARNING_INTERVAL};
use crate::telemetry::Telemetry;
use crate::trace_metrics::{MetricState, TraceMetrics};
use crate::wire::WireError;

/// How often the payloads' own retries are looked at, and how long one round may take.
const RETRY_TICK: Duration = Duration::from_secs(1);
const RETRY_BOUND: Duration = Duration::from_secs(30);

pub struct Exporter {
    router: Router,
    prepare: Prepare,
    driver: Driver,
    /// Every kind of payload, each run for the batches of the signals it takes.
    payloads: Vec<Box<dyn Exports>>,
    otlp: Arc<OtlpTransport>,
    envelopes: Arc<EnvelopeTransport>,
    /// The bound on the core's heap: no export starts above it.
    memory: CoreMemory,
    /// The projects that have a queue of their own in the host.
    queues: Mutex<ProjectQueues>,
    telemetry: Arc<Telemetry>,
    /// Cleans the texts handed out otherwise: outcome problems, the health problem. Every
    /// message the driver's logger logs is cleaned by it too.
    redactor: Arc<Redactor>,
    warnings: Arc<Warnings>,
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
        let warnings = Arc::new(Warnings::new(logger.clone()));
        let limits = Arc::new(RateLimits::default());
        let poster = Poster::new(
            http.clone(),
            config.http.compression,
            telemetry.clone(),
            limits.clone(),
            clock.clone(),
        );
        let otlp = Arc::new(OtlpTransport::new(poster.clone()));
        let envelopes = Arc::new(EnvelopeTransport::new(poster));
        let (router, resolver, autocreate) =
            destination(config, &http, &logger, &telemetry, &clock);
        let memory = CoreMemory::new(config.core_memory_limit, available_memory());
        telemetry.core_memory_limit(memory.limit());
        let payloads = payloads(config, &otlp, &envelopes, &telemetry, &warnings, &*clock);
        Ok(Exporter {
            router,
            prepare: Prepare {
                environment: config.environment.as_deref().and_then(Environment::new),
            },
            driver: Driver {
                resolver,
                autocreate,
                limits,
                clock,
                logger,
            },
            payloads,
            otlp,
            envelopes,
            memory,
            queues: Mutex::new(ProjectQueues::new(config.max_project_queues)),
            telemetry,
            redactor,
            warnings,
        })
    }

    /// The background work of a started exporter: loading every project's
    /// endpoint (none in `dsn` mode). Runs on the exporter's runtime until done or shut down.
    pub fn background(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let driver = &self.driver;
        let work = driver.resolver.lookups().map(|resolver| {
            preload(
                resolver.mgmt.clone(),
                resolver.endpoints.clone(),
                resolver.org.clone(),
                driver.logger.clone(),
                driver.clock.clone(),
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
        self.driver.resolver.known_projects()
    }

    /// Projects this exporter created.
    pub fn created_projects(&self) -> u64 {
        self.telemetry.projects_created()
    }

    /// The logger of the core: the host's, with every message cleaned of secrets.
    pub fn logger(&self) -> &Logger {
        &self.driver.logger
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
        self.driver.clock.clone()
    }

    /// The driver of every job.
    pub fn driver(&self) -> &Driver {
        &self.driver
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
        let now = self.driver.clock.now();
        self.warnings.warn("core_memory", message, &fields, now);
        Err(full)
    }

    /// Exports one OTLP request of `signal`: each project's part through every payload that
    /// takes the signal, each project within `deadline`.
    pub async fn export(
        &self,
        signal: Signal,
        request: &[u8],
        deadline: &Deadline,
    ) -> Result<ExportOutcome, WireError> {
        let now = self.driver.clock.now();
        let telemetry = &self.telemetry;
        let request = (self.prepare).prepared(signal, request, telemetry, &self.warnings, now)?;
        let request = &*request;
        let routed = self.router.route(request)?;
        let mut tally = Tally::new(self.counters());
        for (reason, items) in &routed.dropped {
            tally.unrouted(signal, *reason, *items);
        }
        // Made before the stream, not by a closure in it: a closure's `async` block would keep
        // the compiler from seeing that this future is `Send`.
        let runs: Vec<_> = (routed.parts.iter())
            .map(|routed| self.export_part(signal, routed, request, deadline))
            .collect();
        let parts = stream::iter(runs)
            .buffered(MAX_CONCURRENT_PROJECTS)
            .collect::<Vec<_>>()
            .await;
        for (routed, counted) in parts {
            for counted in counted.into_iter().flatten() {
                tally.add(&routed.slug, counted);
            }
        }
        Ok(tally.finish())
    }

    /// One project's part through every payload that takes its signal.
    async fn export_part<'a>(
        &'a self,
        signal: Signal,
        routed: &'a ProjectPart,
        request: &'a [u8],
        deadline: &'a Deadline,
    ) -> (&'a ProjectPart, Vec<Vec<Counted>>) {
        let part = Part::new(signal, routed, request);
        let payloads = self.payloads.iter().filter(|p| p.takes(signal));
        let runs = payloads.map(|p| p.export(&self.driver, &part, deadline));
        (routed, futures_util::future::join_all(runs).await)
    }

    /// Where each resource of `request` goes, sending nothing: the host queues each project's
    /// resources apart, so that one project's trouble never holds another's (docs/design.md).
    /// The dropped resources' items are counted and logged here, once: each project's own
    /// export routes its resources again and finds none to drop.
    ///
    /// `request` holds the resources alone (see [`Router::route_resources`]), `items` the items
    /// of each, one count per resource block.
    pub fn route(
        &self,
        signal: Signal,
        request: &[u8],
        items: &[u64],
    ) -> Result<Routing, RouteError> {
        let request = self.prepare.with_environment(signal, request)?;
        // The router reads a routing attribute's invalid UTF-8 as the export repairs it.
        let routed = self.router.route_resources(&request, items)?;
        if routed.resources.len() != items.len() {
            return Err(RouteError::ItemCounts {
                counts: items.len(),
                resources: routed.resources.len(),
            });
        }
        let mut tally = Tally::new(self.counters());
        for (reason, items) in &routed.dropped {
            tally.unrouted(signal, *reason, *items);
        }
        tally.finish();
        let mut queues = locked(&self.queues);
        let resolver = &self.driver.resolver;
        let own_queue = (routed.parts.iter())
            .map(|part| queues.own_queue(&part.slug, resolver.is_known(&part.slug)))
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
        let mut queues = locked(&self.queues);
        slugs
            .into_iter()
            .filter(|slug| queues.restore(slug))
            .cloned()
            .collect()
    }

    fn counters(&self) -> Counters<'_> {
        Counters {
            telemetry: &self.telemetry,
            warnings: &self.warnings,
            redactor: &self.redactor,
            logger: &self.driver.logger,
            clock: &*self.driver.clock,
        }
    }

    /// Counts what the payloads' own retries came to (no batch's outcome).
    fn count(&self, counted: Vec<(Slug, Counted)>) {
        let mut tally = Tally::new(self.counters());
        for (slug, counted) in counted {
            tally.add(&slug, counted);
        }
        tally.finish();
    }

    /// Says the drops held since their last warning: every [`WARNING_INTERVAL`] until the
    /// runtime stops (then [`Exporter::flush_warnings`] says the rest).
    pub async fn flush_warnings_every_interval(self: Arc<Self>) {
        loop {
            self.driver.clock.sleep(WARNING_INTERVAL / 4).await;
            self.warnings.flush(self.driver.clock.now(), false);
        }
    }

    /// Says every drop not said yet (at shutdown).
    pub fn flush_warnings(&self) {
        self.warnings.flush(self.driver.clock.now(), true);
    }

    /// Sends what the payloads keep to retry themselves (error events Sentry did not take
    /// yet) as it falls due, until the runtime stops; each round ends within 30 s
    /// (`RETRY_BOUND`) or the host's shutdown deadline (`stop`).
    pub async fn retry_kept(self: Arc<Self>, stop: StopAt) {
        let clock = self.driver.clock.clone();
        loop {
            clock.sleep(RETRY_TICK).await;
            let own = clock.now() + RETRY_BOUND;
            let deadline = Deadline::new(own, stop.clone(), clock.clone());
            for payload in &self.payloads {
                let counted = payload.retry_due(&self.driver, &deadline).await;
                self.count(counted);
            }
        }
    }

    /// The exporter stops: what the payloads still keep is dropped, and counted.
    pub fn abandon_kept(&self) {
        for payload in &self.payloads {
            self.count(payload.abandon());
        }
    }
}

/// The router, the resolver of endpoints and (when on) the creator of projects, for the
/// configured destination.
fn destination(
    config: &Config,
    http: &reqwest::Client,
    logger: &Logger,
    telemetry: &Arc<Telemetry>,
    clock: &Arc<dyn Clock>,
) -> (Router, EndpointSource, Option<Arc<AutoCreator>>) {
    match &config.destination {
        Destination::Organization(org) => {
            let (resolver, autocreate) = organization(org, http, logger, telemetry, clock);
            let resolver = EndpointSource::Lookup(resolver);
            (Router::new(&config.routing), resolver, autocreate)
        }
        Destination::Dsn(endpoint) => {
            let resolver = EndpointSource::Fixed(Arc::new(endpoint.clone()));
            (Router::fixed(dsn_project(endpoint)), resolver, None)
        }
    }
}

/// The resolver (management API, endpoint cache, organization) and, when on, the creator
/// of projects.
fn organization(
    config: &OrganizationConfig,
    http: &reqwest::Client,
    logger: &Logger,
    telemetry: &Arc<Telemetry>,
    clock: &Arc<dyn Clock>,
) -> (Resolver, Option<Arc<AutoCreator>>) {
    let endpoints = Arc::new(EndpointCache::default());
    let mgmt = Arc::new(MgmtClient::new(
        http.clone(),
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
            logger.clone(),
            telemetry.clone(),
            clock.clone(),
            config.team.clone(),
            config.max_created_projects,
        ))
    });
    let resolver = Resolver::new(endpoints, mgmt, org, clock.clone());
    (resolver, autocreate)
}

/// Every payload: spans and log records forwarded, error events made of their exceptions
/// (unless `errors.enabled` is false), trace metrics made of metrics.
fn payloads(
    config: &Config,
    otlp: &Arc<OtlpTransport>,
    envelopes: &Arc<EnvelopeTransport>,
    telemetry: &Arc<Telemetry>,
    warnings: &Arc<Warnings>,
    clock: &dyn Clock,
) -> Vec<Box<dyn Exports>> {
    let mut payloads: Vec<Box<dyn Exports>> = vec![Box::new(Forward::new(otlp.clone()))];
    let issues = Issues::new(
        &config.errors,
        envelopes.clone(),
        telemetry.clone(),
        warnings.clone(),
    );
    if let Some(issues) = issues {
        payloads.push(Box::new(issues));
    }
    let state = MetricState::new(&config.metrics, unix_nanos(clock.wall()));
    let metrics = TraceMetrics::new(state, envelopes.clone(), telemetry.clone());
    payloads.push(Box::new(metrics));
    payloads
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

/// Why a request could not be routed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("{counts} item counts for {resources} resources")]
    ItemCounts { counts: usize, resources: usize },
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
