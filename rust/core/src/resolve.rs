//! Finding a project's ingest endpoint for the job: from the cache, else by one lookup through
//! the management API (shared by every batch that waits for the same project), telling a
//! missing project from a missing organization. A lookup that outlasts [`LOOKUP_WAIT`] goes on
//! in the background while the export moves on: no batch waits on a slow lookup for long.
//! In the legacy `dsn` mode, [`EndpointSource::Fixed`] answers the DSN's endpoint at once.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::endpoint_cache::{EndpointCache, Lookup, ResolveError};
use crate::ingest::endpoint::IngestEndpoint;
use crate::job::Resolved;
use crate::lookups::{wait_left, LookupsInFlight};
use crate::mgmt::Management;
use crate::org::{OrgState, Organization};
use crate::slug::Slug;

/// How long an export waits for a project's lookup, counted from the lookup's start.
pub const LOOKUP_WAIT: Duration = Duration::from_secs(2);

/// Where the jobs' endpoints come from.
pub enum EndpointSource {
    /// Looked up (and cached) through the management API.
    Lookup(Resolver),
    /// The legacy `dsn` setting: its one endpoint, for every project, with no management API.
    Fixed(Arc<IngestEndpoint>),
}

impl EndpointSource {
    /// The endpoint of `slug`, or why there is none now.
    pub async fn resolve(&self, slug: &Slug) -> Resolved {
        match self {
            EndpointSource::Lookup(resolver) => resolver.resolve(slug).await,
            EndpointSource::Fixed(endpoint) => Resolved::Found(endpoint.clone()),
        }
    }

    /// Forgets a refused key; a DSN's key is all there is, so it stays.
    pub async fn evict(&self, slug: &Slug, stale: &IngestEndpoint) {
        if let EndpointSource::Lookup(resolver) = self {
            resolver.evict(slug, stale).await;
        }
    }

    /// Projects whose ingest endpoint is known.
    pub fn known_projects(&self) -> usize {
        match self {
            EndpointSource::Lookup(resolver) => resolver.endpoints.known_projects(),
            EndpointSource::Fixed(_) => 1,
        }
    }

    /// Whether `slug`'s endpoint is known now (no lookup of it running).
    pub fn is_known(&self, slug: &Slug) -> bool {
        match self {
            EndpointSource::Lookup(resolver) => resolver.endpoints.cached(slug).is_some(),
            EndpointSource::Fixed(_) => true,
        }
    }

    /// The resolver that uses the management API, `None` in `dsn` mode.
    pub fn lookups(&self) -> Option<&Resolver> {
        match self {
            EndpointSource::Lookup(resolver) => Some(resolver),
            EndpointSource::Fixed(_) => None,
        }
    }
}

pub struct Resolver {
    pub endpoints: Arc<EndpointCache>,
    pub mgmt: Arc<dyn Management>,
    pub org: Arc<Organization>,
    pub clock: Arc<dyn Clock>,
    lookups: Arc<LookupsInFlight>,
}

impl Resolver {
    pub fn new(
        endpoints: Arc<EndpointCache>,
        mgmt: Arc<dyn Management>,
        org: Arc<Organization>,
        clock: Arc<dyn Clock>,
    ) -> Resolver {
        Resolver {
            endpoints,
            mgmt,
            org,
            clock,
            lookups: Arc::default(),
        }
    }

    /// The endpoint of `slug`, or why there is none now.
    pub async fn resolve(&self, slug: &Slug) -> Resolved {
        if let Some(endpoint) = self.endpoints.cached(slug) {
            return Resolved::Found(endpoint);
        }
        let now = self.clock.now();
        let (since, running) = self.lookups.begin(slug, now);
        let wait = wait_left(since, now, LOOKUP_WAIT);
        if running.is_none() && wait.is_zero() {
            return Resolved::Pending {
                waited: LOOKUP_WAIT,
            };
        }
        let lookup = LookUp {
            endpoints: self.endpoints.clone(),
            mgmt: self.mgmt.clone(),
            org: self.org.clone(),
            clock: self.clock.clone(),
        };
        let slug = slug.clone();
        let task = tokio::spawn(async move {
            let found = lookup.run(&slug).await;
            drop(running);
            found
        });
        tokio::select! {
            joined = task => joined.unwrap_or_else(|failed| Resolved::Failed {
                reason: failed.to_string(),
                delay: None,
            }),
            _ = self.clock.sleep(wait) => Resolved::Pending { waited: LOOKUP_WAIT },
        }
    }

    /// Forgets `stale` (a refused key) so that the next lookup asks Sentry again.
    pub async fn evict(&self, slug: &Slug, stale: &IngestEndpoint) {
        self.endpoints.evict(slug, stale).await;
    }
}

/// One lookup, owning what it uses: it can run on after the export that started it.
struct LookUp {
    endpoints: Arc<EndpointCache>,
    mgmt: Arc<dyn Management>,
    org: Arc<Organization>,
    clock: Arc<dyn Clock>,
}

impl LookUp {
    async fn run(&self, slug: &Slug) -> Resolved {
        let clock = &self.clock;
        let found = self
            .endpoints
            .resolve(slug, || clock.now(), || self.mgmt.project_keys(slug))
            .await;
        match found {
            Ok(Lookup::Found(endpoint)) => Resolved::Found(endpoint),
            Ok(Lookup::NotFound) => self.project_or_organization().await,
            Err(e) => failed(e),
        }
    }

    /// A 404 for the project: is it the project that is missing, or the organization?
    async fn project_or_organization(&self) -> Resolved {
        let clock = &self.clock;
        match self
            .org
            .confirm(|| clock.now(), || self.mgmt.organization())
            .await
        {
            Ok(OrgState::Exists) => Resolved::ProjectMissing,
            Ok(OrgState::Missing) => Resolved::OrganizationMissing {
                problem: self.org.missing_problem(),
            },
            Err(e) => failed(ResolveError::Mgmt(e)),
        }
    }
}

/// A lookup that failed, as the job sees it.
pub fn failed(e: ResolveError) -> Resolved {
    let delay = match &e {
        ResolveError::Mgmt(e) => e.retry_after(),
        ResolveError::Unusable(_) => None,
    };
    Resolved::Failed {
        reason: e.to_string(),
        delay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::endpoint::from_dsn;

    #[tokio::test]
    async fn a_fixed_source_answers_its_endpoint_for_every_project_at_once() {
        let endpoint = Arc::new(from_dsn("http://abc@127.0.0.1:9/42").unwrap());
        let source = EndpointSource::Fixed(endpoint.clone());
        for slug in ["dsn-42", "checkout", "anything-else"] {
            let slug = Slug::parse(slug).unwrap();
            source.evict(&slug, &endpoint).await;
            match source.resolve(&slug).await {
                Resolved::Found(found) => assert_eq!(found, endpoint, "{slug}"),
                other => panic!("{slug}: {other:?}"),
            }
        }
        assert_eq!(source.known_projects(), 1);
        assert!(source.lookups().is_none());
    }
}
