//! Sentry's rate limits: the `X-Sentry-Rate-Limits` and `Retry-After` headers of ingest
//! answers, the management API's `X-Sentry-Rate-Limit-Reset`, and deadlines per public key (or
//! organization) and category. Pure: the clocks are arguments, nothing sleeps.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::clock::Instant;

use crate::signal::Signal;
use crate::sync::locked;

/// Limits longer than this (one day) are cut to it, so no deadline overflows;
/// a longer one is re-announced by the next answer anyway.
pub const MAX_LIMIT: Duration = Duration::from_secs(86_400);
/// A 429 with neither header holds everything this long.
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(60);

/// The rate-limit headers of one ingest answer, as received.
#[derive(Debug, Default, Clone, Copy)]
pub struct LimitHeaders<'a> {
    pub x_sentry_rate_limits: Option<&'a str>,
    pub retry_after: Option<&'a str>,
}

/// Who a limit applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every key of the organization.
    Organization,
    /// The key (or its project) that received the answer.
    Key,
}

/// The kinds of data the exporter sends, as Sentry's rate limits name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// OTLP spans (`span`, `transaction`).
    Spans,
    /// OTLP log records (`log_item`, `log_byte`).
    Logs,
    /// Error events (`error`).
    Errors,
    /// Trace metrics (`trace_metric`, `trace_metric_byte`).
    TraceMetrics,
}

impl Category {
    const COUNT: usize = 4;

    fn index(self) -> usize {
        match self {
            Category::Spans => 0,
            Category::Logs => 1,
            Category::Errors => 2,
            Category::TraceMetrics => 3,
        }
    }

    /// Ours among Sentry's category names: `Some(None)` for a category Sentry knows that
    /// limits none of our data, `None` for a name unknown to Sentry.
    fn parse(name: &str) -> Option<Option<Category>> {
        match name {
            "span" | "transaction" => Some(Some(Category::Spans)),
            "log_item" | "log_byte" => Some(Some(Category::Logs)),
            "error" => Some(Some(Category::Errors)),
            "trace_metric" | "trace_metric_byte" => Some(Some(Category::TraceMetrics)),
            // Known to Sentry but none of ours (`*_indexed` limit only what is stored in
            // full, not what is accepted).
            "default"
            | "security"
            | "attachment"
            | "attachment_item"
            | "session"
            | "profile"
            | "profile_indexed"
            | "profile_duration"
            | "profile_duration_ui"
            | "profile_chunk"
            | "profile_chunk_ui"
            | "replay"
            | "replay_video"
            | "monitor"
            | "monitor_seat"
            | "uptime"
            | "feedback"
            | "user_report_v2"
            | "metric_bucket"
            | "metric_second"
            | "span_indexed"
            | "transaction_indexed"
            | "transaction_processed"
            | "internal" => Some(None),
            _ => None,
        }
    }
}

impl From<Signal> for Category {
    fn from(signal: Signal) -> Category {
        match signal {
            Signal::Traces => Category::Spans,
            Signal::Logs => Category::Logs,
            Signal::Metrics => Category::TraceMetrics,
        }
    }
}

/// A set of [`Category`]s.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Categories([bool; Category::COUNT]);

impl Categories {
    pub const ALL: Categories = Categories([true; Category::COUNT]);

    pub fn of(categories: &[Category]) -> Categories {
        let mut set = Categories::default();
        for category in categories {
            set.0[category.index()] = true;
        }
        set
    }

    pub fn contains(self, category: Category) -> bool {
        self.0[category.index()]
    }

    pub fn is_empty(self) -> bool {
        self.0.iter().all(|covered| !covered)
    }
}

/// One entry of `X-Sentry-Rate-Limits` that limits some of our data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub retry_after: Duration,
    pub categories: Categories,
    pub scope: Scope,
}

/// Seconds as given by Sentry: integer or float, finite, not negative; capped.
fn seconds(value: &str) -> Option<Duration> {
    let s: f64 = value.trim().parse().ok()?;
    (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s.min(MAX_LIMIT.as_secs_f64())))
}

