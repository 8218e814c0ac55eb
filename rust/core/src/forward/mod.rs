//! Spans and log records as they are, to Sentry's OTLP ingest: one piece per project, its
//! resource blocks with the release stamped ([`crate::release`]). What Sentry's answers mean
//! for them is the job's table ([`crate::job`]); settling only counts it, and hands the
//! collector back what is to be retried.

#[cfg(test)]
mod table;

use std::sync::Arc;
use std::time::SystemTime;

use crate::clock::Instant;
use crate::ingest::otlp::{OtlpPiece, OtlpTransport};
use crate::ingest::{Piece, Transport};
use crate::job::Job;
use crate::outcome::{Counted, Outcome, RetryReason, Unit};
use crate::payload::{Part, Payload, Planned, Ran};
use crate::signal::{OtlpSignal, Signal};

/// The spans and log records of every batch, forwarded.
pub struct Forward {
    transport: Arc<OtlpTransport>,
}

impl Forward {
    pub fn new(transport: Arc<OtlpTransport>) -> Forward {
        Forward { transport }
    }
}

impl Payload for Forward {
    type Piece = OtlpPiece;
    /// The piece, to hand back whole if its job panics; `None` for no signal of OTLP ingest.
    type Plan = Option<OtlpPiece>;

    fn takes(&self, signal: Signal) -> bool {
        OtlpSignal::of(signal).is_some()
    }

    fn transport(&self) -> &dyn Transport<OtlpPiece> {
        &*self.transport
    }

    async fn plan(&self, part: &Part<'_>, _now: Instant, _wall: SystemTime) -> Planned<Forward> {
        let piece = OtlpSignal::of(part.signal).map(|signal| OtlpPiece {
            signal,
            request: crate::release::stamped(signal, part.request()).into(),
            items: part.items(),
        });
        let job = |piece: &OtlpPiece| Job::new(piece.clone()).with_platform(part.platform);
        Planned {
            jobs: piece.iter().map(job).collect(),
            concurrency: 1,
            plan: piece,
        }
    }

    fn settle(
        &self,
        piece: Option<OtlpPiece>,
        ran: Vec<Ran<OtlpPiece>>,
        _now: Instant,
    ) -> Vec<Counted> {
        let Some(piece) = piece else {
            return Vec::new();
        };
        let signal = piece.signal;
        let outcomes = ran.into_iter().flat_map(|ran| {
            ran.unwrap_or_else(|panicked| {
                vec![Outcome::Retry {
                    items: piece.items(),
                    piece: piece.clone(),
                    reason: RetryReason::Panicked(panicked.0),
                    delay: None,
                }]
            })
        });
        outcomes.map(|outcome| counted(signal, outcome)).collect()
    }
}

/// What one outcome of spans or log records of `signal` counts as: what the job decided, with
/// a retry handed back to the collector.
pub fn counted(signal: OtlpSignal, outcome: Outcome<OtlpPiece>) -> Counted {
    let signal = Signal::from(signal);
    match outcome {
        Outcome::Sent {
            items,
            rejected,
            message,
            ..
        } => Counted::Sent {
            unit: Unit::Items(signal),
            items,
            rejected,
            message,
        },
        Outcome::Dropped {
            items,
            reason,
            detail,
        } => Counted::Dropped {
            unit: Unit::Items(signal),
            items,
            reason,
            detail,
        },
        Outcome::Retry {
            piece,
            items,
            reason,
            delay,
        } => Counted::Retry {
            signal,
            request: piece.request.into(),
            items,
            reason,
            delay,
        },
    }
}
