//! One place that counts what became of a batch: the [`ExportOutcome`] handed to the host,
//! the telemetry counters, the warnings (throttled) and the problem text, from the outcomes of
//! the batch's projects.

use std::time::Duration;

use crate::clock::Clock;
use crate::ingest::otlp::OtlpPiece;
use crate::log::{Field, Level, Logger, Throttle};
use crate::outcome::{DropReason, Outcome, RetryReason};
use crate::redact::Redactor;
use crate::signal::Signal;
use crate::slug::Slug;
use crate::telemetry::Telemetry;

/// Problems listed in one outcome. A batch can span thousands of projects (its service names
/// come from whoever sends telemetry): the error text that goes back to the collector, and
/// into its log, must stay short.
pub const MAX_LISTED_PROBLEMS: usize = 10;
/// Repeated warnings (routing drops, unknown projects) at most this often, per cause.
pub const WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// The `status` field of a warning: what became of the items it is about.
const DROPPED: &str = "dropped";
const RETRYABLE: &str = "retryable";

/// What happened to one batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExportOutcome {
    pub sent: u64,
    pub dropped: u64,
    /// Items of `retry_request`.
    pub retryable: u64,
    /// The longest delay any failed project asked for.
    pub retry_after: Option<Duration>,
    /// An OTLP request holding only the items to try again; empty when none.
    pub retry_request: Vec<u8>,
    /// Why items were dropped or must be retried, one entry per cause: at most
    /// [`MAX_LISTED_PROBLEMS`], then one entry saying how many more there were.
    pub problems: Vec<String>,
}

/// Data handed back to the collector to retry.
pub trait Retryable {
    /// The OTLP request holding it.
    fn into_request(self) -> Vec<u8>;
}

impl Retryable for OtlpPiece {
    fn into_request(self) -> Vec<u8> {
        self.request
    }
}

/// Warnings said at most once per [`WARNING_INTERVAL`] and cause.
pub struct Warnings {
    logger: Logger,
    throttle: Throttle,
}

impl Warnings {
    pub fn new(logger: Logger) -> Warnings {
        Warnings {
            logger,
            throttle: Throttle::new(WARNING_INTERVAL),
        }
    }

    pub fn warn(
        &self,
        key: &str,
        message: impl FnOnce() -> String,
        fields: &[Field<'_>],
        clock: &dyn Clock,
    ) {
        if self.throttle.allow(key, clock.now()) {
            self.logger.log_with(Level::Warn, message(), fields);
        }
    }
}

/// The services that count a batch's outcomes.
pub struct Counters<'a> {
    pub telemetry: &'a Telemetry,
    pub warnings: &'a Warnings,
    pub redactor: &'a Redactor,
    pub logger: &'a Logger,
    pub clock: &'a dyn Clock,
}

/// The outcomes of one batch, counted as they come.
pub struct Tally<'a> {
    signal: Signal,
    counters: Counters<'a>,
    outcome: ExportOutcome,
    problems: Problems,
}

