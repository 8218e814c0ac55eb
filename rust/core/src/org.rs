//! Whether the configured organization exists. A project lookup answering 404 means "no such
//! project" only while the organization exists: with a mistyped `org_slug`, or a `url` that
//! leads elsewhere, every lookup answers 404, and the data must wait for the configuration to
//! be fixed instead of being dropped as if each project were missing.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Instant;

use crate::health::Seen;
use crate::mgmt::MgmtError;
use crate::slug::Slug;
use crate::sync::locked;
use crate::telemetry::Telemetry;

/// An organization found is believed this long: a 404 storm after it checks again.
pub const EXISTS_TTL: Duration = Duration::from_secs(60);
/// An organization not found is checked again after this long.
pub const MISSING_TTL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgState {
    Exists,
    Missing,
}

/// Whether a state learnt at `at` still holds at `now`.
fn fresh(state: OrgState, at: Instant, now: Instant) -> bool {
    let ttl = match state {
        OrgState::Exists => EXISTS_TTL,
        OrgState::Missing => MISSING_TTL,
    };
    now.saturating_duration_since(at) < ttl
}

pub struct Organization {
    slug: Slug,
    /// Where it was looked for (Sentry's URL, without credentials), for the status text.
    url: String,
    telemetry: Arc<Telemetry>,
    known: Mutex<Option<(OrgState, Instant)>>,
    /// One check at a time; the others wait for its answer.
    checking: tokio::sync::Mutex<()>,
}

impl Organization {
    pub fn new(slug: Slug, url: String, telemetry: Arc<Telemetry>) -> Organization {
        Organization {
            slug,
            url,
            telemetry,
            known: Mutex::new(None),
            checking: tokio::sync::Mutex::new(()),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Option<(OrgState, Instant)>> {
        locked(&self.known)
    }

    /// Why data waits while the organization is missing: for the status and the export error.
    pub fn missing_problem(&self) -> String {
        format!(
            "organization {:?} not found at {}: check org_slug and url (data is kept and retried)",
            self.slug.as_str(),
            self.url
        )
    }

    /// Records what a management call showed about the organization.
    pub fn record(&self, state: OrgState, now: Instant) {
        *self.known() = Some((state, now));
        let problem = self.missing_problem();
        self.telemetry.health().saw(Seen::Organization {
            found: state == OrgState::Exists,
            problem: &problem,
        });
    }

    /// Whether the organization exists: as last learnt while that is fresh, else asked
    /// through `fetch` (once for all callers waiting at the same time).
    pub async fn confirm<F, Fut>(
        &self,
        now: impl Fn() -> Instant,
        fetch: F,
    ) -> Result<OrgState, MgmtError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(), MgmtError>>,
    {
        let believed = || match *self.known() {
            Some((state, at)) if fresh(state, at, now()) => Some(state),
            _ => None,
        };
        if let Some(state) = believed() {
            return Ok(state);
        }
        let _checking = self.checking.lock().await;
        if let Some(state) = believed() {
            return Ok(state);
        }
        let state = match fetch().await {
            Ok(()) => OrgState::Exists,
            Err(MgmtError::NotFound) => OrgState::Missing,
            Err(e) => return Err(e),
        };
        self.record(state, now());
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn org() -> Organization {
        Organization::new(
            Slug::parse("acme").unwrap(),
            "http://sentry.test/".into(),
            Arc::new(Telemetry::default()),
        )
    }

    #[test]
    fn states_are_believed_for_their_ttl() {
        let t0 = Instant::now();
        let table = [
            (OrgState::Exists, Duration::ZERO, true),
            (
                OrgState::Exists,
                EXISTS_TTL - Duration::from_millis(1),
                true,
            ),
            (OrgState::Exists, EXISTS_TTL, false),
            (
                OrgState::Missing,
                MISSING_TTL - Duration::from_millis(1),
                true,
            ),
            (OrgState::Missing, MISSING_TTL, false),
        ];
        for (state, after, want) in table {
            assert_eq!(
                fresh(state, t0, t0 + after),
                want,
                "{state:?} after {after:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_404_for_the_organization_is_missing_and_shows_in_the_status() {
        let org = org();
        let t0 = Instant::now();
        let state = org
            .confirm(|| t0, || async { Err(MgmtError::NotFound) })
            .await;
        assert_eq!(state, Ok(OrgState::Missing));
        let problem = org.telemetry.health().problem().unwrap_or_default();
        assert!(
            problem.contains("organization \"acme\" not found"),
            "{problem}"
        );
        // Checked again once the answer is old: the organization is back.
        let later = t0 + MISSING_TTL;
        let state = org.confirm(|| later, || async { Ok(()) }).await;
        assert_eq!(state, Ok(OrgState::Exists));
        assert_eq!(org.telemetry.health().problem(), None);
    }

    #[tokio::test]
    async fn a_fresh_answer_is_reused_and_errors_are_not_remembered() {
        let org = org();
        let calls = AtomicUsize::new(0);
        let t0 = Instant::now();
        let failing = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(MgmtError::Transport("refused".into()))
        };
        assert!(org.confirm(|| t0, failing).await.is_err());
        assert!(org.confirm(|| t0, failing).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let found = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        };
        assert_eq!(org.confirm(|| t0, found).await, Ok(OrgState::Exists));
        let soon = t0 + EXISTS_TTL / 2;
        assert_eq!(org.confirm(|| soon, found).await, Ok(OrgState::Exists));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
