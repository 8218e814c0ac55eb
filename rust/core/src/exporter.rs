//! The pipeline of one batch: route → resolve each project's endpoint → send
//! (projects concurrently, bounded) → one outcome for the whole batch, in which
//! only the data that may succeed later is handed back for retry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use tokio::time::timeout_at;

use crate::autocreate::{Admission, AutoCreator};
use crate::config::Config;
use crate::endpoints::{EndpointCache, Lookup, ResolveError};
use crate::http::{build_client, ClientError};
use crate::log::{Logger, Throttle};
use crate::mgmt::MgmtClient;
use crate::preload::preload;
use crate::routing::{ProjectPart, Router};
use crate::send::{IngestClient, SendResult};
use crate::signal::Signal;
use crate::slug::Slug;
use crate::wire::WireError;

/// Projects of one batch sent at the same time.
const MAX_CONCURRENT_PROJECTS: usize = 16;
/// Repeated warnings (routing drops, unknown projects) at most this often.
const WARNING_INTERVAL: Duration = Duration::from_secs(60);
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
    /// Why items were dropped or must be retried, one entry per cause.
    pub problems: Vec<String>,
}

/// What happened to one project's part of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PartOutcome {
    Sent {
        rejected: u64,
    },
    Dropped(String),
    Retry {
        reason: String,
        delay: Option<Duration>,
    },
}

pub struct Exporter {
    router: Router,
    endpoints: Arc<EndpointCache>,
    mgmt: Arc<MgmtClient>,
    autocreate: Option<Arc<AutoCreator>>,
    ingest: IngestClient,
    logger: Logger,
    warnings: Throttle,
}

impl Exporter {
    pub fn new(config: &Config, logger: Logger) -> Result<Exporter, ClientError> {
        let http = build_client(&config.http, &logger)?;
        let endpoints = Arc::new(EndpointCache::default());
        let mgmt = Arc::new(MgmtClient::new(
            http.clone(),
            &config.url,
            config.org_slug.clone(),
            config.auth_token.clone(),
        ));
        let autocreate = config.auto_create_projects.then(|| {
            Arc::new(AutoCreator::new(
                mgmt.clone(),
                endpoints.clone(),
                logger.clone(),
                config.team.clone(),
                config.max_created_projects,
            ))
        });
        Ok(Exporter {
            router: Router::new(&config.routing),
            endpoints,
            mgmt,
            autocreate,
            ingest: IngestClient::new(http, config.http.compression),
            logger,
            warnings: Throttle::new(WARNING_INTERVAL),
        })
    }

    /// The background work of a started exporter: loading every project's
    /// endpoint. Runs on the exporter's runtime until done or shut down.
    pub fn background(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        preload(
            self.mgmt.clone(),
            self.endpoints.clone(),
            self.logger.clone(),
        )
    }

    /// Projects whose ingest endpoint is known.
    pub fn known_projects(&self) -> usize {
        self.endpoints.known_projects()
    }

    /// Projects this exporter created.
    pub fn created_projects(&self) -> u32 {
        self.autocreate.as_ref().map_or(0, |a| a.created())
    }

    /// Exports one OTLP request; each project gets until `deadline`.
    pub async fn export(
        &self,
        signal: Signal,
        request: &[u8],
        deadline: tokio::time::Instant,
    ) -> Result<ExportOutcome, WireError> {
        let routed = self.router.route(request)?;
        let mut outcome = ExportOutcome::default();
        for (reason, items) in &routed.dropped {
            outcome.dropped += items;
            let problem = format!(
                "{items} {} dropped: {} (routing attribute unusable and no fallback_project)",
                signal.item_name(),
                reason.as_str()
            );
            self.warn_throttled(reason.as_str(), &problem);
            outcome.problems.push(problem);
        }

        let mut results: Vec<(usize, PartOutcome)> = stream::iter(routed.parts.iter().enumerate())
            .map(|(i, part)| async move {
                let body = part.request(request);
                let result = timeout_at(deadline, self.export_part(signal, part, &body))
                    .await
                    .unwrap_or_else(|_| PartOutcome::Retry {
                        reason: "export timeout reached".into(),
                        delay: None,
                    });
                (i, result)
            })
            .buffer_unordered(MAX_CONCURRENT_PROJECTS)
            .collect()
            .await;
        results.sort_by_key(|(i, _)| *i);

        for (i, result) in results {
            let part = &routed.parts[i];
            match result {
                PartOutcome::Sent { rejected } => {
                    let rejected = rejected.min(part.items);
                    outcome.sent += part.items - rejected;
                    outcome.dropped += rejected;
                    if rejected > 0 {
                        outcome.problems.push(format!(
                            "project {}: Sentry rejected {rejected} {}",
                            part.slug,
                            signal.item_name()
                        ));
                    }
                }
                PartOutcome::Dropped(reason) => {
                    outcome.dropped += part.items;
                    outcome.problems.push(format!(
                        "project {}: {} {} dropped: {reason}",
                        part.slug,
                        part.items,
                        signal.item_name()
                    ));
                }
                PartOutcome::Retry { reason, delay } => {
                    outcome.retryable += part.items;
                    outcome.retry_after = outcome.retry_after.max(delay);
                    for block in &part.blocks {
                        outcome
                            .retry_request
                            .extend_from_slice(&request[block.clone()]);
                    }
                    outcome
                        .problems
                        .push(format!("project {}: {reason}", part.slug));
                }
            }
        }
        for problem in &outcome.problems {
            self.logger.debug(problem);
        }
        Ok(outcome)
    }