impl<'a> Tally<'a> {
    pub fn new(signal: Signal, counters: Counters<'a>) -> Tally<'a> {
        Tally {
            signal,
            counters,
            outcome: ExportOutcome::default(),
            problems: Problems::default(),
        }
    }

    /// Items the router could not give a project.
    pub fn unrouted(&mut self, reason: DropReason, items: u64) {
        self.outcome.dropped += items;
        self.counters.telemetry.dropped(self.signal, reason, items);
        let problem = format!(
            "{items} {} dropped: {} (routing attribute unusable and no fallback_project)",
            self.signal.item_name(),
            reason.as_str()
        );
        let shown = problem.clone();
        let fields = [
            Field::str("status", DROPPED),
            Field::str("reason", reason.as_str()),
            Field::u64("count", items),
        ];
        self.warn(reason.as_str(), || shown, &fields);
        self.problems.push(|| problem);
    }

    /// One outcome of `slug`'s data.
    pub fn add(&mut self, slug: &Slug, outcome: Outcome<impl Retryable>) {
        match outcome {
            Outcome::Sent {
                items,
                rejected,
                message,
                ..
            } => self.sent(slug, items, rejected, &message),
            Outcome::Dropped {
                items,
                reason,
                detail,
            } => self.dropped(slug, items, reason, &detail),
            Outcome::Retry {
                piece,
                items,
                reason,
                delay,
            } => self.retry(slug, piece, items, reason, delay),
        }
    }

    /// `items` of `slug` accepted, all of them.
    pub fn accepted(&mut self, slug: &Slug, items: u64) {
        self.sent(slug, items, 0, "");
    }

    fn sent(&mut self, slug: &Slug, items: u64, rejected: u64, message: &str) {
        let telemetry = self.counters.telemetry;
        self.outcome.sent += items - rejected;
        telemetry.sent(self.signal, items - rejected);
        if rejected == 0 {
            return;
        }
        self.outcome.dropped += rejected;
        telemetry.dropped(self.signal, DropReason::PartialSuccess, rejected);
        let items_name = self.signal.item_name();
        let problem = format!("project {slug}: Sentry rejected {rejected} {items_name}");
        let fields = [
            Field::str("project", slug.as_str()),
            Field::str("status", DROPPED),
            Field::str("reason", DropReason::PartialSuccess.as_str()),
            Field::u64("count", rejected),
        ];
        self.warn(
            &format!("partial:{slug}"),
            || format!("{problem}: {message}"),
            &fields,
        );
        self.problems.push(|| problem);
    }

    fn dropped(&mut self, slug: &Slug, items: u64, reason: DropReason, detail: &str) {
        self.outcome.dropped += items;
        self.counters.telemetry.dropped(self.signal, reason, items);
        let problem = format!(
            "project {slug}: {items} {} dropped ({}): {detail}",
            self.signal.item_name(),
            reason.as_str()
        );
        let shown = problem.clone();
        let fields = [
            Field::str("project", slug.as_str()),
            Field::str("status", DROPPED),
            Field::str("reason", reason.as_str()),
            Field::u64("count", items),
        ];
        self.warn(&format!("{}:{slug}", reason.as_str()), || shown, &fields);
        self.problems.push(|| problem);
    }

    fn retry(
        &mut self,
        slug: &Slug,
        piece: impl Retryable,
        items: u64,
        reason: RetryReason,
        delay: Option<Duration>,
    ) {
        let telemetry = self.counters.telemetry;
        self.outcome.retryable += items;
        self.outcome.retry_after = self.outcome.retry_after.max(delay);
        self.outcome.retry_request.extend(piece.into_request());
        telemetry.failed(self.signal, &reason, items);
        let fields = [
            Field::str("project", slug.as_str()),
            Field::str("status", RETRYABLE),
            Field::str("reason", reason.label()),
            Field::u64("count", items),
        ];
        match &reason {
            RetryReason::RateLimited { .. } => telemetry.rate_limited(self.signal, items),
            RetryReason::TimedOut(why) => {
                telemetry.maybe_delivered(self.signal, items);
                self.warn(
                    &format!("timed-out:{slug}"),
                    || may_be_held(slug, self.signal, items, why, delay),
                    &fields,
                );
            }
            RetryReason::OrganizationMissing(problem) => {
                // Not one project's problem: said once for all of them.
                self.warn("organization-missing", || problem.clone(), &fields[1..])
            }
            _ => {}
        }
        self.problems.push(|| format!("project {slug}: {reason}"));
    }

    fn warn(&self, key: &str, message: impl FnOnce() -> String, fields: &[Field<'_>]) {
        let counters = &self.counters;
        counters.warnings.warn(key, message, fields, counters.clock);
    }

    /// The batch's outcome, its problems cleaned of secrets (and logged at debug level).
    pub fn finish(mut self) -> ExportOutcome {
        let redactor = self.counters.redactor;
        self.outcome.problems = self
            .problems
            .into_list()
            .iter()
            .map(|problem| redactor.clean(problem))
            .collect();
        for problem in &self.outcome.problems {
            self.counters.logger.debug(problem);
        }
        self.outcome
    }
}

/// A request that got no answer: Sentry may hold its items already, and the retry may
/// duplicate them.
fn may_be_held(
    slug: &Slug,
    signal: Signal,
    items: u64,
    why: &str,
    delay: Option<Duration>,
) -> String {
    format!(
        "project {slug}: {why}; Sentry may already hold these {items} {}, which are sent again in {}s and may then arrive twice (a longer http.timeout avoids this)",
        signal.item_name(),
        delay.unwrap_or_default().as_secs()
    )
}

/// Collects an outcome's problems, listing the first ones and counting the rest.
#[derive(Debug, Default)]
struct Problems {
    listed: Vec<String>,
    more: usize,
}

impl Problems {
    fn push(&mut self, problem: impl FnOnce() -> String) {
        if self.listed.len() < MAX_LISTED_PROBLEMS {
            self.listed.push(problem());
        } else {
            self.more += 1;
        }
    }

    fn into_list(mut self) -> Vec<String> {
        if self.more > 0 {
            self.listed.push(format!("and {} more problems", self.more));
        }
        self.listed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_list_the_first_ones_and_count_the_rest() {
        let mut problems = Problems::default();
        for n in 0..10_000 {
            problems.push(|| format!("project p{n}: the project is being created"));
        }
        let list = problems.into_list();
        assert_eq!(list.len(), MAX_LISTED_PROBLEMS + 1);
        assert_eq!(list[0], "project p0: the project is being created");
        assert_eq!(
            list[MAX_LISTED_PROBLEMS],
            format!("and {} more problems", 10_000 - MAX_LISTED_PROBLEMS)
        );
    }

    #[test]
    fn a_few_problems_are_all_listed() {
        let mut problems = Problems::default();
        problems.push(|| "one".to_owned());
        problems.push(|| "two".to_owned());
        assert_eq!(problems.into_list(), ["one", "two"]);
    }
}
