//! Test-only: jobs run against Sentry's answers as received (status, rate-limit headers,
//! body), read by the production code ([`crate::ingest::answer::read`]), so that each
//! payload's settle table starts from the bytes Sentry sends. No HTTP, no sleep.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{Action, Event, Job, Resolved};
use crate::clock::Instant;
use crate::ingest::answer::{read, Response, Sent};
use crate::ingest::endpoint::IngestEndpoint;
use crate::ingest::{Answer, Piece};
use crate::outcome::Outcome;
use crate::ratelimit::{Category, LimitHeaders, RateLimits};

/// The project's public key in every table.
pub const KEY: &str = "0123456789abcdef0123456789abcdef";

/// What Sentry says to one send.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    /// Status, `X-Sentry-Rate-Limits`, `Retry-After`, body.
    Http(
        u16,
        Option<&'static str>,
        Option<&'static str>,
        &'static [u8],
    ),
    /// No answer within `http.timeout`.
    TimedOut,
}

/// A reply of `status` with no headers and no body.
pub fn status(status: u16) -> Reply {
    Reply::Http(status, None, None, b"")
}

/// A 429 announcing `X-Sentry-Rate-Limits: limits`.
pub fn limited(limits: &'static str) -> Reply {
    Reply::Http(429, Some(limits), None, b"")
}

/// The wall clock of every table.
pub fn wall() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// An endpoint of project 1 with `key`.
pub fn endpoint(key: &str) -> Arc<IngestEndpoint> {
    let url = url::Url::parse("http://127.0.0.1:1/api/1/envelope/").unwrap();
    Arc::new(IngestEndpoint {
        project_id: 1,
        public_key: key.into(),
        traces_url: url.clone(),
        logs_url: url.clone(),
        envelope_url: url,
    })
}

/// Limits as `key` announced them before, with `X-Sentry-Rate-Limits: header` on a 429.
pub fn announced(limits: &RateLimits, key: &str, header: &str, now: Instant) {
    let headers = LimitHeaders {
        x_sentry_rate_limits: Some(header),
        retry_after: None,
    };
    limits.update(key, 429, &headers, now, wall());
}

/// What `reply` to a send of data of `category` with `key` means, as the transport reads it
/// (`partial`: how it reads a 2xx body).
pub fn answer(
    reply: Reply,
    key: &str,
    category: Category,
    partial: fn(&[u8]) -> (u64, String),
    limits: &RateLimits,
    now: Instant,
) -> Answer {
    match reply {
        Reply::Http(status, rate_limits, retry_after, body) => {
            let response = Response {
                status,
                headers: LimitHeaders {
                    x_sentry_rate_limits: rate_limits,
                    retry_after,
                },
                body,
            };
            let sent = Sent {
                public_key: key,
                category,
                partial,
            };
            read(&response, &sent, limits, now, wall())
        }
        Reply::TimedOut => Answer::TimedOut {
            reason: "no answer within http.timeout".into(),
        },
    }
}

/// The outcomes of `job` whose project is found at once, with the limit `held` announced
/// before (an `X-Sentry-Rate-Limits` value), each send answered by the next of `replies`.
pub fn replied<P: Piece>(
    mut job: Job<P>,
    held: Option<&str>,
    replies: &[Reply],
    partial: fn(&[u8]) -> (u64, String),
    now: Instant,
) -> Vec<Outcome<P>> {
    let limits = RateLimits::default();
    if let Some(header) = held {
        announced(&limits, KEY, header, now);
    }
    let mut replies = replies.iter();
    let mut event = Event::Start;
    loop {
        event = match job.step(event, now, &limits) {
            // A refused key is found again, the same.
            Action::LookUp | Action::LookUpAgain { .. } => {
                Event::LookedUp(Resolved::Found(endpoint(KEY)))
            }
            Action::Send { piece, .. } => {
                let reply = *replies.next().expect("a reply for every send");
                let category = piece.category();
                Event::Answered(answer(reply, KEY, category, partial, &limits, now))
            }
            Action::Done(outcomes) => return outcomes,
            Action::RequestCreation { .. } => panic!("a table's project exists"),
        }
    }
}
