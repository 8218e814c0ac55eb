//! slug -> ingest endpoint cache. Concurrent lookups of one slug make one
//! request (the slot's lock is held during the lookup); a "not found" answer
//! is remembered for a while so that unknown services do not hammer the API.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Instant;

use crate::ingest::endpoint::{from_keys, DsnError, IngestEndpoint};
use crate::mgmt::models::ProjectKey;
use crate::mgmt::MgmtError;
use crate::slug::Slug;
use crate::sync::locked;

/// How long a 404 for a slug is believed.
pub const NOT_FOUND_TTL: Duration = Duration::from_secs(60);

/// Past this many slots, those without an endpoint and not in use are
/// dropped, so a flood of unknown service names cannot grow the cache without
/// bound. A dropped "not found" costs one more lookup, later.
pub const PRUNE_AT: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(Arc<IngestEndpoint>),
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Mgmt(MgmtError),
    #[error(transparent)]
    Unusable(DsnError),
}

#[derive(Debug, Default)]
enum Slot {
    #[default]
    Unknown,
    Found(Arc<IngestEndpoint>),
    NotFound {
        until: Instant,
    },
}

type SharedSlot = Arc<tokio::sync::Mutex<Slot>>;

#[derive(Debug)]
struct Slots {
    map: HashMap<Slug, SharedSlot>,
    /// The size at which the next new slot prunes first.
    prune_at: usize,
}

impl Slots {
    /// Keeps the slots that hold an endpoint or that a lookup is using.
    fn prune(&mut self) {
        self.map.retain(|_, slot| {
            Arc::strong_count(slot) > 1 || matches!(slot.try_lock().as_deref(), Ok(Slot::Found(_)))
        });
        // Known projects stay: when they alone pass the mark, it moves up, so
        // pruning stays rare (amortized constant time per new slot).
        self.prune_at = PRUNE_AT.max(2 * self.map.len());
    }
}

#[derive(Debug)]
pub struct EndpointCache {
    slots: Mutex<Slots>,
}

impl Default for EndpointCache {
    fn default() -> EndpointCache {
        EndpointCache {
            slots: Mutex::new(Slots {
                map: HashMap::new(),
                prune_at: PRUNE_AT,
            }),
        }
    }
}