    async fn export_part(&self, signal: Signal, part: &ProjectPart, body: &[u8]) -> PartOutcome {
        // A stale key or a moved project gets one fresh lookup and one more try.
        let mut looked_up_again = false;
        loop {
            let endpoint = match self
                .endpoints
                .resolve(&part.slug, Instant::now, || {
                    self.mgmt.project_keys(&part.slug)
                })
                .await
            {
                Ok(Lookup::Found(endpoint)) => endpoint,
                Ok(Lookup::NotFound) => return self.missing_project(&part.slug),
                Err(e) => {
                    return PartOutcome::Retry {
                        reason: format!("looking up the project failed: {e}"),
                        delay: match &e {
                            ResolveError::Mgmt(e) => e.retry_after(),
                            ResolveError::Unusable(_) => None,
                        },
                    }
                }
            };
            match self.ingest.send(&endpoint, signal, body).await {
                SendResult::Accepted { rejected, message } => {
                    if rejected > 0 {
                        self.logger.warn(format!(
                            "project {}: Sentry rejected {rejected} {}: {message}",
                            part.slug,
                            signal.item_name()
                        ));
                    }
                    return PartOutcome::Sent { rejected };
                }
                SendResult::Rejected { status, message } => {
                    self.logger.warn(format!(
                        "project {}: Sentry refused {} {} ({status}): {message}",
                        part.slug,
                        part.items,
                        signal.item_name()
                    ));
                    return PartOutcome::Dropped(format!(
                        "rejected by Sentry ({status}): {message}"
                    ));
                }
                SendResult::StaleEndpoint { status, message } => {
                    self.endpoints.evict(&part.slug, &endpoint).await;
                    if looked_up_again {
                        return PartOutcome::Retry {
                            reason: format!("the project's key was refused ({status}): {message}"),
                            delay: None,
                        };
                    }
                    looked_up_again = true;
                }
                SendResult::Retry { reason, delay } => return PartOutcome::Retry { reason, delay },
            }
        }
    }

    /// A project the management API does not know: created when allowed (its
    /// data waits meanwhile), else its data is dropped.
    fn missing_project(&self, slug: &Slug) -> PartOutcome {
        let drop = |why: &str| {
            self.warn_throttled(
                &format!("not-found:{slug}"),
                &format!(
                    "project {:?} does not exist in Sentry{why}: its data is dropped",
                    slug.as_str()
                ),
            );
            PartOutcome::Dropped("project_not_found".into())
        };
        let Some(autocreate) = &self.autocreate else {
            return drop("");
        };
        match autocreate.request(slug, Instant::now()) {
            Admission::InProgress => PartOutcome::Retry {
                reason: "the project is being created".into(),
                delay: Some(CREATION_RETRY_DELAY),
            },
            Admission::QueueFull => PartOutcome::Retry {
                reason: "too many projects are being created".into(),
                delay: Some(CREATION_QUEUE_FULL_DELAY),
            },
            Admission::FailedRecently { retry_in, reason } => PartOutcome::Retry {
                reason: format!("creating the project failed: {reason}"),
                delay: Some(retry_in),
            },
            Admission::LimitReached => drop(" and max_created_projects is reached"),
        }
    }

    fn warn_throttled(&self, key: &str, message: &str) {
        if self.warnings.allow(key, Instant::now()) {
            self.logger.warn(message);
        }
    }
}
