//! What an attempt means for an error event. An event and the span or log record it came
//! from succeed or fail apart, and the collector's retry of a batch carries only spans and log
//! records: so an event to retry is owed, kept by the core and sent again on its own
//! ([`super::owed`]), never handed back to the collector. Everything else the job decided
//! (a rate limit held or announced, 413 shrinking, a refused key) stands as it is.

use crate::clock::Instant;
use crate::outcome::{DropReason, Outcome, RetryReason};
use crate::payload::Ran;

use super::envelope::EventPiece;
use super::owed;

/// What becomes of one error event after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum EventFate {
    Sent,
    Dropped {
        reason: DropReason,
        detail: String,
    },
    /// Kept by the core, to be sent again at `due` (as the job last had it: shrunk after a
    /// 413).
    Owed {
        event: EventPiece,
        due: Instant,
        reason: RetryReason,
    },
}

/// The fates of `event`'s job after its `attempts`-th attempt, at `now`: a retry (or a panic,
/// after which what Sentry took is not known) makes it owed, after the delay Sentry asked for
/// or a doubling backoff ([`owed::due`]).
pub fn fates(
    ran: Ran<EventPiece>,
    event: &EventPiece,
    attempts: u32,
    now: Instant,
) -> Vec<EventFate> {
    let owed = |event, reason, delay| EventFate::Owed {
        event,
        due: owed::due(now, attempts, delay),
        reason,
    };
    let outcomes = match ran {
        Ok(outcomes) => outcomes,
        Err(panicked) => return vec![owed(event.clone(), RetryReason::Panicked(panicked.0), None)],
    };
    let fate = |outcome| match outcome {
        Outcome::Sent { .. } => EventFate::Sent,
        Outcome::Dropped { reason, detail, .. } => EventFate::Dropped { reason, detail },
        Outcome::Retry {
            piece,
            reason,
            delay,
            ..
        } => owed(piece, reason, delay),
    };
    outcomes.into_iter().map(fate).collect()
}
