//! What an ingest answer means for the data, decided in one place for every transport.

use std::time::{Duration, SystemTime};

use crate::clock::Instant;
use crate::http::body_text;
use crate::outcome::DropReason;
use crate::ratelimit::{parse_retry_after, Category, LimitHeaders, RateLimits};

/// An ingest answer, as the per-project job needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 2xx; `rejected` items were refused through OTLP `partial_success`.
    Accepted { rejected: u64, message: String },
    /// Sentry will never take this data (400, 415, 403 other than ProjectId, ...).
    Rejected {
        status: u16,
        message: String,
        reason: DropReason,
    },
    /// 413: the request is too large; smaller parts may pass.
    TooLarge,
    /// The key or project is no longer valid (401, 403 ProjectId): look up again.
    StaleKey { status: u16, message: String },
    /// No answer within `http.timeout`: Sentry may hold the data already.
    TimedOut { reason: String },
    /// 429: a rate limit holds for `wait` (`None`: nothing said how long).
    RateLimited { wait: Option<Duration> },
    /// Worth trying again later (5xx, 404, 408, connection errors).
    Unavailable {
        reason: String,
        delay: Option<Duration>,
    },
}

/// An ingest answer as received: status, rate-limit headers, body.
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    pub status: u16,
    pub headers: LimitHeaders<'a>,
    pub body: &'a [u8],
}

/// The request an answer is for: its key and its data's category.
#[derive(Debug, Clone, Copy)]
pub struct Sent<'a> {
    pub public_key: &'a str,
    pub category: Category,
    /// Reads the items a 2xx body says were rejected.
    pub partial: fn(&[u8]) -> (u64, String),
}

/// What `response` means, after recording in `limits` the rate limits it announces.
pub fn read(
    response: &Response<'_>,
    sent: &Sent<'_>,
    limits: &RateLimits,
    now: Instant,
    wall_now: SystemTime,
) -> Answer {
    let status = response.status;
    limits.update(sent.public_key, status, &response.headers, now, wall_now);
    let delay = match status {
        429 => limits.remaining(sent.public_key, sent.category, now),
        _ => response
            .headers
            .retry_after
            .and_then(|v| parse_retry_after(v, wall_now)),
    };
    classify(status, delay, response.body, sent.partial)
}

/// What an answer's status and body mean. `delay` is what its headers ask for (for a 429:
/// the rate limit now recorded), `partial` reads the rejected items of a 2xx body.
fn classify(
    status: u16,
    delay: Option<Duration>,
    body: &[u8],
    partial: fn(&[u8]) -> (u64, String),
) -> Answer {
    let message = body_text(body);
    match status {
        200..=299 => {
            let (rejected, message) = partial(body);
            Answer::Accepted { rejected, message }
        }
        401 => Answer::StaleKey { status, message },
        // Relay's `ProjectId`: the key's project moved or is gone.
        403 if message.contains("ProjectId") => Answer::StaleKey { status, message },
        // Relay's `FeatureDisabled(...)`: the organization does not take this kind of data.
        403 if message.contains("FeatureDisabled") => Answer::Rejected {
            status,
            message,
            reason: DropReason::FeatureDisabled,
        },
        413 => Answer::TooLarge,
        429 => Answer::RateLimited { wait: delay },
        // Ingest is not where the project's keys say (a proxy path, a wrong host): the data
        // is fine and waits for the address to be fixed.
        404 | 408 | 500..=599 => Answer::Unavailable {
            reason: format!("Sentry answered {status}: {message}"),
            delay,
        },
        _ => Answer::Rejected {
            status,
            message,
            reason: DropReason::Rejected,
        },
    }
}

/// A 2xx body without partial-success details.
pub fn nothing_rejected(_body: &[u8]) -> (u64, String) {
    (0, String::new())
}
