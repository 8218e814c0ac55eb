//! The pipeline of one batch: route → resolve each project's endpoint → send
//! (projects concurrently, bounded) → one outcome for the whole batch, in which
//! only the data that may succeed later is handed back for retry.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use futures_util::FutureExt;

use crate::autocreate::{Admission, AutoCreator};
use crate::config::Config;
use crate::deadline::Deadline;
use crate::endpoint::IngestEndpoint;
use crate::endpoints::{EndpointCache, Lookup, ResolveError};
use crate::http::{build_client, ClientError};
use crate::log::{panic_message, Level, Logger, Throttle};
use crate::lookups::{wait_left, LookupsInFlight};
use crate::mgmt::MgmtClient;
use crate::org::{OrgState, Organization};
use crate::preload::preload;
use crate::ratelimit::RateLimits;
use crate::redact::Redactor;
use crate::routing::{ProjectPart, Router};
use crate::send::{IngestClient, SendResult};
use crate::signal::Signal;
use crate::slug::Slug;
use crate::split::halve_counted;
use crate::telemetry::{DropReason, Telemetry};
use crate::wire::WireError;

/// Projects of one batch sent at the same time.
const MAX_CONCURRENT_PROJECTS: usize = 16;
/// Repeated warnings (routing drops, unknown projects) at most this often.
const WARNING_INTERVAL: Duration = Duration::from_secs(60);
/// A piece whose request got no answer in time comes back after this long: a slow Sentry
/// gets time to recover before the same data reaches it again.
const TIMED_OUT_RETRY_DELAY: Duration = Duration::from_secs(10);
/// How long an export waits for a project's lookup before handing its data back.
const LOOKUP_WAIT: Duration = Duration::from_secs(2);
/// When a lookup outlasts [`LOOKUP_WAIT`], its project's data comes back after this long.
const LOOKUP_PENDING_DELAY: Duration = Duration::from_secs(5);
/// While the organization is not found, data comes back after this long.
const ORGANIZATION_MISSING_DELAY: Duration = Duration::from_secs(30);
/// When a project is being created, its data comes back after this long.
const CREATION_RETRY_DELAY: Duration = Duration::from_secs(1);
/// When too many creations are pending, data of new projects comes back after this long.
const CREATION_QUEUE_FULL_DELAY: Duration = Duration::from_secs(5);

/// What happened to one batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExportOutcome {
    pub sent: u64,
    pub dropped: u64,
    /// Items of `retry_request`.
    pub retryable: u64,
    /// The longest delay any failed project asked for.
    pub retry_after: Option<Duration>,
    /// An OTLP request holding only the items to try again; empty when none.
    pub retry_request: Vec<u8>,
    /// Why items were dropped or must be retried, one entry per cause: at most
    /// `MAX_LISTED_PROBLEMS`, then one entry saying how many more there were.
    pub problems: Vec<String>,
}

/// Problems listed in one outcome. A batch can span thousands of projects (its
/// service names come from whoever sends telemetry): the error text that goes
/// back to the collector, and into its log, must stay short.
pub const MAX_LISTED_PROBLEMS: usize = 10;

/// Collects an outcome's problems, listing the first ones and counting the rest.
#[derive(Debug, Default)]
struct Problems {
    listed: Vec<String>,
    more: usize,
}

impl Problems {
    fn push(&mut self, problem: impl FnOnce() -> String) {
        if self.listed.len() < MAX_LISTED_PROBLEMS {
            self.listed.push(problem());
        } else {
            self.more += 1;
        }
    }

    fn into_list(mut self) -> Vec<String> {
        if self.more > 0 {
            self.listed.push(format!("and {} more problems", self.more));
        }
        self.listed
    }
}

/// What became of one piece of a project's data (the whole part, or a half
/// of it after a 413).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Settled {
    Sent {
        items: u64,
        rejected: u64,
    },
    Dropped {
        items: u64,
        reason: DropReason,
        detail: String,
    },
    Retry {
        request: Vec<u8>,
        items: u64,
        reason: String,
        delay: Option<Duration>,
    },
}

/// Why a project's data cannot be sent now.
enum Unsent {
    Drop(DropReason, String),
    Retry {
        reason: String,
        delay: Option<Duration>,
    },
}

impl Unsent {
    fn settle(self, request: Vec<u8>, items: u64) -> Settled {
        match self {
            Unsent::Drop(reason, detail) => Settled::Dropped {
                items,
                reason,
                detail,
            },
            Unsent::Retry { reason, delay } => Settled::Retry {
                request,
                items,
                reason,
                delay,
            },
        }
    }