/// The entries of `X-Sentry-Rate-Limits` that concern our data; garbage
/// entries, and entries whose categories are all unknown, are left out.
///
/// An entry needs at least `retry_after:categories`. Sentry's SDK guide lets
/// clients ignore the scope, so an entry without one still holds, for the key
/// only (the narrowest scope); `reason_code` and later fields are ignored.
pub fn parse_rate_limits(header: &str) -> Vec<Limit> {
    let header: String = header.chars().filter(|c| !c.is_whitespace()).collect();
    header
        .split(',')
        .filter_map(|entry| {
            let mut fields = entry.split(':');
            let retry_after = seconds(fields.next()?)?;
            let categories = fields.next()?;
            let scope = match fields.next() {
                Some("organization") => Scope::Organization,
                _ => Scope::Key,
            };
            let categories = if categories.is_empty() {
                Categories::ALL
            } else {
                let known: Vec<Option<Category>> =
                    categories.split(';').filter_map(Category::parse).collect();
                if known.is_empty() {
                    return None;
                }
                Categories::of(&known.into_iter().flatten().collect::<Vec<_>>())
            };
            (!categories.is_empty()).then_some(Limit {
                retry_after,
                categories,
                scope,
            })
        })
        .collect()
}

/// `Retry-After`: seconds (integer or float) or an HTTP date; a date in the
/// past is zero, never negative.
pub fn parse_retry_after(value: &str, wall_now: SystemTime) -> Option<Duration> {
    seconds(value).or_else(|| {
        let at = httpdate::parse_http_date(value.trim()).ok()?;
        Some(
            at.duration_since(wall_now)
                .unwrap_or(Duration::ZERO)
                .min(MAX_LIMIT),
        )
    })
}

/// The management API's `X-Sentry-Rate-Limit-Reset` (epoch seconds, integer or float) as a
/// delay from `wall_now`: never negative, at most [`MAX_LIMIT`].
pub fn parse_rate_limit_reset(value: &str, wall_now: SystemTime) -> Option<Duration> {
    let reset: f64 = value.trim().parse().ok()?;
    if !reset.is_finite() || reset < 0.0 {
        return None;
    }
    let now = wall_now.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    Some(Duration::from_secs_f64(
        (reset - now.as_secs_f64()).clamp(0.0, MAX_LIMIT.as_secs_f64()),
    ))
}

/// How long a management API 429 asks to wait: its `X-Sentry-Rate-Limit-Reset`, else its
/// `Retry-After`.
pub fn management_delay(
    rate_limit_reset: Option<&str>,
    retry_after: Option<&str>,
    wall_now: SystemTime,
) -> Option<Duration> {
    rate_limit_reset
        .and_then(|value| parse_rate_limit_reset(value, wall_now))
        .or_else(|| retry_after.and_then(|value| parse_retry_after(value, wall_now)))
}

/// Deadlines of one key (or of the organization), by category.
#[derive(Debug, Default, Clone, Copy)]
struct Deadlines([Option<Instant>; Category::COUNT]);

impl Deadlines {
    fn of(&self, category: Category) -> Option<Instant> {
        self.0[category.index()]
    }

    /// Extends (never shortens) the deadlines the limit covers.
    fn hold(&mut self, limit: &Limit, now: Instant) {
        let until = now + limit.retry_after;
        for (index, deadline) in self.0.iter_mut().enumerate() {
            if limit.categories.0[index] {
                *deadline = (*deadline).max(Some(until));
            }
        }
    }

    fn expired(&self, now: Instant) -> bool {
        self.0.iter().all(|d| d.is_none_or(|d| d <= now))
    }
}

#[derive(Debug, Default)]
struct State {
    organization: Deadlines,
    keys: HashMap<String, Deadlines>,
}

/// The limits Sentry announced, per public key and for the organization.
#[derive(Debug, Default)]
pub struct RateLimits {
    state: Mutex<State>,
}

