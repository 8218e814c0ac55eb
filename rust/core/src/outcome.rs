//! What became of data: one project's piece is sent, dropped for a [`DropReason`], or handed
//! back for a [`RetryReason`] after a delay. Reasons carry bounded labels for telemetry and
//! the details for the problem text.

use std::fmt;
use std::time::Duration;

/// Why items were dropped (never to be retried).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// The routing attribute is absent, empty or not a string.
    MissingAttribute,
    /// The attribute's value makes no usable slug (say, all digits).
    InvalidSlug,
    /// The project does not exist and is not (or may no longer be) created.
    ProjectNotFound,
    /// Sentry refused the data (400, 415, 403 other than a moved project).
    Rejected,
    /// Sentry refused the data because a feature is off (403 `FeatureDisabled`).
    FeatureDisabled,
    /// A single item larger than Sentry accepts (413).
    TooLarge,
    /// Accepted requests whose OTLP `partial_success` rejected some items.
    PartialSuccess,
}

impl DropReason {
    pub const ALL: [DropReason; 7] = [
        DropReason::MissingAttribute,
        DropReason::InvalidSlug,
        DropReason::ProjectNotFound,
        DropReason::Rejected,
        DropReason::FeatureDisabled,
        DropReason::TooLarge,
        DropReason::PartialSuccess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::MissingAttribute => "missing_attribute",
            DropReason::InvalidSlug => "invalid_slug",
            DropReason::ProjectNotFound => "project_not_found",
            DropReason::Rejected => "rejected",
            DropReason::FeatureDisabled => "feature_disabled",
            DropReason::TooLarge => "too_large",
            DropReason::PartialSuccess => "partial_success",
        }
    }
}

/// Why data goes back to the collector, to be sent again later.
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

impl RetryReason {
    pub const LABELS: [&'static str; 13] = [
        "rate_limited",
        "too_many_requests",
        "being_created",
        "creation_queue_full",
        "creation_failed",
        "lookup_pending",
        "lookup_failed",
        "organization_missing",
        "key_refused",
        "timed_out",
        "unavailable",
        "export_timeout",
        "panicked",
    ];

    /// A bounded label, one of [`RetryReason::LABELS`].
    pub fn label(&self) -> &'static str {
        let index = match self {
            RetryReason::RateLimited { .. } => 0,
            RetryReason::TooManyRequests { .. } => 1,
            RetryReason::BeingCreated => 2,
            RetryReason::CreationQueueFull => 3,
            RetryReason::CreationFailed(_) => 4,
            RetryReason::LookupPending { .. } => 5,
            RetryReason::LookupFailed(_) => 6,
            RetryReason::OrganizationMissing(_) => 7,
            RetryReason::KeyRefused { .. } => 8,
            RetryReason::TimedOut(_) => 9,
            RetryReason::Unavailable(_) => 10,
            RetryReason::ExportTimeout => 11,
            RetryReason::Panicked(_) => 12,
        };
        RetryReason::LABELS[index]
    }
}

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
