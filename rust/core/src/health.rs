//! What keeps Sentry from being used right now, by cause. A cause is set by a failure of its
//! kind and cleared only by a success of the same kind: a revoked token stays reported while
//! ingest, which does not use the token, keeps accepting data.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// One reason the exporter cannot work as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cause {
    /// The management API refuses the auth token (401, 403).
    ManagementAuth,
    /// The management API cannot be reached or fails (transport error, 5xx, bad answer).
    ManagementUnreachable,
    /// The management API does not know the configured organization.
    OrganizationNotFound,
    /// Ingest cannot be reached or fails (transport error, 5xx).
    IngestUnreachable,
    /// Ingest answers 404: it is not at the address the project's keys give.
    IngestNotFound,
}

#[derive(Debug, Default)]
pub struct Health {
    problems: Mutex<BTreeMap<Cause, String>>,
}

impl Health {
    fn problems(&self) -> std::sync::MutexGuard<'_, BTreeMap<Cause, String>> {
        self.problems.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `cause` holds, described by `problem` (the newest description wins).
    pub fn fail(&self, cause: Cause, problem: impl Into<String>) {
        self.problems().insert(cause, problem.into());
    }

    /// A success that shows `cause` no longer holds.
    pub fn recover(&self, cause: Cause) {
        self.problems().remove(&cause);
    }

    /// Every cause that holds, in a fixed order, joined; `None` when all is well.
    pub fn problem(&self) -> Option<String> {
        let problems = self.problems();
        (!problems.is_empty()).then(|| {
            problems
                .values()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_holds_until_the_same_cause_recovers() {
        let health = Health::default();
        health.fail(Cause::ManagementAuth, "token refused");
        // Ingest keeps working: that says nothing about the token.
        health.recover(Cause::IngestUnreachable);
        health.recover(Cause::ManagementUnreachable);
        assert_eq!(health.problem().as_deref(), Some("token refused"));
        health.recover(Cause::ManagementAuth);
        assert_eq!(health.problem(), None);
    }

    #[test]
    fn several_causes_are_all_named_in_a_fixed_order() {
        let health = Health::default();
        health.fail(Cause::IngestUnreachable, "ingest down");
        health.fail(Cause::OrganizationNotFound, "no such organization");
        health.fail(Cause::IngestUnreachable, "ingest still down");
        assert_eq!(
            health.problem().as_deref(),
            Some("no such organization; ingest still down")
        );
        health.recover(Cause::OrganizationNotFound);
        assert_eq!(health.problem().as_deref(), Some("ingest still down"));
    }
}
