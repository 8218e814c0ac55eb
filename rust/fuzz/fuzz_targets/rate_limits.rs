//! `X-Sentry-Rate-Limits` and `Retry-After` of ingest answers.
//!
//! Input: one byte choosing the status (429, 200 or 503), then UTF-8: the
//! `X-Sentry-Rate-Limits` value, a newline, the `Retry-After` value.
//! Properties: no panic; every parsed limit limits some of our data and lasts at
//! most `MAX_LIMIT`; a `Retry-After` delay is at most `MAX_LIMIT`; after
//! `RateLimits::update` each category is held exactly as long as the longest
//! limit covering it (the header when not blank, else for a 429 `Retry-After`
//! or `DEFAULT_LIMIT`), never more than `MAX_LIMIT`; parsing either header costs at most
//! `COST_PER_BYTE` per byte (`cost`).

#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use sentry_exporter_core::clock::Instant;
use sentry_exporter_core::ratelimit::{
    parse_rate_limits, parse_retry_after, Category, LimitHeaders, RateLimits, DEFAULT_LIMIT,
    MAX_LIMIT,
};
use sentry_exporter_fuzz::cost::{assert_linear, Cost};

const KEY: &str = "0123456789abcdef0123456789abcdef";
const OTHER: &str = "fedcba9876543210fedcba9876543210";

const COST_PER_BYTE: Cost = Cost {
    regions: 1_500,
    allocated: 64,
};

fuzz_target!(|data: &[u8]| {
    let Some((&status, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let status = match status % 3 {
        0 => 429,
        1 => 200,
        _ => 503,
    };
    let (rate_limits, retry_after) = text.split_once('\n').unwrap_or((text, ""));

    // Whole input as either header, too.
    for header in [text, rate_limits] {
        let limits = assert_linear("parse_rate_limits", header.as_bytes(), COST_PER_BYTE, |b| {
            parse_rate_limits(std::str::from_utf8(b).unwrap_or(""))
        });
        assert!(limits.len() <= header.matches(',').count() + 1);
        for limit in &limits {
            assert!(limit.retry_after <= MAX_LIMIT, "{limit:?}");
            assert!(!limit.categories.is_empty(), "{limit:?}");
        }
    }
    let wall_now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for (value, wall) in [
        (text, wall_now),
        (retry_after, wall_now),
        (retry_after, SystemTime::UNIX_EPOCH),
    ] {
        let delay = assert_linear("parse_retry_after", value.as_bytes(), COST_PER_BYTE, |b| {
            parse_retry_after(std::str::from_utf8(b).unwrap_or(""), wall)
        });
        if let Some(d) = delay {
            assert!(d <= MAX_LIMIT, "{d:?}");
        }
    }

    let state = RateLimits::default();
    let now = Instant::now();
    let headers = LimitHeaders {
        x_sentry_rate_limits: Some(rate_limits),
        retry_after: Some(retry_after),
    };
    state.update(KEY, status, &headers, now, wall_now);

    let limits = parse_rate_limits(rate_limits);
    for category in [
        Category::Spans,
        Category::Logs,
        Category::Errors,
        Category::TraceMetrics,
    ] {
        let expected = if !rate_limits.trim().is_empty() {
            limits
                .iter()
                .filter(|l| l.categories.contains(category))
                .map(|l| l.retry_after)
                .max()
        } else if status == 429 {
            Some(parse_retry_after(retry_after, wall_now).unwrap_or(DEFAULT_LIMIT))
        } else {
            None
        };
        let expected = expected.filter(|d| !d.is_zero());
        let remaining = state.remaining(KEY, category, now);
        assert_eq!(remaining, expected, "{category:?}");
        if let Some(left) = state.remaining(OTHER, category, now) {
            assert!(left <= MAX_LIMIT);
            assert!(Some(left) <= remaining, "another key is held longer");
        }
    }
});
