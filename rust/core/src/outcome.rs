//! The one vocabulary of what became of data. A job's piece is sent, dropped for a
//! [`DropReason`], or to be retried for a [`RetryReason`] ([`Outcome`]); a payload's settle
//! rule makes of its outcomes what the tally counts ([`Counted`], in a [`Unit`]). Reasons
//! carry bounded labels for telemetry and details for the problem text.

use std::fmt;
use std::time::Duration;

use crate::signal::Signal;

/// Defines a reason's `label()` by one match and its `LABELS` from the same arms: a label
/// cannot be counted without being published (telemetry lists every one, zeros included),
/// and a variant without a label does not compile.
macro_rules! labels {
    // Fieldless reasons also list every value.
    ($reason:ident { $($variant:ident => $label:literal,)+ }) => {
        impl $reason {
            /// Every reason, in the order of [`Self::LABELS`].
            pub const ALL: &'static [$reason] = &[$($reason::$variant),+];
        }
        labels!($reason { $($reason::$variant => $label,)+ } with_patterns);
    };
    ($reason:ident { $($pattern:pat => $label:literal,)+ } $(with_patterns)?) => {
        impl $reason {
            /// Every label of [`Self::label`], in the order of its arms.
            pub const LABELS: &'static [&'static str] = &[$($label),+];

            /// A bounded label, one of [`Self::LABELS`].
            pub fn label(&self) -> &'static str {
                match self {
                    $($pattern => $label,)+
                }
            }
        }
    };
}

/// Why items were dropped, never to be retried: spans, log records, metrics, error events and
/// trace metric items alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// The routing attribute is absent, empty or not a string.
    MissingAttribute,
    /// The attribute's value makes no usable slug (say, all digits).
    InvalidSlug,
    /// The project does not exist and is not (or may no longer be) created.
    ProjectNotFound,
    /// Sentry refused the data (400, 415, 403 other than a moved project), or it could not be
    /// read to be converted.
    Rejected,
    /// Sentry refused the data because a feature is off (403 `FeatureDisabled`).
    FeatureDisabled,
    /// A single item larger than Sentry accepts (413), or over Relay's limits.
    TooLarge,
    /// Accepted requests whose OTLP `partial_success` rejected some items.
    PartialSuccess,
    /// Over the project's cap per minute (`errors.max_per_minute`,
    /// `metrics.max_items_per_minute`).
    Capped,
    /// The metric series found no room in `metrics.max_series_mib`.
    SeriesLimit,
    /// An error event failed while the events waiting to be retried filled their bound.
    RetryQueueFull,
    /// Still waiting to be retried when the exporter stopped.
    Shutdown,
}

labels!(DropReason {
    MissingAttribute => "missing_attribute",
    InvalidSlug => "invalid_slug",
    ProjectNotFound => "project_not_found",
    Rejected => "rejected",
    FeatureDisabled => "feature_disabled",
    TooLarge => "too_large",
    PartialSuccess => "partial_success",
    Capped => "capped",
    SeriesLimit => "series_limit",
    RetryQueueFull => "retry_queue_full",
    Shutdown => "shutdown",
});

/// Why data is to be sent again later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryReason {
    /// Held back, not sent: a rate limit Sentry announced earlier holds for `wait` more.
    RateLimited { wait: Duration },
    /// Sentry answered 429 (`wait`: how long the limit it announced holds, when it said).
    TooManyRequests { wait: Option<Duration> },
    /// The project is being created.
    BeingCreated,
    /// Too many creations are pending.
    CreationQueueFull,
    /// The last creation of the project failed.
    CreationFailed(String),
    /// The project's lookup outlasted the export's wait for it and goes on.
    LookupPending { waited: Duration },
    /// The management API could not tell the project's endpoint.
    LookupFailed(String),
    /// The configured organization is not found.
    OrganizationMissing(String),
    /// The project's key was refused again after a fresh lookup (401, 403 ProjectId).
    KeyRefused { status: u16, message: String },
    /// No answer in time: Sentry may hold the data already.
    TimedOut(String),
    /// Sentry failed or was not reached (5xx, 404, 408, transport error).
    Unavailable(String),
    /// The export's deadline passed before the data was sent.
    ExportTimeout,
    /// The exporter panicked while handling the project.
    Panicked(String),
}

