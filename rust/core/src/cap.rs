//! A cap per project and minute (a fixed window per project, from its first admission), on
//! what Sentry bills per item: error events (`errors.max_per_minute`, so that a failing
//! dependency in a busy service does not make one event per request) and trace metric
//! items (`metrics.max_items_per_minute`).

use std::collections::HashMap;
use std::time::Duration;

use crate::clock::Instant;
use crate::slug::Slug;

const WINDOW: Duration = Duration::from_secs(60);
/// Projects whose windows are kept before the ended ones are forgotten.
const PRUNE_ABOVE: usize = 4096;

#[derive(Debug)]
pub struct Cap {
    /// 0: no cap.
    per_minute: u32,
    windows: HashMap<Slug, (Instant, u32)>,
}

impl Cap {
    pub fn new(per_minute: u32) -> Cap {
        Cap {
            per_minute,
            windows: HashMap::new(),
        }
    }

    /// Whether `count` more items of `slug` may be sent at `now` (they are then counted):
    /// all of them or none.
    pub fn admit(&mut self, slug: &Slug, count: u32, now: Instant) -> bool {
        let admitted = count <= self.room(slug, now);
        if admitted {
            self.record(slug, count, now);
        }
        admitted
    }

    /// How many more items of `slug` the current minute takes at `now` (`u32::MAX`: no cap).
    pub fn room(&mut self, slug: &Slug, now: Instant) -> u32 {
        if self.per_minute == 0 {
            return u32::MAX;
        }
        self.per_minute.saturating_sub(self.window(slug, now).1)
    }

    /// Counts `count` items of `slug` in the minute of `now`: for trace metrics, those Sentry
    /// accepted, so that an attempt that failed uses none of the minute.
    pub fn record(&mut self, slug: &Slug, count: u32, now: Instant) {
        if self.per_minute == 0 {
            return;
        }
        let (_, used) = self.window(slug, now);
        *used = used.saturating_add(count);
    }

    /// `slug`'s window at `now`, a new one when its minute is over.
    fn window(&mut self, slug: &Slug, now: Instant) -> &mut (Instant, u32) {
        if self.windows.len() > PRUNE_ABOVE {
            self.windows
                .retain(|_, (start, _)| now.saturating_duration_since(*start) < WINDOW);
        }
        let window = self.windows.entry(slug.clone()).or_insert((now, 0));
        if now.saturating_duration_since(window.0) >= WINDOW {
            *window = (now, 0);
        }
        window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_per_project_and_minute() {
        let start = Instant::now();
        let (shop, api) = (Slug::parse("shop").unwrap(), Slug::parse("api").unwrap());
        let mut cap = Cap::new(2);
        let table = [
            (&shop, 0, true),
            (&shop, 1, true),
            (&shop, 59, false),
            (&api, 59, true),
            (&shop, 60, true),
            (&shop, 61, true),
            (&shop, 62, false),
            (&api, 62, true),
            (&api, 63, false),
        ];
        for (slug, at, admitted) in table {
            let now = start + Duration::from_secs(at);
            assert_eq!(cap.admit(slug, 1, now), admitted, "{slug} at {at}s");
        }
    }

    #[test]
    fn zero_means_no_cap() {
        let mut cap = Cap::new(0);
        let shop = Slug::parse("shop").unwrap();
        assert!((0..10_000).all(|_| cap.admit(&shop, 1000, Instant::now())));
    }

    #[test]
    fn a_group_is_admitted_whole_or_not_at_all() {
        let now = Instant::now();
        let shop = Slug::parse("shop").unwrap();
        let mut cap = Cap::new(10);
        assert!(cap.admit(&shop, 6, now));
        assert!(!cap.admit(&shop, 5, now));
        assert!(cap.admit(&shop, 4, now));
        assert!(!cap.admit(&shop, 1, now));
    }

    #[test]
    fn room_is_what_was_not_recorded_in_the_minute() {
        let start = Instant::now();
        let shop = Slug::parse("shop").unwrap();
        let mut cap = Cap::new(10);
        assert_eq!(cap.room(&shop, start), 10, "asking uses nothing");
        assert_eq!(cap.room(&shop, start), 10);
        cap.record(&shop, 7, start);
        assert_eq!(cap.room(&shop, start + Duration::from_secs(59)), 3);
        cap.record(&shop, 9, start);
        assert_eq!(cap.room(&shop, start), 0, "never below zero");
        assert_eq!(cap.room(&shop, start + Duration::from_secs(60)), 10);
        assert_eq!(Cap::new(0).room(&shop, start), u32::MAX);
    }
}
