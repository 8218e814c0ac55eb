//! What Sentry's answers to a project's trace metric envelopes mean for its metrics batch.
//! The envelopes of a batch go in order, none after one to retry ([`crate::job::Job::in_order`]);
//! a series' state moves on only through settled points. So as soon as one envelope must be
//! retried, the project's whole part of the batch goes back to the collector, after the
//! longest delay an envelope asked for: its settled points are stale then and make nothing
//! again. Items refused for good are counted as trace metric items; the batch's metrics count
//! as dropped only when nothing of them was accepted.

use std::time::Duration;

use crate::outcome::{DropReason, Outcome, RetryReason};
use crate::payload::Ran;

use super::envelope::MetricsEnvelope;

/// What a project's envelopes came to.
#[derive(Debug, Default, PartialEq)]
pub struct EnvelopesFate {
    /// Envelopes Sentry took.
    pub accepted: Vec<MetricsEnvelope>,
    /// Envelopes to send again: their points do not move their series.
    pub retried: Vec<MetricsEnvelope>,
    /// Items refused for good: reason, items, detail, in order.
    pub dropped: Vec<(DropReason, u64, String)>,
    /// The whole part goes back to the collector, with this reason and delay.
    pub back: Option<(RetryReason, Option<Duration>)>,
    /// Whether what Sentry took is known: not after a panic, when no series may move.
    pub known: bool,
}

/// What the outcomes of a project's envelope job (or its panic) mean.
pub fn fate(ran: Vec<Ran<MetricsEnvelope>>) -> EnvelopesFate {
    let mut fate = EnvelopesFate {
        known: true,
        ..EnvelopesFate::default()
    };
    for ran in ran {
        let outcomes = match ran {
            Ok(outcomes) => outcomes,
            Err(panicked) => {
                fate.known = false;
                fate.back_after(RetryReason::Panicked(panicked.0), None);
                continue;
            }
        };
        for outcome in outcomes {
            match outcome {
                Outcome::Sent { piece, .. } => fate.accepted.push(piece),
                Outcome::Dropped {
                    items,
                    reason,
                    detail,
                } => fate.dropped.push((reason, items, detail)),
                Outcome::Retry {
                    piece,
                    reason,
                    delay,
                    ..
                } => {
                    fate.back_after(reason, delay);
                    fate.retried.push(piece);
                }
            }
        }
    }
    fate
}

impl EnvelopesFate {
    /// Keeps the longest delay asked (a delay said outlasts none).
    fn back_after(&mut self, reason: RetryReason, delay: Option<Duration>) {
        if self
            .back
            .as_ref()
            .is_none_or(|(_, longest)| delay > *longest)
        {
            self.back = Some((reason, delay));
        }
    }

    /// The batch's metrics count as dropped (for the last reason an envelope was dropped
    /// for) when nothing was accepted and something was dropped; else as sent. Only asked
    /// when nothing goes back.
    pub fn metrics_dropped(&self) -> Option<(DropReason, &str)> {
        let (reason, _, detail) = self.dropped.last()?;
        self.accepted
            .is_empty()
            .then_some((*reason, detail.as_str()))
    }
}