impl EndpointCache {
    fn slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        locked(&self.slots)
    }

    fn slot(&self, slug: &Slug) -> SharedSlot {
        let mut slots = self.slots();
        if let Some(slot) = slots.map.get(slug) {
            return slot.clone();
        }
        if slots.map.len() >= slots.prune_at {
            slots.prune();
        }
        slots.map.entry(slug.clone()).or_default().clone()
    }

    /// The endpoint of `slug` when it is known and no lookup of it is running.
    pub fn cached(&self, slug: &Slug) -> Option<Arc<IngestEndpoint>> {
        let slot = self.slots().map.get(slug)?.clone();
        let slot = slot.try_lock().ok()?;
        match &*slot {
            Slot::Found(endpoint) => Some(endpoint.clone()),
            _ => None,
        }
    }

    /// The endpoint of `slug`, from the cache or by calling `fetch` (once, however
    /// many callers wait for the same slug).
    pub async fn resolve<F, Fut>(
        &self,
        slug: &Slug,
        now: impl Fn() -> Instant,
        fetch: F,
    ) -> Result<Lookup, ResolveError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<ProjectKey>, MgmtError>>,
    {
        let slot = self.slot(slug);
        let mut slot = slot.lock().await;
        match &*slot {
            Slot::Found(endpoint) => return Ok(Lookup::Found(endpoint.clone())),
            Slot::NotFound { until } if now() < *until => return Ok(Lookup::NotFound),
            _ => {}
        }
        match fetch().await {
            Ok(keys) => {
                let endpoint = Arc::new(from_keys(&keys).map_err(ResolveError::Unusable)?);
                *slot = Slot::Found(endpoint.clone());
                Ok(Lookup::Found(endpoint))
            }
            Err(MgmtError::NotFound) => {
                *slot = Slot::NotFound {
                    until: now() + NOT_FOUND_TTL,
                };
                Ok(Lookup::NotFound)
            }
            Err(e) => Err(ResolveError::Mgmt(e)),
        }
    }

    /// Records an endpoint learnt elsewhere (preload, a created project): it
    /// replaces "not found" or nothing, but never a lookup in progress.
    pub fn offer(&self, slug: &Slug, endpoint: IngestEndpoint) {
        let slot = self.slot(slug);
        if let Ok(mut slot) = slot.try_lock() {
            if !matches!(&*slot, Slot::Found(_)) {
                *slot = Slot::Found(Arc::new(endpoint));
            }
        };
    }

    /// Forgets a remembered "not found" for `slug` (the project was just created).
    pub async fn forget_not_found(&self, slug: &Slug) {
        let slot = self.slot(slug);
        let mut slot = slot.lock().await;
        if matches!(&*slot, Slot::NotFound { .. }) {
            *slot = Slot::Unknown;
        }
    }

    /// How many projects have a known endpoint.
    pub fn known_projects(&self) -> usize {
        self.slots()
            .map
            .values()
            .filter(|slot| matches!(slot.try_lock().as_deref(), Ok(Slot::Found(_))))
            .count()
    }

    /// Forgets `slug` if it still maps to `stale`, so the next lookup asks again.
    pub async fn evict(&self, slug: &Slug, stale: &IngestEndpoint) {
        let slot = self.slot(slug);
        let mut slot = slot.lock().await;
        if matches!(&*slot, Slot::Found(current) if **current == *stale) {
            *slot = Slot::Unknown;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mgmt::scripted::keys;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn slug(s: &str) -> Slug {
        Slug::parse(s).unwrap()
    }

    #[tokio::test]
    async fn concurrent_lookups_of_one_slug_make_one_request() {
        let cache = EndpointCache::default();
        let calls = AtomicUsize::new(0);
        let checkout = slug("checkout");
        let lookups = (0..50).map(|_| {
            cache.resolve(&checkout, Instant::now, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(keys(5))
            })
        });
        let results = futures_util::future::join_all(lookups).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        for r in results {
            assert!(matches!(r, Ok(Lookup::Found(e)) if e.project_id == 5));
        }
    }

    #[tokio::test]
    async fn not_found_is_remembered_until_the_ttl_ends() {
        let cache = EndpointCache::default();
        let calls = AtomicUsize::new(0);
        let t0 = Instant::now();
        let fetch = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(MgmtError::NotFound)
        };
        let s = slug("ghost");
        assert_eq!(cache.resolve(&s, || t0, fetch).await, Ok(Lookup::NotFound));
        let later = t0 + NOT_FOUND_TTL - Duration::from_secs(1);
        assert_eq!(
            cache.resolve(&s, || later, fetch).await,
            Ok(Lookup::NotFound)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let expired = t0 + NOT_FOUND_TTL;
        assert_eq!(
            cache.resolve(&s, || expired, fetch).await,
            Ok(Lookup::NotFound)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn transient_errors_are_not_cached() {
        let cache = EndpointCache::default();
        let s = slug("api");
        let err = cache
            .resolve(&s, Instant::now, || async {
                Err(MgmtError::Status {
                    status: 500,
                    message: String::new(),
                })
            })
            .await;
        assert!(matches!(
            err,
            Err(ResolveError::Mgmt(MgmtError::Status { status: 500, .. }))
        ));
        let ok = cache
            .resolve(&s, Instant::now, || async { Ok(keys(9)) })
            .await;
        assert!(matches!(ok, Ok(Lookup::Found(e)) if e.project_id == 9));
    }

    #[tokio::test]
    async fn offered_endpoints_replace_not_found_but_not_found_endpoints() {
        let cache = EndpointCache::default();
        let s = slug("new");
        let not_found = || async { Err(MgmtError::NotFound) };
        assert_eq!(
            cache.resolve(&s, Instant::now, not_found).await,
            Ok(Lookup::NotFound)
        );
        cache.offer(&s, from_keys(&keys(4)).unwrap());
        let found = cache.resolve(&s, Instant::now, not_found).await;
        assert!(matches!(found, Ok(Lookup::Found(e)) if e.project_id == 4));
        cache.offer(&s, from_keys(&keys(5)).unwrap());
        let kept = cache.resolve(&s, Instant::now, not_found).await;
        assert!(matches!(kept, Ok(Lookup::Found(e)) if e.project_id == 4));
        assert_eq!(cache.known_projects(), 1);
    }

    #[tokio::test]
    async fn forgetting_not_found_makes_the_next_lookup_ask() {
        let cache = EndpointCache::default();
        let s = slug("new");
        assert_eq!(
            cache
                .resolve(&s, Instant::now, || async { Err(MgmtError::NotFound) })
                .await,
            Ok(Lookup::NotFound)
        );
        cache.forget_not_found(&s).await;
        let found = cache
            .resolve(&s, Instant::now, || async { Ok(keys(6)) })
            .await;
        assert!(matches!(found, Ok(Lookup::Found(e)) if e.project_id == 6));
    }

    #[tokio::test]
    async fn a_flood_of_unknown_slugs_stays_bounded_and_keeps_known_projects() {
        let cache = EndpointCache::default();
        let known = slug("known");
        let found = cache
            .resolve(&known, Instant::now, || async { Ok(keys(1)) })
            .await;
        assert!(matches!(found, Ok(Lookup::Found(_))));
        for n in 0..3 * PRUNE_AT {
            let unknown = slug(&format!("unknown-{n}"));
            let lookup = cache
                .resolve(&unknown, Instant::now, || async {
                    Err(MgmtError::NotFound)
                })
                .await;
            assert_eq!(lookup, Ok(Lookup::NotFound));
            assert!(cache.slots().map.len() <= PRUNE_AT + 1);
        }
        let again = cache
            .resolve(&known, Instant::now, || async { Err(MgmtError::NotFound) })
            .await;
        assert!(matches!(again, Ok(Lookup::Found(e)) if e.project_id == 1));
    }

    #[tokio::test]
    async fn pruning_keeps_lookups_in_progress_and_moves_up_past_known_projects() {
        let cache = EndpointCache::default();
        for n in 0..PRUNE_AT - 2 {
            cache.offer(&slug(&format!("p{n}")), from_keys(&keys(n as u64)).unwrap());
        }
        let (idle, busy) = (slug("idle"), slug("busy"));
        cache.slot(&idle);
        let held = cache.slot(&busy);
        // The cache is full: the next new slot prunes first.
        cache.slot(&slug("one-more"));
        let slots = cache.slots();
        assert!(!slots.map.contains_key(&idle));
        assert!(slots.map.contains_key(&busy), "a slot in use was dropped");
        assert_eq!(slots.prune_at, 2 * (PRUNE_AT - 1));
        drop(slots);
        assert_eq!(cache.known_projects(), PRUNE_AT - 2);
        drop(held);
    }

    #[tokio::test]
    async fn evict_forgets_only_the_stale_endpoint() {
        let cache = EndpointCache::default();
        let s = slug("api");
        let Ok(Lookup::Found(first)) = cache
            .resolve(&s, Instant::now, || async { Ok(keys(1)) })
            .await
        else {
            panic!("lookup failed")
        };
        cache.evict(&s, &first).await;
        let Ok(Lookup::Found(second)) = cache
            .resolve(&s, Instant::now, || async { Ok(keys(2)) })
            .await
        else {
            panic!("lookup failed")
        };
        assert_eq!(second.project_id, 2);
        // A late evict for the old endpoint must not drop the fresh one.
        cache.evict(&s, &first).await;
        let again = cache
            .resolve(&s, Instant::now, || async { Ok(keys(3)) })
            .await;
        assert!(matches!(again, Ok(Lookup::Found(e)) if e.project_id == 2));
    }
}
