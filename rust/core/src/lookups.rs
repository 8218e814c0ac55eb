//! Project lookups running now, and since when. An export waits for a lookup at most a short
//! bound counted from when that lookup started, not from when the export came: while one
//! service's lookup hangs, every later batch holding that service hands its data back at once
//! instead of each waiting the bound again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Instant;

use crate::slug::Slug;
use crate::sync::locked;

#[derive(Debug, Default)]
pub struct LookupsInFlight {
    started: Mutex<HashMap<Slug, Instant>>,
}

/// Marks a lookup as running until dropped (at the end of the task that runs it).
#[derive(Debug)]
pub struct Running {
    lookups: Arc<LookupsInFlight>,
    slug: Slug,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.lookups.started().remove(&self.slug);
    }
}

impl LookupsInFlight {
    fn started(&self) -> std::sync::MutexGuard<'_, HashMap<Slug, Instant>> {
        locked(&self.started)
    }

    /// When the running lookup of `slug` started; when none runs, one starts `now` and the
    /// caller gets the mark to hold while it runs.
    pub fn begin(self: &Arc<Self>, slug: &Slug, now: Instant) -> (Instant, Option<Running>) {
        let mut started = self.started();
        if let Some(since) = started.get(slug) {
            return (*since, None);
        }
        started.insert(slug.clone(), now);
        let running = Running {
            lookups: self.clone(),
            slug: slug.clone(),
        };
        (now, Some(running))
    }
}

/// How much longer an export waits for a lookup that started at `since`, of at most `bound`.
pub fn wait_left(since: Instant, now: Instant, bound: Duration) -> Duration {
    bound.saturating_sub(now.saturating_duration_since(since))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_counts_from_the_lookups_start() {
        let t0 = Instant::now();
        let bound = Duration::from_secs(2);
        let table = [
            (Duration::ZERO, bound),
            (Duration::from_millis(500), Duration::from_millis(1500)),
            (bound, Duration::ZERO),
            (Duration::from_secs(60), Duration::ZERO),
        ];
        for (age, want) in table {
            assert_eq!(wait_left(t0, t0 + age, bound), want, "after {age:?}");
        }
    }

    #[test]
    fn one_lookup_runs_per_slug_until_its_mark_is_dropped() {
        let lookups = Arc::new(LookupsInFlight::default());
        let slug = Slug::parse("slow").unwrap();
        let t0 = Instant::now();
        let (since, first) = lookups.begin(&slug, t0);
        assert_eq!(since, t0);
        assert!(first.is_some());
        let later = t0 + Duration::from_secs(5);
        let (since, second) = lookups.begin(&slug, later);
        assert_eq!(since, t0, "a joiner sees when the running lookup started");
        assert!(second.is_none());
        drop(first);
        let (since, third) = lookups.begin(&slug, later);
        assert_eq!(since, later);
        assert!(third.is_some());
    }
}
