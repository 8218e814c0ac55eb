//! At start, in the background: every project of the organization and every
//! client key, into the endpoint cache, so that the first batch of a known
//! project needs no lookup. A failing management API is retried with backoff
//! and never stops the exporter; lookups work meanwhile.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::endpoint::from_keys;
use crate::endpoints::EndpointCache;
use crate::log::Logger;
use crate::mgmt::models::ProjectKey;
use crate::mgmt::{MgmtClient, MgmtError};
use crate::slug::Slug;

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Loads projects and keys until it succeeds once.
pub async fn preload(mgmt: Arc<MgmtClient>, endpoints: Arc<EndpointCache>, logger: Logger) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match load(&mgmt, &endpoints).await {
            Ok(loaded) => {
                logger.info(format!("loaded the endpoints of {loaded} Sentry projects"));
                return;
            }
            Err(e) => {
                let wait = e.retry_after().unwrap_or(backoff).max(FIRST_BACKOFF);
                logger.warn(format!(
                    "cannot load the organization's projects from Sentry ({e}); trying again in {}s, looking projects up one by one meanwhile",
                    wait.as_secs()
                ));
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn load(mgmt: &MgmtClient, endpoints: &EndpointCache) -> Result<usize, MgmtError> {
    let projects = mgmt.projects().await?;
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
