//! One project's part of a batch as a pure state machine: it takes events (the project looked
//! up, a creation admitted, Sentry answered) with `now`, and says what to do next (look up,
//! request a creation, send this piece, or done with these outcomes). Every decision about one
//! project's data is made here: the rate-limit check, 413 halving, the halving of a 400 until
//! the bad item is alone, the one fresh lookup after a refused key, and what each lookup, admission and answer means for the data. It does no I/O
//! and reads no clock; the driver ([`crate::exporter`]) does the work it asks for.

use std::sync::Arc;
use std::time::Duration;

use crate::autocreate::Admission;
use crate::clock::Instant;
use crate::ingest::endpoint::IngestEndpoint;
use crate::ingest::{Answer, Piece};
use crate::outcome::{DropReason, Outcome, RetryReason};
use crate::platform;
use crate::ratelimit::RateLimits;

/// A piece whose request got no answer in time comes back after this long: a slow Sentry
/// gets time to recover before the same data reaches it again.
pub const TIMED_OUT_RETRY_DELAY: Duration = Duration::from_secs(10);
/// When a lookup outlasts the export's wait for it, its project's data comes back after this.
pub const LOOKUP_PENDING_DELAY: Duration = Duration::from_secs(5);
/// While the organization is not found, data comes back after this long.
pub const ORGANIZATION_MISSING_DELAY: Duration = Duration::from_secs(30);
/// When a project is being created, its data comes back after this long.
pub const CREATION_RETRY_DELAY: Duration = Duration::from_secs(1);
/// When too many creations are pending, data of new projects comes back after this long.
pub const CREATION_QUEUE_FULL_DELAY: Duration = Duration::from_secs(5);
/// Halvings a job's 400s may cause: enough to find a few bad items among thousands (each
/// takes about log2 of the items), while an ingest that refuses everything costs a batch
/// this many requests more, not one per item.
pub const MAX_REJECTED_HALVINGS: u32 = 48;

/// What looking the project up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    Found(Arc<IngestEndpoint>),
    /// The organization exists and the project does not.
    ProjectMissing,
    /// The lookup's 404 was for the organization (`org_slug` or `url` is wrong).
    OrganizationMissing {
        problem: String,
    },
    /// The lookup outlasted the export's wait for it and goes on in the background.
    Pending {
        waited: Duration,
    },
    /// The management API failed, or its answer gave no usable endpoint.
    Failed {
        reason: String,
        delay: Option<Duration>,
    },
    /// The export's deadline passed during the lookup.
    DeadlineReached,
}

/// What happened since the job's last action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Start,
    LookedUp(Resolved),
    /// The answer to [`Action::RequestCreation`].
    Admitted(Admission),
    /// Sentry's answer to the last [`Action::Send`].
    Answered(Answer),
}

/// What the driver does next for the job.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<'a, P> {
    LookUp,
    /// The key was refused: forget `stale`, then look up.
    LookUpAgain {
        stale: Arc<IngestEndpoint>,
    },
    /// The project does not exist: ask for its creation, as a project of `platform` (answered
    /// [`Admission::Off`] when `auto_create_projects` is off).
    RequestCreation {
        platform: &'static str,
    },
    Send {
        endpoint: &'a IngestEndpoint,
        piece: &'a P,
    },
    Done(Vec<Outcome<P>>),
}

#[derive(Debug)]
pub struct Job<P> {
    /// A stack: after a 413 the first half is sent first.
    pending: Vec<P>,
    /// Whether a piece may be sent only once those before it were settled (sent or dropped):
    /// once one must be retried, the pieces after it are retried unsent.
    in_order: bool,
    /// What is left of [`MAX_REJECTED_HALVINGS`].
    rejected_halvings: u32,
    /// The piece whose answer is awaited.
    sending: Option<P>,
    endpoint: Option<Arc<IngestEndpoint>>,
    looked_up_again: bool,
    outcomes: Vec<Outcome<P>>,
    /// The Sentry platform of the project if it must be created.
    platform: &'static str,
}

impl<P: Piece> Job<P> {
    pub fn new(piece: P) -> Job<P> {
        Job::of(vec![piece], false)
    }

