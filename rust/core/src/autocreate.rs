//! Creating missing projects (`auto_create_projects`). Each creation runs as
//! its own task: one at a time per slug, a bounded number at once, a 429 waits
//! in its own task without holding up other slugs. While a project is being
//! created its data goes back to the collector as retryable, so nothing is lost.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Instant;

use futures_util::FutureExt;
use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::endpoint_cache::EndpointCache;
use crate::ingest::endpoint::from_keys;
use crate::log::{panic_message, Field, Level, Logger};
use crate::mgmt::{Management, MgmtError};
use crate::slug::Slug;
use crate::sync::locked;
use crate::telemetry::Telemetry;

/// Creations pending at once; more wait for a later retry of their data.
pub const MAX_PENDING: usize = 256;
/// Calls to the management API for creations at the same time.
const CONCURRENT_CALLS: usize = 4;
/// How long to wait on a 429 without a reset time.
const DEFAULT_RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);
/// A new project's keys may appear a moment after it: polled this often, this long.
const KEYS_POLL_INTERVAL: Duration = Duration::from_millis(250);
const KEYS_POLL_ATTEMPTS: u32 = 20;
/// After a failed creation, no new attempt for the slug for this long.
const FAILURE_BACKOFF: Duration = Duration::from_secs(30);

/// Past this many remembered slugs, expired failures are forgotten first, so
/// many distinct failing slugs cannot grow the map without bound.
const FORGET_FAILURES_AT: usize = 1024;

/// What a request to create a project led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// A creation is running for this slug (this request's or an earlier one).
    InProgress,
    /// Too many creations pending: try again later.
    QueueFull,
    /// `max_created_projects` reached: no more projects are created.
    LimitReached,
    /// The last attempt failed; the next may start after `retry_in`.
    FailedRecently { retry_in: Duration, reason: String },
    /// `auto_create_projects` is off.
    Off,
}

enum SlugState {
    InProgress,
    Failed { until: Instant, reason: String },
}

pub struct AutoCreator {
    mgmt: Arc<dyn Management>,
    endpoints: Arc<EndpointCache>,
    logger: Logger,
    telemetry: Arc<Telemetry>,
    clock: Arc<dyn Clock>,
    configured_team: Option<Slug>,
    discovered_team: tokio::sync::Mutex<Option<Slug>>,
    slugs: Mutex<HashMap<Slug, SlugState>>,
    calls: Semaphore,
    /// Projects created (201) plus creations running, never above `limit`.
    reserved: AtomicU32,
    limit: u32,
}

/// Why a creation did not succeed.
#[derive(Debug, thiserror::Error)]
enum CreateError {
    #[error("{0}")]
    Mgmt(#[from] MgmtError),
    #[error("the organization has no team to own new projects: set `team`")]
    NoTeam,
    #[error("the creation panicked: {0}")]
    Panicked(String),
}

/// Runs a creation with a panic turned into a failure, so that the slug is not
/// left "in progress" and its reservation held for good.
async fn contained(
    creation: impl Future<Output = Result<bool, CreateError>>,
) -> Result<bool, CreateError> {
    AssertUnwindSafe(creation)
        .catch_unwind()
        .await
        .unwrap_or_else(|payload| Err(CreateError::Panicked(panic_message(&*payload).to_owned())))
}

impl AutoCreator {
    pub fn new(
        mgmt: Arc<dyn Management>,
        endpoints: Arc<EndpointCache>,
        logger: Logger,
        telemetry: Arc<Telemetry>,
        clock: Arc<dyn Clock>,
        team: Option<Slug>,
        limit: u32,
    ) -> AutoCreator {
        AutoCreator {
            mgmt,
            endpoints,
            logger,
            telemetry,
            clock,
            configured_team: team,
            discovered_team: tokio::sync::Mutex::new(None),
            slugs: Mutex::new(HashMap::new()),
            calls: Semaphore::new(CONCURRENT_CALLS),
            reserved: AtomicU32::new(0),
            limit,
        }
    }

