//! Which projects get a queue of their own in the host. One queue per project keeps one sick
//! project from holding the others (docs/design.md), but each queue costs the host its
//! consumers and its state: so only projects known to exist in Sentry (their endpoint is
//! cached) get one, at most `max_project_queues` of them, first come first served; the others
//! share one queue. A flood of made-up service names then costs one shared queue, not one
//! queue per name.

use std::collections::HashSet;

use crate::slug::Slug;

#[derive(Debug)]
pub struct ProjectQueues {
    max: usize,
    granted: HashSet<Slug>,
}

impl ProjectQueues {
    pub fn new(max: usize) -> ProjectQueues {
        ProjectQueues {
            max,
            granted: HashSet::new(),
        }
    }

    /// Whether `slug`'s data goes to a queue of its own: once granted, always; else when its
    /// project is `known` and the bound leaves room.
    pub fn own_queue(&mut self, slug: &Slug, known: bool) -> bool {
        if self.granted.contains(slug) {
            return true;
        }
        if !known || self.granted.len() >= self.max {
            return false;
        }
        self.granted.insert(slug.clone());
        true
    }

    /// Grants `slug` a queue of its own whether it is known or not (the host still holds its
    /// queue from before a restart), within the bound; whether it was.
    pub fn restore(&mut self, slug: &Slug) -> bool {
        self.own_queue(slug, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_projects_get_their_own_queue_up_to_the_bound() {
        let slug = |s: &str| Slug::parse(s).unwrap();
        let mut queues = ProjectQueues::new(2);
        let table = [
            ("made-up", false, false),
            ("shop", true, true),
            ("shop", false, true),
            ("made-up", false, false),
            ("billing", true, true),
            ("search", true, false),
            ("billing", true, true),
        ];
        for (name, known, own) in table {
            assert_eq!(queues.own_queue(&slug(name), known), own, "{name} {known}");
        }
        let mut restored = ProjectQueues::new(1);
        assert!(restored.restore(&slug("old")));
        assert!(!restored.restore(&slug("older")));
        assert!(!restored.own_queue(&slug("shop"), true));
    }
}
