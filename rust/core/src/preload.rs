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
use crate::log::{Level, Logger};
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
                logger.info(format!("loaded the endpoints of {loaded} Sentry projects"));
                return;
            }
            Err(MgmtError::NotFound) => {
                logger.log(Level::Error, org.missing_problem());
                clock.sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => {
                let wait = e.retry_after().unwrap_or(backoff).max(FIRST_BACKOFF);
                logger.warn(format!(
                    "cannot load the organization's projects from Sentry ({e}); trying again in {}s, looking projects up one by one meanwhile",
                    wait.as_secs()
                ));
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