impl RateLimits {
    /// Records the limits an ingest answer for `public_key` announced.
    pub fn update(
        &self,
        public_key: &str,
        status: u16,
        headers: &LimitHeaders<'_>,
        now: Instant,
        wall_now: SystemTime,
    ) {
        // A blank header says nothing: a 429 carrying one falls back to
        // `Retry-After` like a 429 without it.
        let rate_limits = headers
            .x_sentry_rate_limits
            .filter(|h| !h.trim().is_empty());
        let limits = match (rate_limits, status) {
            (Some(header), _) => parse_rate_limits(header),
            (None, 429) => vec![Limit {
                retry_after: headers
                    .retry_after
                    .and_then(|v| parse_retry_after(v, wall_now))
                    .unwrap_or(DEFAULT_LIMIT),
                categories: Categories::ALL,
                scope: Scope::Key,
            }],
            (None, _) => return,
        };
        if limits.is_empty() {
            return;
        }
        let mut state = locked(&self.state);
        state.keys.retain(|_, d| !d.expired(now));
        for limit in &limits {
            match limit.scope {
                Scope::Organization => state.organization.hold(limit, now),
                Scope::Key => state
                    .keys
                    .entry(public_key.to_owned())
                    .or_default()
                    .hold(limit, now),
            }
        }
    }

