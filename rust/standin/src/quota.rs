//! Rate limits a fault rule imposes (`"rate_limit": {...}`) and relay's 429 answer to them.
//!
//! Relay drops the items whose data categories are limited; when nothing is left it answers
//! 429, and when some items were kept it still answers 429 with the limits (the "legacy"
//! behaviour of `HandledEnvelope::check_rate_limits`, relay-server `src/endpoints/common.rs`).
//! The header is relay's `format_rate_limits`: `{seconds}:{cat;cat}:{scope}[:{reason}]`, an
//! empty category list meaning all categories; `Retry-After` is the longest limit.

use serde::{Deserialize, Serialize};

use crate::otlp::Signal;
use crate::reply::Reply;

/// Relay's `BadStoreRequest::RateLimited` message.
pub const RATE_LIMITED_DETAIL: &str = "Sentry dropped data due to a quota or internal rate limit being reached. This will not affect your application. See https://docs.sentry.io/product/accounts/quotas/ for more information.";

/// The data categories a rule may limit (relay's `DataCategory` names the stand-in knows).
const CATEGORIES: [&str; 8] = [
    "default",
    "error",
    "transaction",
    "span",
    "log_item",
    "log_byte",
    "trace_metric",
    "trace_metric_byte",
];

const SCOPES: [&str; 3] = ["key", "project", "organization"];

/// One rate limit, as posted in a fault rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Limited categories; empty: all of them.
    #[serde(default)]
    pub categories: Vec<String>,
    /// Seconds, as sent in the header and `Retry-After`.
    #[serde(default = "default_retry_after")]
    pub retry_after: u64,
    #[serde(default = "default_scope")]
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
}

fn default_retry_after() -> u64 {
    60
}

fn default_scope() -> String {
    "key".into()
}

impl RateLimit {
    pub fn validate(&self) -> Result<(), String> {
        if let Some(c) = self
            .categories
            .iter()
            .find(|c| !CATEGORIES.contains(&c.as_str()))
        {
            return Err(format!(
                "rate_limit category {c:?} is not one of {}",
                CATEGORIES.join(", ")
            ));
        }
        if !SCOPES.contains(&self.scope.as_str()) {
            return Err(format!(
                "rate_limit scope {:?} is not one of {}",
                self.scope,
                SCOPES.join(", ")
            ));
        }
        if self.retry_after == 0 {
            return Err("rate_limit retry_after must be at least 1 second".into());
        }
        let bad_reason =
            |r: &String| r.is_empty() || !r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if self.reason_code.as_ref().is_some_and(bad_reason) {
            return Err("rate_limit reason_code must be letters, digits and `_`".into());
        }
        Ok(())
    }

    /// Whether an item of any of `categories` is dropped by this limit.
    pub fn covers(&self, categories: &[&str]) -> bool {
        self.categories.is_empty()
            || categories
                .iter()
                .any(|c| self.categories.iter().any(|l| l == c))
    }

    fn header_entry(&self) -> String {
        let mut entry = format!(
            "{}:{}:{}",
            self.retry_after,
            self.categories.join(";"),
            self.scope
        );
        if let Some(reason) = &self.reason_code {
            entry.push(':');
            entry.push_str(reason);
        }
        entry
    }
}

/// Whether any of `limits` drops an item of `categories`.
pub fn limited(limits: &[RateLimit], categories: &[&str]) -> bool {
    limits.iter().any(|l| l.covers(categories))
}

/// The categories of an OTLP request, as relay counts its items.
pub fn otlp_categories(signal: Signal) -> &'static [&'static str] {
    match signal {
        Signal::Traces => &["span"],
        Signal::Logs => &["log_item", "log_byte"],
        // The metrics sink is no Sentry endpoint; only a limit of every category covers it.
        Signal::Metrics => &[],
    }
}

/// Relay's 429: the detail, `Retry-After` (the longest limit) and `X-Sentry-Rate-Limits`.
pub fn reply(limits: &[RateLimit]) -> Reply {
    let longest = limits.iter().map(|l| l.retry_after).max().unwrap_or(0);
    let header: Vec<String> = limits.iter().map(RateLimit::header_entry).collect();
    Reply::detail(429, RATE_LIMITED_DETAIL)
        .with_header("retry-after", &longest.to_string())
        .with_header("x-sentry-rate-limits", &header.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn limit(v: serde_json::Value) -> RateLimit {
        serde_json::from_value(v).expect("limit")
    }

    #[test]
    fn header_and_coverage() {
        let errors = limit(json!({"categories": ["error"]}));
        let all =
            limit(json!({"retry_after": 120, "scope": "organization", "reason_code": "org_quota"}));
        assert!(
            errors.covers(&["error"]) && !errors.covers(&["trace_metric", "trace_metric_byte"])
        );
        assert!(all.covers(&["span"]));
        assert!(limited(std::slice::from_ref(&errors), &["error"]));
        let r = reply(&[errors, all]);
        assert_eq!(r.status, 429);
        let header = |n: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("retry-after").as_deref(), Some("120"));
        assert_eq!(
            header("x-sentry-rate-limits").as_deref(),
            Some("60:error:key, 120::organization:org_quota")
        );
    }

    #[test]
    fn validation() {
        assert!(limit(json!({"categories": ["trace_metric_byte"]}))
            .validate()
            .is_ok());
        for bad in [
            json!({"categories": ["errors"]}),
            json!({"scope": "team"}),
            json!({"retry_after": 0}),
            json!({"reason_code": "a b"}),
        ] {
            assert!(limit(bad.clone()).validate().is_err(), "{bad}");
        }
        assert!(serde_json::from_value::<RateLimit>(json!({"category": "error"})).is_err());
    }
}
