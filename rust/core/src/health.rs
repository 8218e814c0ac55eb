//! What keeps Sentry from being used right now, by cause, derived here and nowhere else from
//! what the exporter sees ([`Seen`]). A cause is set by a failure of its kind and cleared only
//! by a success of the same kind: a revoked token stays reported while ingest, which does not
//! use the token, keeps accepting data.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use crate::sync::locked;

/// What a failed management API call tells about Sentry's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallFailure {
    /// An answer, though not a success: the API is reachable; the token is not proven.
    Answered,
    /// The auth token was refused.
    TokenRefused,
    /// No usable answer: transport error, 5xx, an answer that cannot be read.
    Unreachable,
}

/// A failed management API call, as health reads it (its text is the problem it reports).
pub trait ManagementFailure: fmt::Display + fmt::Debug {
    fn failure(&self) -> CallFailure;
}

/// Something the exporter saw that tells about Sentry's health.
#[derive(Debug, Clone, Copy)]
pub enum Seen<'a> {
    /// Ingest answered `status` at `url`.
    IngestAnswer { status: u16, url: &'a str },
    /// Ingest gave no answer: `reason`.
    IngestSilent { reason: &'a str },
    /// A management API call ended so.
    Management(Result<(), &'a dyn ManagementFailure>),
    /// The organization was found, or not (`problem` says what to fix).
    Organization { found: bool, problem: &'a str },
}

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
        locked(&self.problems)
    }

    /// Updates the causes with what `seen` shows.
    pub fn saw(&self, seen: Seen<'_>) {
        match seen {
            Seen::IngestAnswer { status, url } => self.ingest_answer(status, url),
            Seen::IngestSilent { reason } => {
                self.fail(Cause::IngestUnreachable, format!("Sentry ingest: {reason}"))
            }
            Seen::Management(result) => self.management(result),
            Seen::Organization { found: true, .. } => self.recover(Cause::OrganizationNotFound),
            Seen::Organization {
                found: false,
                problem,
            } => self.fail(Cause::OrganizationNotFound, problem),
        }
    }

    fn ingest_answer(&self, status: u16, url: &str) {
        match status {
            200..=299 => {
                self.recover(Cause::IngestUnreachable);
                self.recover(Cause::IngestNotFound);
            }
            404 => self.fail(
                Cause::IngestNotFound,
                format!("Sentry ingest answered 404 at {url}: nothing is there to take the data"),
            ),
            500.. => self.fail(
                Cause::IngestUnreachable,
                format!("Sentry ingest answered {status}"),
            ),
            _ => {}
        }
    }

    fn management(&self, result: Result<(), &dyn ManagementFailure>) {
        let e = match result {
            Ok(()) => {
                self.recover(Cause::ManagementAuth);
                self.recover(Cause::ManagementUnreachable);
                return;
            }
            Err(e) => e,
        };
        match e.failure() {
            CallFailure::Answered => self.recover(Cause::ManagementUnreachable),
            CallFailure::TokenRefused => {
                self.fail(Cause::ManagementAuth, format!("Sentry management API: {e}"))
            }
            CallFailure::Unreachable => self.fail(
                Cause::ManagementUnreachable,
                format!("Sentry management API: {e}"),
            ),
        }
    }

    /// `cause` holds, described by `problem` (the newest description wins).
    fn fail(&self, cause: Cause, problem: impl Into<String>) {
        self.problems().insert(cause, problem.into());
    }

    /// A success that shows `cause` no longer holds.
    fn recover(&self, cause: Cause) {
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
    use crate::mgmt::MgmtError;

    const URL: &str = "http://127.0.0.1:1/api/1/integration/otlp/v1/traces/";

    #[test]
    fn what_each_sight_means_for_health() {
        let refused = MgmtError::Unauthorized { status: 401 };
        let down = MgmtError::Transport("connection refused".into());
        let ingest = |status| Seen::IngestAnswer { status, url: URL };
        let table: Vec<(&str, Vec<Seen>, Option<&str>)> = vec![
            ("ingest 2xx", vec![ingest(200)], None),
            ("ingest 5xx", vec![ingest(503)], Some("Sentry ingest answered 503")),
            ("ingest 5xx, then 2xx", vec![ingest(503), ingest(200)], None),
            ("ingest 429 says nothing", vec![ingest(429)], None),
            ("ingest 404", vec![ingest(404)], Some("Sentry ingest answered 404 at http://127.0.0.1:1/api/1/integration/otlp/v1/traces/: nothing is there to take the data")),
            ("no answer", vec![Seen::IngestSilent { reason: "timed out" }], Some("Sentry ingest: timed out")),
            ("token refused", vec![Seen::Management(Err(&refused))], Some("Sentry management API: the auth token was refused (401): it needs the project:read scope (project:write and team:read to create projects)")),
            ("token refused, then a 404 answer", vec![Seen::Management(Err(&refused)), Seen::Management(Err(&MgmtError::NotFound))], Some("Sentry management API: the auth token was refused (401): it needs the project:read scope (project:write and team:read to create projects)")),
            ("token refused, ingest works", vec![Seen::Management(Err(&refused)), ingest(200)], Some("Sentry management API: the auth token was refused (401): it needs the project:read scope (project:write and team:read to create projects)")),
            ("management down, then a 404 answer", vec![Seen::Management(Err(&down)), Seen::Management(Err(&MgmtError::NotFound))], None),
            ("management down, then ok", vec![Seen::Management(Err(&down)), Seen::Management(Ok(()))], None),
            ("organization missing", vec![Seen::Organization { found: false, problem: "organization \"acme\" not found" }], Some("organization \"acme\" not found")),
            ("organization found again", vec![Seen::Organization { found: false, problem: "gone" }, Seen::Organization { found: true, problem: "" }], None),
        ];
        for (case, sights, want) in table {
            let health = Health::default();
            for seen in sights {
                health.saw(seen);
            }
            assert_eq!(health.problem().as_deref(), want, "{case}");
        }
    }

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