    fn timeout() -> Unsent {
        Unsent::Retry {
            reason: "export timeout reached".into(),
            delay: None,
        }
    }
}

pub struct Exporter {
    router: Router,
    endpoints: Arc<EndpointCache>,
    mgmt: Arc<MgmtClient>,
    org: Arc<Organization>,
    lookups: Arc<LookupsInFlight>,
    autocreate: Option<Arc<AutoCreator>>,
    ingest: IngestClient,
    limits: RateLimits,
    telemetry: Arc<Telemetry>,
    /// Every message it logs is cleaned by `redactor`.
    logger: Logger,
    /// Cleans the texts handed out otherwise: outcome problems, the health problem.
    redactor: Arc<Redactor>,
    warnings: Throttle,
}

impl Exporter {
    pub fn new(config: &Config, logger: Logger) -> Result<Exporter, ClientError> {
        let redactor = Arc::new(Redactor::new([config.auth_token.expose().to_owned()]));
        let logger = logger.redacting(redactor.clone());
        let http = build_client(&config.http, &logger)?;
        let telemetry = Arc::new(Telemetry::default());
        let endpoints = Arc::new(EndpointCache::default());
        let mgmt = Arc::new(MgmtClient::new(
            http.clone(),
            &config.url,
            config.org_slug.clone(),
            config.auth_token.clone(),
            telemetry.clone(),
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
                config.team.clone(),
                config.max_created_projects,
            ))
        });
        Ok(Exporter {
            router: Router::new(&config.routing),
            endpoints,
            mgmt,
            org,
            lookups: Arc::default(),
            autocreate,
            ingest: IngestClient::new(http, config.http.compression, telemetry.clone()),
            limits: RateLimits::default(),
            telemetry,
            logger,
            redactor,
            warnings: Throttle::new(WARNING_INTERVAL),
        })
    }

    /// The background work of a started exporter: loading every project's
    /// endpoint. Runs on the exporter's runtime until done or shut down.
    pub fn background(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        preload(
            self.mgmt.clone(),
            self.endpoints.clone(),
            self.org.clone(),
            self.logger.clone(),
        )
    }

    /// Projects whose ingest endpoint is known.
    pub fn known_projects(&self) -> usize {
        self.endpoints.known_projects()
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
        let mut snapshot = self
            .telemetry
            .snapshot(self.endpoints.known_projects() as u64);
        if let Some(problem) = snapshot["health"]["problem"].as_str() {
            snapshot["health"]["problem"] = self.redactor.clean(problem).into();
        }
        snapshot
    }

    /// Exports one OTLP request; each project gets until `deadline`.
    pub async fn export(
        &self,
        signal: Signal,
        request: &[u8],
        deadline: &Deadline,
    ) -> Result<ExportOutcome, WireError> {
        let routed = self.router.route(request)?;
        let mut outcome = ExportOutcome::default();
        let mut problems = Problems::default();
        for (reason, items) in &routed.dropped {
            outcome.dropped += items;
            self.telemetry.dropped(signal, *reason, *items);
            let problem = format!(
                "{items} {} dropped: {} (routing attribute unusable and no fallback_project)",
                signal.item_name(),
                reason.as_str()
            );
            self.warn_throttled(reason.as_str(), &problem);
            problems.push(|| problem);
        }

        let mut results: Vec<(usize, Vec<Settled>)> = stream::iter(routed.parts.iter().enumerate())
            .map(|(i, part)| async move {
                (
                    i,
                    self.export_part_contained(signal, part, request, deadline)
                        .await,
                )
            })
            .buffer_unordered(MAX_CONCURRENT_PROJECTS)
            .collect()
            .await;
        results.sort_by_key(|(i, _)| *i);

        for (i, settled) in results {
            let slug = &routed.parts[i].slug;
            let items_name = signal.item_name();
            for piece in settled {
                match piece {
                    Settled::Sent { items, rejected } => {
                        outcome.sent += items - rejected;
                        outcome.dropped += rejected;
                        self.telemetry.sent(signal, items - rejected);
                        self.telemetry
                            .dropped(signal, DropReason::PartialSuccess, rejected);
                        if rejected > 0 {
                            problems.push(|| {
                                format!("project {slug}: Sentry rejected {rejected} {items_name}")
                            });
                        }
                    }
                    Settled::Dropped {
                        items,
                        reason,
                        detail,
                    } => {
                        outcome.dropped += items;
                        self.telemetry.dropped(signal, reason, items);
                        problems.push(|| {
                            format!(
                                "project {slug}: {items} {items_name} dropped ({}): {detail}",
                                reason.as_str()
                            )
                        });
                    }
                    Settled::Retry {
                        request,
                        items,
                        reason,
                        delay,
                    } => {
                        outcome.retryable += items;
                        self.telemetry.failed(signal, items);
                        outcome.retry_after = outcome.retry_after.max(delay);
                        outcome.retry_request.extend_from_slice(&request);
                        problems.push(|| format!("project {slug}: {reason}"));
                    }
                }
            }
        }
        outcome.problems = problems
            .into_list()
            .iter()
            .map(|problem| self.redactor.clean(problem))
            .collect();
        for problem in &outcome.problems {
            self.logger.debug(problem);
        }
        Ok(outcome)
    }

    /// `export_part`, with a panic kept to this project: its data comes back to
    /// be retried, and what the batch's other projects did stands, so a retry
    /// never sends their data twice.
    async fn export_part_contained(
        &self,
        signal: Signal,
        part: &ProjectPart,
        request: &[u8],
        deadline: &Deadline,
    ) -> Vec<Settled> {
        let work = self.export_part(signal, part, part.request(request), deadline);
        match AssertUnwindSafe(work).catch_unwind().await {
            Ok(settled) => settled,
            Err(payload) => {
                let reason = format!("the exporter panicked: {}", panic_message(&*payload));
                self.logger
                    .log(Level::Error, format!("project {}: {reason}", part.slug));
                vec![Settled::Retry {
                    request: part.request(request),
                    items: part.items,
                    reason,
                    delay: None,
                }]
            }
        }
    }

    /// Sends one project's request: split in halves on 413, sent once more
    /// after a fresh lookup on a stale key, held back while rate limited.
    async fn export_part(
        &self,
        signal: Signal,
        part: &ProjectPart,
        request: Vec<u8>,
        deadline: &Deadline,
    ) -> Vec<Settled> {
        let mut endpoint = match deadline.within(self.resolve(&part.slug)).await {
            Ok(Ok(endpoint)) => endpoint,
            Ok(Err(unsent)) => return vec![unsent.settle(request, part.items)],
            Err(_) => return vec![Unsent::timeout().settle(request, part.items)],
        };
        // Test-only hook (feature `fault-injection`, absent from release builds): a panic deep
        // inside an export, after a lookup, while the batch's other projects are in flight.
        #[cfg(feature = "fault-injection")]
        if part.slug.as_str() == "fault-injection-panic" {
            panic!(
                "injected panic (fault-injection) in the export of project {}",
                part.slug
            );
        }
        let mut settled = Vec::new();
        let mut looked_up_again = false;
        // A stack: the first half of a split is sent first.
        let mut pending = vec![(request, part.items)];
        while let Some((request, items)) = pending.pop() {
            if let Some(wait) = self
                .limits
                .remaining(&endpoint.public_key, signal, Instant::now())
            {
                self.telemetry.rate_limited(signal, items);
                settled.push(Settled::Retry {
                    request,
                    items,
                    reason: format!("rate limited by Sentry for {:.1}s more", wait.as_secs_f64()),
                    delay: Some(wait),
                });
                continue;
            }
            // Cut off by the export's deadline, the request may have reached Sentry: the same
            // as no answer within http.timeout.
            let result = deadline
                .within(self.ingest.send(&endpoint, signal, &request, &self.limits))
                .await
                .unwrap_or_else(|_| SendResult::TimedOut {
                    reason: "export timeout reached while sending".into(),
                });
            match result {
                SendResult::Accepted { rejected, message } => {
                    let rejected = rejected.min(items);
                    if rejected > 0 {
                        self.warn_throttled(
                            &format!("partial:{}", part.slug),
                            &format!(
                                "project {}: Sentry rejected {rejected} {}: {message}",
                                part.slug,
                                signal.item_name()
                            ),
                        );
                    }
                    settled.push(Settled::Sent { items, rejected });
                }
                SendResult::TooLarge => match halve_counted(&request) {
                    Ok(Some((first, second))) => {
                        pending.push(second);
                        pending.push(first);
                    }
                    _ => {
                        self.warn_throttled(
                            &format!("too-large:{}", part.slug),
                            &format!(
                                "project {}: a single {} item is larger than Sentry accepts (413): dropped",
                                part.slug,
                                signal.name()
                            ),
                        );
                        settled.push(Settled::Dropped {
                            items,
                            reason: DropReason::TooLarge,
                            detail: "a single item is larger than Sentry accepts".into(),
                        });
                    }
                },
                SendResult::Rejected {
                    status,
                    message,
                    reason,
                } => {
                    self.warn_throttled(
                        &format!("refused:{}:{status}", part.slug),
                        &format!(
                            "project {}: Sentry refused {items} {} ({status}): {message}",
                            part.slug,
                            signal.item_name()
                        ),
                    );
                    settled.push(Settled::Dropped {
                        items,
                        reason,
                        detail: format!("rejected by Sentry ({status}): {message}"),
                    });
                }
                SendResult::StaleEndpoint { status, message } => {
                    self.endpoints.evict(&part.slug, &endpoint).await;
                    let again = if looked_up_again {
                        Err(Unsent::Retry {
                            reason: format!("the project's key was refused ({status}): {message}"),
                            delay: None,
                        })
                    } else {
                        looked_up_again = true;
                        deadline
                            .within(self.resolve(&part.slug))
                            .await
                            .unwrap_or_else(|_| Err(Unsent::timeout()))
                    };
                    match again {
                        Ok(fresh) => {
                            endpoint = fresh;
                            pending.push((request, items));
                        }
                        Err(unsent) => settled.push(unsent.settle(request, items)),
                    }
                }
                SendResult::TimedOut { reason } => {
                    self.may_be_held(signal, part, items, &reason);
                    settled.push(Settled::Retry {
                        request,
                        items,
                        reason,
                        delay: Some(TIMED_OUT_RETRY_DELAY),
                    })
                }
                SendResult::Retry { reason, delay } => settled.push(Settled::Retry {
                    request,
                    items,
                    reason,
                    delay,
                }),
            }
        }
        settled
    }

    /// The ingest endpoint of `slug`, looked up (once for all waiting batches) when not
    /// cached; a missing project is created when allowed. A lookup that outlasts
    /// [`LOOKUP_WAIT`] goes on in the background while this project's data goes back to the
    /// queue: the batch's other projects, and the exporter's other batches, never wait for it.
    async fn resolve(&self, slug: &Slug) -> Result<Arc<IngestEndpoint>, Unsent> {
        if let Some(endpoint) = self.endpoints.cached(slug) {
            return Ok(endpoint);
        }
        let now = Instant::now();
        let (since, running) = self.lookups.begin(slug, now);
        let wait = wait_left(since, now, LOOKUP_WAIT);
        if running.is_none() && wait.is_zero() {
            return Err(lookup_pending());
        }
        let (endpoints, mgmt, org, slug_owned) = (
            self.endpoints.clone(),
            self.mgmt.clone(),
            self.org.clone(),
            slug.clone(),
        );
        let lookup = tokio::spawn(async move {
            let found = look_up(endpoints, mgmt, org, slug_owned).await;
            drop(running);
            found
        });
        let found = match tokio::time::timeout(wait, lookup).await {
            Ok(Ok(found)) => found,
            Ok(Err(failed)) => {
                return Err(Unsent::Retry {
                    reason: format!("looking up the project failed: {failed}"),
                    delay: None,
                })
            }
            Err(_) => return Err(lookup_pending()),
        };
        match found {
            Ok(Found::Endpoint(endpoint)) => Ok(endpoint),
            Ok(Found::ProjectMissing) => Err(self.missing_project(slug)),
            Ok(Found::OrganizationMissing) => {
                let problem = self.org.missing_problem();
                self.warn_throttled("organization-missing", &problem);
                Err(Unsent::Retry {
                    reason: problem,
                    delay: Some(ORGANIZATION_MISSING_DELAY),
                })
            }
            Err(e) => Err(Unsent::Retry {
                reason: format!("looking up the project failed: {e}"),
                delay: match &e {
                    ResolveError::Mgmt(e) => e.retry_after(),
                    ResolveError::Unusable(_) => None,
                },
            }),
        }
    }

    /// A project the management API does not know: created when allowed (its
    /// data waits meanwhile), else its data is dropped.
    fn missing_project(&self, slug: &Slug) -> Unsent {
        let drop = |why: &str| {
            self.warn_throttled(
                &format!("not-found:{slug}"),
                &format!(
                    "project {:?} does not exist in Sentry{why}: its data is dropped",
                    slug.as_str()
                ),
            );
            Unsent::Drop(
                DropReason::ProjectNotFound,
                format!("the project does not exist{why}"),
            )
        };
        let Some(autocreate) = &self.autocreate else {
            return drop("");
        };
        match autocreate.request(slug, Instant::now()) {
            Admission::InProgress => Unsent::Retry {
                reason: "the project is being created".into(),
                delay: Some(CREATION_RETRY_DELAY),
            },
            Admission::QueueFull => Unsent::Retry {
                reason: "too many projects are being created".into(),
                delay: Some(CREATION_QUEUE_FULL_DELAY),
            },
            Admission::FailedRecently { retry_in, reason } => Unsent::Retry {
                reason: format!("creating the project failed: {reason}"),
                delay: Some(retry_in),
            },
            Admission::LimitReached => drop(" and max_created_projects is reached"),
        }
    }

    /// A request that got no answer: Sentry may hold its items already, and the retry may
    /// duplicate them. Counted, and said once a minute per project.
    fn may_be_held(&self, signal: Signal, part: &ProjectPart, items: u64, why: &str) {
        self.telemetry.maybe_delivered(signal, items);
        self.warn_throttled(
            &format!("timed-out:{}", part.slug),
            &format!(
                "project {}: {why}; Sentry may already hold these {items} {}, which are sent again in {}s and may then arrive twice (a longer http.timeout avoids this)",
                part.slug,
                signal.item_name(),
                TIMED_OUT_RETRY_DELAY.as_secs()
            ),
        );
    }

    fn warn_throttled(&self, key: &str, message: &str) {
        if self.warnings.allow(key, Instant::now()) {
            self.logger.warn(message);
        }
    }
}