    /// Time left before data of `category` may be sent with `public_key`; `None` when free.
    pub fn remaining(
        &self,
        public_key: &str,
        category: impl Into<Category>,
        now: Instant,
    ) -> Option<Duration> {
        let category = category.into();
        let state = locked(&self.state);
        let key = state.keys.get(public_key).and_then(|d| d.of(category));
        let until = key.max(state.organization.of(category))?;
        (until > now).then(|| until - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";
    const OTHER: &str = "fedcba9876543210fedcba9876543210";

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn limit(retry_after: f64, traces: bool, logs: bool, scope: Scope) -> Limit {
        let mut categories = Vec::new();
        categories.extend(traces.then_some(Category::Spans));
        categories.extend(logs.then_some(Category::Logs));
        Limit {
            retry_after: secs(retry_after),
            categories: Categories::of(&categories),
            scope,
        }
    }

    fn limits_after(
        status: u16,
        rate_limits: Option<&str>,
        retry_after: Option<&str>,
    ) -> (RateLimits, Instant) {
        let limits = RateLimits::default();
        let now = Instant::now();
        let headers = LimitHeaders {
            x_sentry_rate_limits: rate_limits,
            retry_after,
        };
        limits.update(KEY, status, &headers, now, SystemTime::now());
        (limits, now)
    }

    #[test]
    fn parses_integer_and_float_seconds() {
        assert_eq!(
            parse_rate_limits("60:span:key"),
            [limit(60.0, true, false, Scope::Key)]
        );
        assert_eq!(
            parse_rate_limits("2.5:log_item:org"),
            [limit(2.5, false, true, Scope::Key)]
        );
    }

    #[test]
    fn empty_categories_mean_every_category() {
        assert_eq!(
            parse_rate_limits("10::organization:quota"),
            [Limit {
                retry_after: secs(10.0),
                categories: Categories::ALL,
                scope: Scope::Organization
            }]
        );
    }

    #[test]
    fn reads_several_entries_with_spaces_anywhere() {
        assert_eq!(
            parse_rate_limits(
                " 10 : span ; transaction : key : r1 ,  20:log_byte:organization:r2 "
            ),
            [
                limit(10.0, true, false, Scope::Key),
                limit(20.0, false, true, Scope::Organization)
            ]
        );
    }

    #[test]
    fn ignores_unknown_categories_and_trailing_fields() {
        assert_eq!(
            parse_rate_limits("5:span;bogus:key:reason:ns1;ns2:extra"),
            [limit(5.0, true, false, Scope::Key)]
        );
        assert_eq!(parse_rate_limits("5:bogus;other:key"), []);
    }

    #[test]
    fn error_and_trace_metric_limits_hold_only_their_own_category() {
        let only = |category| Categories::of(&[category]);
        let table = [
            ("60:error:key", only(Category::Errors)),
            ("60:trace_metric:key", only(Category::TraceMetrics)),
            ("60:trace_metric_byte:key", only(Category::TraceMetrics)),
            ("60::key", Categories::ALL),
        ];
        for (header, categories) in table {
            let (limits, now) = limits_after(429, Some(header), None);
            for category in [
                Category::Spans,
                Category::Logs,
                Category::Errors,
                Category::TraceMetrics,
            ] {
                let held = limits.remaining(KEY, category, now).is_some();
                assert_eq!(held, categories.contains(category), "{header} {category:?}");
            }
        }
    }

    #[test]
    fn categories_of_other_data_limit_nothing() {
        assert_eq!(parse_rate_limits("60:attachment;replay:key"), []);
        assert_eq!(
            parse_rate_limits("60:transaction:key"),
            [limit(60.0, true, false, Scope::Key)]
        );
        assert_eq!(
            parse_rate_limits("60:replay;log_item:key"),
            [limit(60.0, false, true, Scope::Key)]
        );
    }

    #[test]
    fn ignores_garbage_entries_next_to_good_ones() {
        let header = "garbage, :span:key, abc:span:key, 1e999:span:key, NaN:span:key, inf::key, 7, 3;span:key, 4:log_item:key";
        assert_eq!(
            parse_rate_limits(header),
            [limit(4.0, false, true, Scope::Key)]
        );
        assert_eq!(parse_rate_limits(""), []);
        assert_eq!(parse_rate_limits(",,,"), []);
    }

    #[test]
    fn negative_values_are_ignored_and_huge_ones_capped() {
        assert_eq!(parse_rate_limits("-5:span:key"), []);
        assert_eq!(
            parse_rate_limits("99999999999:span:key")[0].retry_after,
            MAX_LIMIT
        );
    }

    #[test]
    fn a_missing_scope_means_the_key_and_one_field_is_too_few() {
        assert_eq!(
            parse_rate_limits("3:span"),
            [limit(3.0, true, false, Scope::Key)]
        );
        assert_eq!(
            parse_rate_limits("3:"),
            [Limit {
                retry_after: secs(3.0),
                categories: Categories::ALL,
                scope: Scope::Key
            }]
        );
        assert_eq!(parse_rate_limits("3"), []);
    }

    #[test]
    fn unknown_scopes_apply_to_the_key() {
        assert_eq!(parse_rate_limits("1:span:project")[0].scope, Scope::Key);
        assert_eq!(parse_rate_limits("1:span:whatever")[0].scope, Scope::Key);
    }

    #[test]
    fn span_limits_hold_traces_not_logs_and_log_limits_the_reverse() {
        let (limits, now) = limits_after(200, Some("30:span:key"), None);
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), Some(secs(30.0)));
        assert_eq!(limits.remaining(KEY, Signal::Logs, now), None);
        let (limits, now) = limits_after(200, Some("30:log_byte:key"), None);
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), None);
        assert_eq!(limits.remaining(KEY, Signal::Logs, now), Some(secs(30.0)));
    }

    #[test]
    fn organization_limits_hold_every_key_key_limits_only_theirs() {
        let (limits, now) = limits_after(429, Some("10:log_item:organization"), None);
        assert_eq!(limits.remaining(OTHER, Signal::Logs, now), Some(secs(10.0)));
        let (limits, now) = limits_after(429, Some("10:log_item:key"), None);
        assert_eq!(limits.remaining(OTHER, Signal::Logs, now), None);
        assert_eq!(limits.remaining(KEY, Signal::Logs, now), Some(secs(10.0)));
    }

    #[test]
    fn the_longest_limit_wins_in_either_order() {
        for header in ["5:span:key, 50:span:key", "50:span:key, 5:span:key"] {
            let (limits, now) = limits_after(429, Some(header), None);
            assert_eq!(
                limits.remaining(KEY, Signal::Traces, now),
                Some(secs(50.0)),
                "{header}"
            );
        }
        let (limits, now) = limits_after(429, Some("50:span:key"), None);
        let later = LimitHeaders {
            x_sentry_rate_limits: Some("5:span:key"),
            retry_after: None,
        };
        limits.update(KEY, 429, &later, now, SystemTime::now());
        assert_eq!(
            limits.remaining(KEY, Signal::Traces, now),
            Some(secs(50.0)),
            "never shortened"
        );
    }

    #[test]
    fn a_429_without_the_header_uses_retry_after_or_sixty_seconds() {
        let (limits, now) = limits_after(429, None, Some("12"));
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), Some(secs(12.0)));
        assert_eq!(limits.remaining(KEY, Signal::Logs, now), Some(secs(12.0)));
        let (limits, now) = limits_after(429, None, None);
        assert_eq!(
            limits.remaining(KEY, Signal::Logs, now),
            Some(DEFAULT_LIMIT)
        );
        let (limits, now) = limits_after(429, None, Some("soon"));
        assert_eq!(
            limits.remaining(KEY, Signal::Logs, now),
            Some(DEFAULT_LIMIT)
        );
    }

    #[test]
    fn a_429_with_the_header_uses_only_the_header() {
        let (limits, now) = limits_after(429, Some("3:span:key"), Some("100"));
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), Some(secs(3.0)));
        assert_eq!(limits.remaining(KEY, Signal::Logs, now), None);
    }

    #[test]
    fn other_answers_without_the_header_change_nothing() {
        let (limits, now) = limits_after(503, None, Some("30"));
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), None);
        let (limits, now) = limits_after(200, None, None);
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), None);
    }

    #[test]
    fn limits_expire_at_their_deadline() {
        let (limits, now) = limits_after(429, Some("30:span:key"), None);
        assert_eq!(
            limits.remaining(KEY, Signal::Traces, now + secs(29.5)),
            Some(secs(0.5))
        );
        assert_eq!(
            limits.remaining(KEY, Signal::Traces, now + secs(30.0)),
            None
        );
        assert_eq!(
            limits.remaining(KEY, Signal::Traces, now + secs(31.0)),
            None
        );
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date_never_negative() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("120", now), Some(secs(120.0)));
        assert_eq!(parse_retry_after(" 1.5 ", now), Some(secs(1.5)));
        let future = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(parse_retry_after(&future, now), Some(secs(90.0)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("tomorrow", now), None);
    }

    #[test]
    fn a_management_429_waits_for_its_reset_else_its_retry_after() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let table = [
            (Some("1002"), None, Some(secs(2.0))),
            (Some("1002.5"), Some("60"), Some(secs(2.5))),
            (Some("900"), None, Some(Duration::ZERO)),
            (Some("99999999"), None, Some(MAX_LIMIT)),
            (Some("soon"), Some("7"), Some(secs(7.0))),
            (Some("-1"), None, None),
            (None, Some("7"), Some(secs(7.0))),
            (None, None, None),
        ];
        for (reset, retry_after, want) in table {
            assert_eq!(
                management_delay(reset, retry_after, now),
                want,
                "{reset:?} {retry_after:?}"
            );
        }
    }

    /// `update` on `limits` with fixed clocks.
    fn answer(
        limits: &RateLimits,
        key: &str,
        status: u16,
        rate_limits: Option<&str>,
        retry_after: Option<&str>,
        now: Instant,
        wall_now: SystemTime,
    ) {
        let headers = LimitHeaders {
            x_sentry_rate_limits: rate_limits,
            retry_after,
        };
        limits.update(key, status, &headers, now, wall_now);
    }

    fn wall() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    #[test]
    fn an_error_only_limit_holds_neither_signal() {
        let (limits, now) = limits_after(429, Some("60:error:key, 60:error:organization"), None);
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), None);
        assert_eq!(limits.remaining(KEY, Signal::Logs, now), None);
    }

    #[test]
    fn a_transaction_limit_holds_traces_only() {
        let (limits, now) = limits_after(200, Some("45:transaction:project"), None);
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), Some(secs(45.0)));
        assert_eq!(limits.remaining(KEY, Signal::Logs, now), None);
    }

    #[test]
    fn an_all_categories_limit_holds_both_signals() {
        let (limits, now) = limits_after(200, Some(" 20 : : key "), None);
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), Some(secs(20.0)));
        assert_eq!(limits.remaining(KEY, Signal::Logs, now), Some(secs(20.0)));
    }

    #[test]
    fn a_huge_limit_is_held_for_the_cap() {
        let (limits, now) = limits_after(429, Some("1e300:span:key"), None);
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), Some(MAX_LIMIT));
        let (limits, now) = limits_after(429, None, Some("18446744073709551616"));
        assert_eq!(limits.remaining(KEY, Signal::Logs, now), Some(MAX_LIMIT));
    }

    #[test]
    fn a_429_with_a_future_http_date_holds_until_then() {
        let limits = RateLimits::default();
        let now = Instant::now();
        let date = httpdate::fmt_http_date(wall() + Duration::from_secs(90));
        answer(&limits, KEY, 429, None, Some(&date), now, wall());
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), Some(secs(90.0)));
        assert_eq!(limits.remaining(KEY, Signal::Logs, now), Some(secs(90.0)));
    }

    #[test]
    fn a_429_with_a_past_http_date_holds_nothing_and_never_goes_negative() {
        let limits = RateLimits::default();
        let now = Instant::now();
        let date = httpdate::fmt_http_date(wall() - Duration::from_secs(90));
        answer(&limits, KEY, 429, None, Some(&date), now, wall());
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), None);
        assert_eq!(limits.remaining(KEY, Signal::Logs, now), None);
    }

    #[test]
    fn a_429_with_a_blank_header_falls_back_to_retry_after() {
        let (limits, now) = limits_after(429, Some("  "), Some("7"));
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), Some(secs(7.0)));
        let (limits, now) = limits_after(429, Some(""), None);
        assert_eq!(
            limits.remaining(KEY, Signal::Logs, now),
            Some(DEFAULT_LIMIT)
        );
    }

    #[test]
    fn a_200_with_the_header_updates_the_limits() {
        let (limits, now) = limits_after(200, Some("15:span:key"), None);
        answer(
            &limits,
            KEY,
            200,
            Some("25:log_item:key"),
            None,
            now,
            wall(),
        );
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), Some(secs(15.0)));
        assert_eq!(limits.remaining(KEY, Signal::Logs, now), Some(secs(25.0)));
    }

    #[test]
    fn a_200_without_the_header_leaves_the_limits_running() {
        let (limits, now) = limits_after(429, Some("30:span:key, 30:log_byte:organization"), None);
        answer(&limits, KEY, 200, None, Some("1"), now + secs(10.0), wall());
        answer(&limits, OTHER, 200, None, None, now + secs(10.0), wall());
        let later = now + secs(10.0);
        assert_eq!(
            limits.remaining(KEY, Signal::Traces, later),
            Some(secs(20.0))
        );
        assert_eq!(
            limits.remaining(OTHER, Signal::Logs, later),
            Some(secs(20.0))
        );
    }

    #[test]
    fn key_and_organization_limits_combine_to_the_longer() {
        let limits = RateLimits::default();
        let now = Instant::now();
        answer(&limits, KEY, 429, Some("40:span:key"), None, now, wall());
        answer(
            &limits,
            OTHER,
            429,
            Some("10::organization"),
            None,
            now,
            wall(),
        );
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), Some(secs(40.0)));
        assert_eq!(limits.remaining(KEY, Signal::Logs, now), Some(secs(10.0)));
        assert_eq!(
            limits.remaining(OTHER, Signal::Traces, now),
            Some(secs(10.0))
        );
        answer(
            &limits,
            OTHER,
            429,
            Some("90:span:organization"),
            None,
            now,
            wall(),
        );
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), Some(secs(90.0)));
    }

    #[test]
    fn a_longer_limit_announced_later_extends_a_running_one() {
        let (limits, now) = limits_after(429, Some("10:span:key"), None);
        answer(
            &limits,
            KEY,
            429,
            Some("10:span:key"),
            None,
            now + secs(5.0),
            wall(),
        );
        assert_eq!(limits.remaining(KEY, Signal::Traces, now), Some(secs(15.0)));
    }

    #[test]
    fn expired_keys_are_pruned_on_update() {
        let (limits, now) = limits_after(429, Some("5:span:key"), None);
        answer(
            &limits,
            OTHER,
            429,
            Some("5:log_item:key"),
            None,
            now + secs(6.0),
            wall(),
        );
        let state = limits.state.lock().unwrap();
        assert!(!state.keys.contains_key(KEY));
        assert!(state.keys.contains_key(OTHER));
    }
}