    /// A job of `pieces`, sent one after the other; with `in_order`, none is sent once one
    /// before it must be retried (trace metrics: a series' state moves on only through an
    /// unbroken run of settled points, see [`crate::trace_metrics`]).
    pub fn in_order(pieces: Vec<P>) -> Job<P> {
        Job::of(pieces, true)
    }

    fn of(mut pieces: Vec<P>, in_order: bool) -> Job<P> {
        pieces.reverse();
        Job {
            pending: pieces,
            in_order,
            rejected_halvings: MAX_REJECTED_HALVINGS,
            sending: None,
            endpoint: None,
            looked_up_again: false,
            outcomes: Vec::new(),
            platform: platform::OTHER,
        }
    }

    /// This job, creating its project (when missing) as a project of `platform` instead of
    /// [`platform::OTHER`].
    pub fn with_platform(mut self, platform: &'static str) -> Job<P> {
        self.platform = platform;
        self
    }

    /// Takes `event` and says what to do next.
    pub fn step(&mut self, event: Event, now: Instant, limits: &RateLimits) -> Action<'_, P> {
        let asked = match event {
            Event::Start => None,
            Event::LookedUp(resolved) => self.looked_up(resolved),
            Event::Admitted(admission) => {
                self.admitted(admission);
                None
            }
            Event::Answered(answer) => self.answered(answer),
        };
        match asked {
            Some(action) => action,
            None => self.next(now, limits),
        }
    }

    /// The next piece to send, once its endpoint is known and no rate limit holds it.
    fn next(&mut self, now: Instant, limits: &RateLimits) -> Action<'_, P> {
        let Some(endpoint) = &self.endpoint else {
            return match self.pending.is_empty() {
                true => Action::Done(std::mem::take(&mut self.outcomes)),
                false => Action::LookUp,
            };
        };
        while let Some(piece) = self.pending.pop() {
            match limits.remaining(&endpoint.public_key, piece.category(), now) {
                Some(wait) => {
                    let held = RetryReason::RateLimited { wait };
                    // Fields, not `self.push`: `endpoint` borrows `self`.
                    if self.in_order {
                        let after = std::mem::take(&mut self.pending);
                        let all = std::iter::once(piece).chain(after.into_iter().rev());
                        let retries = all.map(|piece| retry(piece, held.clone(), Some(wait)));
                        self.outcomes.extend(retries);
                    } else {
                        self.outcomes.push(retry(piece, held, Some(wait)));
                    }
                }
                None => {
                    return Action::Send {
                        endpoint,
                        piece: self.sending.insert(piece),
                    }
                }
            }
        }
        Action::Done(std::mem::take(&mut self.outcomes))
    }

    fn looked_up(&mut self, resolved: Resolved) -> Option<Action<'static, P>> {
        let (reason, delay) = match resolved {
            Resolved::Found(endpoint) => {
                self.endpoint = Some(endpoint);
                return None;
            }
            Resolved::ProjectMissing => {
                let platform = self.platform;
                return Some(Action::RequestCreation { platform });
            }
            Resolved::OrganizationMissing { problem } => (
                RetryReason::OrganizationMissing(problem),
                Some(ORGANIZATION_MISSING_DELAY),
            ),
            Resolved::Pending { waited } => (
                RetryReason::LookupPending { waited },
                Some(LOOKUP_PENDING_DELAY),
            ),
            Resolved::Failed { reason, delay } => (RetryReason::LookupFailed(reason), delay),
            Resolved::DeadlineReached => (RetryReason::ExportTimeout, None),
        };
        self.retry_all(reason, delay);
        None
    }

    fn admitted(&mut self, admission: Admission) {
        let (reason, delay) = match admission {
            Admission::InProgress => (RetryReason::BeingCreated, CREATION_RETRY_DELAY),
            Admission::QueueFull => (RetryReason::CreationQueueFull, CREATION_QUEUE_FULL_DELAY),
            Admission::FailedRecently { retry_in, reason } => {
                (RetryReason::CreationFailed(reason), retry_in)
            }
            Admission::Off => {
                return self.drop_all(DropReason::ProjectNotFound, "the project does not exist")
            }
            Admission::LimitReached => {
                return self.drop_all(
                    DropReason::ProjectNotFound,
                    "the project does not exist and max_created_projects is reached",
                )
            }
        };
        self.retry_all(reason, Some(delay));
    }

    fn answered(&mut self, answer: Answer) -> Option<Action<'static, P>> {
        let piece = self.sending.take()?;
        let items = piece.items();
        let outcome = match answer {
            Answer::Accepted { rejected, message } => Outcome::Sent {
                piece,
                items,
                rejected: rejected.min(items),
                message,
            },
            Answer::TooLarge => self.too_large(piece)?,
            Answer::Rejected {
                status: 400,
                message,
                reason,
            } if self.rejected_halvings > 0 => match piece.halve() {
                // Ingest refuses a whole request for one bad item: halve until it is alone.
                Some((first, second)) => {
                    self.rejected_halvings -= 1;
                    self.pending.extend([second, first]);
                    return None;
                }
                None => rejected(items, reason, 400, &message),
            },
            Answer::Rejected {
                status,
                message,
                reason,
            } => rejected(items, reason, status, &message),
            Answer::StaleKey { status, message } => {
                if !self.looked_up_again {
                    self.looked_up_again = true;
                    self.pending.push(piece);
                    return (self.endpoint.take()).map(|stale| Action::LookUpAgain { stale });
                }
                retry(piece, RetryReason::KeyRefused { status, message }, None)
            }
            Answer::TimedOut { reason } => retry(
                piece,
                RetryReason::TimedOut(reason),
                Some(TIMED_OUT_RETRY_DELAY),
            ),
            Answer::RateLimited { wait } => {
                retry(piece, RetryReason::TooManyRequests { wait }, wait)
            }
            Answer::Unavailable { reason, delay } => {
                retry(piece, RetryReason::Unavailable(reason), delay)
            }
        };
        self.push(outcome);
        None
    }

    /// A 413: the piece's halves, or the single item made smaller, go next; `Some` when
    /// neither can be, and the item is dropped.
    fn too_large(&mut self, piece: P) -> Option<Outcome<P>> {
        match (piece.halve(), piece.shrink()) {
            (Some((first, second)), _) => self.pending.extend([second, first]),
            (None, Some(smaller)) => self.pending.push(smaller),
            (None, None) => {
                return Some(dropped(
                    piece.items(),
                    DropReason::TooLarge,
                    "a single item is larger than Sentry accepts",
                ))
            }
        }
        None
    }

    /// Records `outcome`; in an in-order job, a retry takes the pieces after it along.
    fn push(&mut self, outcome: Outcome<P>) {
        let held = match &outcome {
            Outcome::Retry { reason, delay, .. } if self.in_order => Some((reason.clone(), *delay)),
            _ => None,
        };
        self.outcomes.push(outcome);
        if let Some((reason, delay)) = held {
            self.retry_all(reason, delay);
        }
    }

    /// Every piece not sent yet, in the order they would have been sent.
    fn retry_all(&mut self, reason: RetryReason, delay: Option<Duration>) {
        for piece in std::mem::take(&mut self.pending).into_iter().rev() {
            self.outcomes.push(retry(piece, reason.clone(), delay));
        }
    }

    fn drop_all(&mut self, reason: DropReason, detail: &str) {
        for piece in std::mem::take(&mut self.pending).into_iter().rev() {
            self.outcomes.push(dropped(piece.items(), reason, detail));
        }
    }
}

fn retry<P: Piece>(piece: P, reason: RetryReason, delay: Option<Duration>) -> Outcome<P> {
    Outcome::Retry {
        items: piece.items(),
        piece,
        reason,
        delay,
    }
}

fn rejected<P>(items: u64, reason: DropReason, status: u16, message: &str) -> Outcome<P> {
    dropped(
        items,
        reason,
        &format!("rejected by Sentry ({status}): {message}"),
    )
}

fn dropped<P>(items: u64, reason: DropReason, detail: &str) -> Outcome<P> {
    Outcome::Dropped {
        items,
        reason,
        detail: detail.to_owned(),
    }
}

#[cfg(test)]
pub(crate) mod replies;
#[cfg(test)]
mod table;