/// `url` for messages: without the user and password it may carry.
fn shown_url(url: &url::Url) -> String {
    let mut shown = url.clone();
    // Both fail only for URLs that cannot have credentials, which then have none to hide.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.to_string()
}

/// A lookup that outlasted [`LOOKUP_WAIT`]: its project's data comes back later.
fn lookup_pending() -> Unsent {
    Unsent::Retry {
        reason: format!(
            "looking up the project takes longer than {}s; it goes on in the background",
            LOOKUP_WAIT.as_secs()
        ),
        delay: Some(LOOKUP_PENDING_DELAY),
    }
}

/// What looking a project up found.
enum Found {
    Endpoint(Arc<IngestEndpoint>),
    /// The organization exists and the project does not.
    ProjectMissing,
    /// The lookup's 404 was for the organization: `org_slug` or `url` is wrong.
    OrganizationMissing,
}

/// Looks `slug` up; on "not found", tells a missing project from a missing organization.
/// Owns what it uses, so it can run on after the export that started it has moved on.
async fn look_up(
    endpoints: Arc<EndpointCache>,
    mgmt: Arc<MgmtClient>,
    org: Arc<Organization>,
    slug: Slug,
) -> Result<Found, ResolveError> {
    match endpoints
        .resolve(&slug, Instant::now, || mgmt.project_keys(&slug))
        .await?
    {
        Lookup::Found(endpoint) => Ok(Found::Endpoint(endpoint)),
        Lookup::NotFound => match org.confirm(Instant::now, || mgmt.organization()).await {
            Ok(OrgState::Exists) => Ok(Found::ProjectMissing),
            Ok(OrgState::Missing) => Ok(Found::OrganizationMissing),
            Err(e) => Err(ResolveError::Mgmt(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_list_the_first_ones_and_count_the_rest() {
        let mut problems = Problems::default();
        for n in 0..10_000 {
            problems.push(|| format!("project p{n}: the project is being created"));
        }
        let list = problems.into_list();
        assert_eq!(list.len(), MAX_LISTED_PROBLEMS + 1);
        assert_eq!(list[0], "project p0: the project is being created");
        assert_eq!(
            list[MAX_LISTED_PROBLEMS],
            format!("and {} more problems", 10_000 - MAX_LISTED_PROBLEMS)
        );
    }

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

    #[test]
    fn a_few_problems_are_all_listed() {
        let mut problems = Problems::default();
        problems.push(|| "one".to_owned());
        problems.push(|| "two".to_owned());
        assert_eq!(problems.into_list(), ["one", "two"]);
    }
}