labels!(RetryReason {
    RetryReason::RateLimited { .. } => "rate_limited",
    RetryReason::TooManyRequests { .. } => "too_many_requests",
    RetryReason::BeingCreated => "being_created",
    RetryReason::CreationQueueFull => "creation_queue_full",
    RetryReason::CreationFailed(_) => "creation_failed",
    RetryReason::LookupPending { .. } => "lookup_pending",
    RetryReason::LookupFailed(_) => "lookup_failed",
    RetryReason::OrganizationMissing(_) => "organization_missing",
    RetryReason::KeyRefused { .. } => "key_refused",
    RetryReason::TimedOut(_) => "timed_out",
    RetryReason::Unavailable(_) => "unavailable",
    RetryReason::ExportTimeout => "export_timeout",
    RetryReason::Panicked(_) => "panicked",
});

impl fmt::Display for RetryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryReason::RateLimited { wait } => {
                write!(
                    f,
                    "rate limited by Sentry for {:.1}s more",
                    wait.as_secs_f64()
                )
            }
            RetryReason::TooManyRequests { wait: Some(wait) } => {
                write!(f, "rate limited (429) for {:.1}s", wait.as_secs_f64())
            }
            RetryReason::TooManyRequests { wait: None } => f.write_str("rate limited (429)"),
            RetryReason::BeingCreated => f.write_str("the project is being created"),
            RetryReason::CreationQueueFull => f.write_str("too many projects are being created"),
            RetryReason::CreationFailed(why) => write!(f, "creating the project failed: {why}"),
            RetryReason::LookupPending { waited } => write!(
                f,
                "looking up the project takes longer than {}s; it goes on in the background",
                waited.as_secs()
            ),
            RetryReason::LookupFailed(why) => write!(f, "looking up the project failed: {why}"),
            RetryReason::OrganizationMissing(problem) => f.write_str(problem),
            RetryReason::KeyRefused { status, message } => {
                write!(f, "the project's key was refused ({status}): {message}")
            }
            RetryReason::TimedOut(why) => f.write_str(why),
            RetryReason::Unavailable(why) => f.write_str(why),
            RetryReason::ExportTimeout => f.write_str("export timeout reached"),
            RetryReason::Panicked(why) => write!(f, "the exporter panicked: {why}"),
        }
    }
}

/// What became of one piece of a project's data (all of it, or a part after a 413).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<P> {
    /// Accepted; `rejected` of the `items` were refused through OTLP `partial_success`.
    /// The piece sent comes back: trace metrics commit their series' state by it.
    Sent {
        piece: P,
        items: u64,
        rejected: u64,
        message: String,
    },
    Dropped {
        items: u64,
        reason: DropReason,
        detail: String,
    },
    Retry {
        piece: P,
        items: u64,
        reason: RetryReason,
        delay: Option<Duration>,
    },
}

/// What a count counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Spans, log records or metrics: the collector's items, as the router counts them.
    Items(Signal),
    /// Sentry error events made from exceptions.
    ErrorEvents,
    /// Sentry trace metric items made from metric data points.
    TraceMetricItems,
}

impl Unit {
    /// The word for these items, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Items(signal) => signal.item_name(),
            Unit::ErrorEvents => "error events",
            Unit::TraceMetricItems => "trace metric items",
        }
    }
}

/// What the tally counts: what a payload's settle rule made of its outcomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    /// Accepted; `rejected` of the `items` were refused through OTLP `partial_success`.
    Sent {
        unit: Unit,
        items: u64,
        rejected: u64,
        message: String,
    },
    Dropped {
        unit: Unit,
        items: u64,
        reason: DropReason,
        detail: String,
    },
    /// Handed back to the collector, to be retried after `delay`: only the collector's own
    /// items can be, in `request`, an OTLP request of `signal` holding them alone.
    Retry {
        signal: Signal,
        request: Vec<u8>,
        items: u64,
        reason: RetryReason,
        delay: Option<Duration>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn labels_are_distinct_and_snake_case() {
        for labels in [DropReason::LABELS, RetryReason::LABELS] {
            let distinct: HashSet<_> = labels.iter().collect();
            assert_eq!(distinct.len(), labels.len(), "{labels:?}");
            for label in labels {
                assert!(label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            }
        }
    }
}
