//! At start, in the background: every project of the organization and every
//! client key, into the endpoint cache, so that the first batch of a known
//! project needs no lookup. A failing management API is retried with backoff
//! and never stops the exporter; lookups work meanwhile.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::endpoint_cache::EndpointCache;
use crate::ingest::endpoint::from_keys;
use crate::log::{Field, Level, Logger};
use crate::mgmt::models::ProjectKey;
use crate::mgmt::{Management, MgmtError};
use crate::org::{OrgState, Organization};
use crate::slug::Slug;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Loads projects and keys until it succeeds once.
pub async fn preload(
    mgmt: Arc<dyn Management>,
    endpoints: Arc<EndpointCache>,
    org: Arc<Organization>,
    logger: Logger,
    clock: Arc<dyn Clock>,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match load(&*mgmt, &endpoints, &org, &*clock).await {
            Ok(loaded) => {
                logger.log_with(
                    Level::Info,
                    format!("loaded the endpoints of {loaded} Sentry projects"),
                    &[Field::u64("count", loaded as u64)],
                );
                return;
            }
            Err(MgmtError::NotFound) => {
                logger.log(Level::Error, org.missing_problem());
                clock.sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => {
                let wait = e.retry_after().unwrap_or(backoff).max(FIRST_BACKOFF);
                let reason = e.to_string();
                logger.log_with(
                    Level::Warn,
                    format!(
                        "cannot load the organization's projects from Sentry ({reason}); trying again in {}s, looking projects up one by one meanwhile",
                        wait.as_secs()
                    ),
                    &[Field::str("reason", &reason)],
                );
                clock.sleep(wait).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The start's check of the organization is the list of its projects: a 404 there can only
/// mean the organization is not found.
async fn load(
    mgmt: &dyn Management,
    endpoints: &EndpointCache,
    org: &Organization,
    clock: &dyn Clock,
) -> Result<usize, MgmtError> {
    let projects = mgmt.projects().await;
    match &projects {
        Ok(_) => org.record(OrgState::Exists, clock.now()),
        Err(MgmtError::NotFound) => org.record(OrgState::Missing, clock.now()),
        Err(_) => {}
    }
    let projects = projects?;
    let mut keys_by_project: HashMap<u64, Vec<ProjectKey>> = HashMap::new();
    for key in mgmt.org_project_keys().await? {
        if let Some(id) = key.project_id {
            keys_by_project.entry(id).or_default().push(key);
        }
    }
    let mut loaded = 0;
    for project in projects {
        let (Ok(slug), Some(keys)) = (Slug::parse(&project.slug), keys_by_project.get(&project.id))
        else {
            continue;
        };
        if let Ok(endpoint) = from_keys(keys) {
            endpoints.offer(&slug, endpoint);
            loaded += 1;
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Instant, TokioClock};
    use crate::mgmt::models::Project;
    use crate::mgmt::scripted::{keys, Reply, Scripted};
    use crate::telemetry::Telemetry;

    fn shop() -> (Vec<Project>, Vec<ProjectKey>) {
        let project = Project {
            id: 7,
            slug: "shop".into(),
        };
        (vec![project], keys(7))
    }

    /// Preloads with `projects` answering in turn; returns how long it took and the cache.
    async fn preloaded(projects: Vec<Reply>) -> (Duration, Arc<EndpointCache>, Arc<Organization>) {
        let (_, keys) = shop();
        let mgmt = Scripted::default()
            .answer("projects", projects)
            .answer("org_project_keys", vec![Reply::Keys(keys)]);
        let endpoints = Arc::new(EndpointCache::default());
        let slug = Slug::parse("acme").unwrap();
        let org = Arc::new(Organization::new(
            slug,
            "http://sentry".into(),
            Arc::new(Telemetry::default()),
        ));
        let t0 = Instant::now();
        let clock = Arc::new(TokioClock::new());
        preload(
            Arc::new(mgmt),
            endpoints.clone(),
            org.clone(),
            Logger::discard(),
            clock,
        )
        .await;
        (Instant::now() - t0, endpoints, org)
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_api_is_tried_again_with_doubling_backoff_or_as_told() {
        let (projects, _) = shop();
        let down = || Reply::Failed(MgmtError::Transport("refused".into()));
        let limited = Reply::Failed(MgmtError::RateLimited {
            retry_after: Some(Duration::from_secs(42)),
        });
        let missing = || Reply::Failed(MgmtError::NotFound);
        let table = [
            ("at once", vec![], 0),
            ("down twice", vec![down(), down()], 1 + 2),
            (
                "down four times",
                vec![down(), down(), down(), down()],
                1 + 2 + 4 + 8,
            ),
            ("rate limited", vec![limited], 42),
            ("organization missing", vec![missing(), missing()], 1 + 2),
        ];
        for (case, failures, waited) in table {
            let mut replies = failures;
            replies.push(Reply::Projects(projects.clone()));
            let (took, endpoints, _) = preloaded(replies).await;
            assert_eq!(took, Duration::from_secs(waited), "{case}");
            assert_eq!(endpoints.known_projects(), 1, "{case}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_404_on_the_project_list_is_a_missing_organization() {
        let mgmt = Scripted::default().answer("projects", vec![Reply::Failed(MgmtError::NotFound)]);
        let telemetry = Arc::new(Telemetry::default());
        let slug = Slug::parse("acme").unwrap();
        let org = Arc::new(Organization::new(
            slug,
            "http://sentry".into(),
            telemetry.clone(),
        ));
        let clock = Arc::new(TokioClock::new());
        let loading = preload(
            Arc::new(mgmt),
            Arc::default(),
            org.clone(),
            Logger::discard(),
            clock,
        );
        // It keeps trying: the organization may be created later.
        assert!(tokio::time::timeout(Duration::from_secs(600), loading)
            .await
            .is_err());
        let problem = telemetry.health().problem().unwrap_or_default();
        assert!(
            problem.starts_with("organization \"acme\" not found"),
            "{problem}"
        );
    }
}