    /// Starts creating `slug`, a project of `platform` (see [`crate::platform`]), unless it is
    /// already under way. Must be called inside the runtime.
    pub fn request(
        self: &Arc<Self>,
        slug: &Slug,
        platform: &'static str,
        now: Instant,
    ) -> Admission {
        let mut slugs = locked(&self.slugs);
        match slugs.get(slug) {
            Some(SlugState::InProgress) => return Admission::InProgress,
            Some(SlugState::Failed { until, reason }) if now < *until => {
                return Admission::FailedRecently {
                    retry_in: *until - now,
                    reason: reason.clone(),
                }
            }
            _ => {}
        }
        // Created (or found) since the job's lookup answered 404, which it then acted on late:
        // its data comes back and finds the project.
        if self.endpoints.cached(slug).is_some() {
            return Admission::InProgress;
        }
        if slugs.len() >= FORGET_FAILURES_AT {
            slugs.retain(|_, state| match state {
                SlugState::InProgress => true,
                SlugState::Failed { until, .. } => now < *until,
            });
        }
        let pending = slugs
            .values()
            .filter(|s| matches!(s, SlugState::InProgress))
            .count();
        if pending >= MAX_PENDING {
            return Admission::QueueFull;
        }
        let reserved = self
            .reserved
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.limit).then_some(n + 1)
            });
        if reserved.is_err() {
            return Admission::LimitReached;
        }
        slugs.insert(slug.clone(), SlugState::InProgress);
        drop(slugs);
        tokio::spawn(self.clone().create(slug.clone(), platform));
        Admission::InProgress
    }

    async fn create(self: Arc<Self>, slug: Slug, platform: &'static str) {
        let result = contained(self.create_project(&slug, platform)).await;
        let mut slugs = locked(&self.slugs);
        match result {
            Ok(created) => {
                if created {
                    self.telemetry.project_created();
                } else {
                    self.reserved.fetch_sub(1, Ordering::SeqCst);
                }
                slugs.remove(&slug);
            }
            Err(e) => {
                self.reserved.fetch_sub(1, Ordering::SeqCst);
                self.telemetry.project_creation_failed();
                let reason = e.to_string();
                self.logger.log_with(
                    Level::Warn,
                    format!(
                        "cannot create the Sentry project {:?}: {reason}",
                        slug.as_str()
                    ),
                    &[
                        Field::str("project", slug.as_str()),
                        Field::str("reason", &reason),
                    ],
                );
                slugs.insert(
                    slug,
                    SlugState::Failed {
                        until: self.clock.now() + FAILURE_BACKOFF,
                        reason,
                    },
                );
            }
        }
    }

    /// Creates the project (true) or finds it created meanwhile (false), then
    /// waits for its key and puts its endpoint in the cache.
    async fn create_project(&self, slug: &Slug, platform: &str) -> Result<bool, CreateError> {
        let created = loop {
            let attempt = {
                let _permit = self.calls.acquire().await;
                let team = self.team().await?;
                self.mgmt.create_project(&team, slug, platform).await
            };
            match attempt {
                Ok(()) => break true,
                Err(MgmtError::Conflict) => break false,
                Err(MgmtError::RateLimited { retry_after }) => {
                    let wait = retry_after.unwrap_or(DEFAULT_RATE_LIMIT_WAIT);
                    self.logger.log_with(
                        Level::Info,
                        format!(
                            "creating the Sentry project {:?} is rate limited; trying again in {:.1}s",
                            slug.as_str(),
                            wait.as_secs_f64()
                        ),
                        &[
                            Field::str("project", slug.as_str()),
                            Field::str("reason", "rate_limited"),
                        ],
                    );
                    self.clock.sleep(wait).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        if created {
            self.logger.log_with(
                Level::Info,
                format!("created the Sentry project {:?}", slug.as_str()),
                &[
                    Field::str("project", slug.as_str()),
                    Field::str("platform", platform),
                ],
            );
        }
        self.endpoints.forget_not_found(slug).await;
        for _ in 0..KEYS_POLL_ATTEMPTS {
            let keys = {
                let _permit = self.calls.acquire().await;
                self.mgmt.project_keys(slug).await
            };
            match keys.map(|k| from_keys(&k)) {
                Ok(Ok(endpoint)) => {
                    self.endpoints.offer(slug, endpoint);
                    return Ok(created);
                }
                Ok(Err(_)) | Err(MgmtError::NotFound) => self.clock.sleep(KEYS_POLL_INTERVAL).await,
                Err(e) => return Err(e.into()),
            }
        }
        // The next lookup of the slug asks again.
        Ok(created)
    }

    async fn team(&self) -> Result<Slug, CreateError> {
        if let Some(team) = &self.configured_team {
            return Ok(team.clone());
        }
        let mut discovered = self.discovered_team.lock().await;
        if let Some(team) = &*discovered {
            return Ok(team.clone());
        }
        let team = self.mgmt.first_team().await?.ok_or(CreateError::NoTeam)?;
        *discovered = Some(team.clone());
        Ok(team)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TokioClock;
    use crate::mgmt::scripted::{keys, Reply, Scripted};

    fn creator(mgmt: Scripted) -> (Arc<AutoCreator>, Arc<Scripted>, Arc<EndpointCache>) {
        let mgmt = Arc::new(mgmt.answer("first_team", vec![Reply::Team(Slug::parse("t").ok())]));
        let endpoints = Arc::new(EndpointCache::default());
        let creator = Arc::new(AutoCreator::new(
            mgmt.clone(),
            endpoints.clone(),
            Logger::discard(),
            Arc::default(),
            Arc::new(TokioClock::new()),
            None,
            u32::MAX,
        ));
        (creator, mgmt, endpoints)
    }

    fn failures(creator: &AutoCreator) -> usize {
        let slugs = creator.slugs.lock().unwrap();
        slugs
            .values()
            .filter(|s| matches!(s, SlugState::Failed { .. }))
            .count()
    }

    /// Lets the spawned creations run until they end (paused time moves on by itself).
    async fn settle(creator: &AutoCreator) {
        while creator
            .slugs
            .lock()
            .unwrap()
            .values()
            .any(|s| matches!(s, SlugState::InProgress))
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_limited_creation_waits_as_told_then_polls_for_the_new_key() {
        let limited = MgmtError::RateLimited {
            retry_after: Some(Duration::from_secs(42)),
        };
        let (creator, mgmt, endpoints) = creator(
            Scripted::default()
                .answer("create_project", vec![Reply::Failed(limited), Reply::Done])
                .answer(
                    "project_keys",
                    vec![
                        Reply::Failed(MgmtError::NotFound),
                        Reply::Keys(Vec::new()),
                        Reply::Keys(keys(7)),
                    ],
                ),
        );
        let slug = Slug::parse("new").unwrap();
        let t0 = Instant::now();
        assert_eq!(creator.request(&slug, "node", t0), Admission::InProgress);
        settle(&creator).await;
        assert_eq!(mgmt.calls("create_project"), 2);
        let asked = ("new".to_owned(), "node".to_owned());
        assert_eq!(
            mgmt.created(),
            [asked.clone(), asked],
            "the platform asked for"
        );
        assert_eq!(mgmt.calls("project_keys"), 3);
        // The 429's wait, then two polls; `settle` looks every millisecond.
        let waited = Instant::now() - t0;
        let want = Duration::from_secs(42) + 2 * KEYS_POLL_INTERVAL;
        assert!(
            waited >= want && waited <= want + Duration::from_millis(1),
            "{waited:?}"
        );
        assert!(endpoints.cached(&slug).is_some());
        assert_eq!(creator.reserved.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_project_found_since_the_lookup_is_not_created_again() {
        let (creator, mgmt, endpoints) = creator(Scripted::default());
        let slug = Slug::parse("new").unwrap();
        let endpoint = crate::ingest::endpoint::from_keys(&keys(7)).unwrap();
        endpoints.offer(&slug, endpoint);
        assert_eq!(
            creator.request(&slug, "node", Instant::now()),
            Admission::InProgress
        );
        settle(&creator).await;
        assert_eq!(mgmt.calls("create_project"), 0);
        assert_eq!(creator.reserved.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_creation_is_not_tried_again_before_its_backoff_ends() {
        let refused = MgmtError::Status {
            status: 500,
            message: "boom".into(),
        };
        let (creator, mgmt, _) =
            creator(Scripted::default().answer("create_project", vec![Reply::Failed(refused)]));
        let slug = Slug::parse("new").unwrap();
        let t0 = Instant::now();
        assert_eq!(creator.request(&slug, "node", t0), Admission::InProgress);
        settle(&creator).await;
        let later = t0 + FAILURE_BACKOFF - Duration::from_secs(1);
        assert!(matches!(
            creator.request(&slug, "node", later),
            Admission::FailedRecently { retry_in, .. } if retry_in == Duration::from_secs(1)
        ));
        assert_eq!(
            creator.request(&slug, "node", t0 + FAILURE_BACKOFF),
            Admission::InProgress
        );
        settle(&creator).await;
        assert_eq!(mgmt.calls("create_project"), 2);
        assert_eq!(
            creator.reserved.load(Ordering::SeqCst),
            0,
            "failures free their reservation"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn expired_failures_are_forgotten_once_many_slugs_are_remembered() {
        let unreachable = MgmtError::Transport("refused".into());
        let (creator, _, _) =
            creator(Scripted::default().answer("create_project", vec![Reply::Failed(unreachable)]));
        let now = Instant::now();
        for n in 0..FORGET_FAILURES_AT {
            let slug = Slug::parse(&format!("s{n}")).unwrap();
            while creator.request(&slug, "other", now) == Admission::QueueFull {
                settle(&creator).await;
            }
        }
        settle(&creator).await;
        assert_eq!(failures(&creator), FORGET_FAILURES_AT);
        // Still within the backoff: every failure is kept.
        let next = Slug::parse("next").unwrap();
        assert_eq!(creator.request(&next, "other", now), Admission::InProgress);
        assert!(creator.slugs.lock().unwrap().len() > FORGET_FAILURES_AT);
        // After it, the expired ones are dropped when the next slug comes.
        let later = Instant::now() + FAILURE_BACKOFF;
        let last = Slug::parse("last").unwrap();
        assert_eq!(
            creator.request(&last, "other", later),
            Admission::InProgress
        );
        assert!(creator.slugs.lock().unwrap().len() <= 2);
    }

    #[tokio::test]
    async fn a_panicking_creation_is_a_failure_with_its_message() {
        let panicking = async { panic!("boom") };
        let result = contained(panicking).await;
        assert!(
            matches!(&result, Err(CreateError::Panicked(m)) if m == "boom"),
            "{result:?}"
        );
        assert!(matches!(contained(async { Ok(true) }).await, Ok(true)));
    }
}
