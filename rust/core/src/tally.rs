//! One place that counts what became of data, in one vocabulary ([`Counted`]) for every
//! payload: the [`ExportOutcome`] handed to the host, the telemetry counters, the warnings
//! (throttled) and the problem text.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::clock::{Clock, Instant};
use crate::log::{Field, Level, Logger, Throttle};
use crate::outcome::{Counted, DropReason, RetryReason, Unit};
use crate::redact::Redactor;
use crate::signal::Signal;
use crate::slug::Slug;
use crate::sync::locked;
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

/// Causes of drops whose counts are held between warnings; beyond, new causes are held under
/// one shared key. Causes name projects, which come from whoever sends telemetry.
const MAX_HELD_CAUSES: usize = 128;
const OTHER_CAUSES: &str = "other";

/// Warnings said at most once per [`WARNING_INTERVAL`] and cause. A warning about dropped
/// items says how many were dropped since the last one of its cause: the drops of the
/// interval are added up, and said when it ends ([`Warnings::flush`]) or at shutdown.
/// Everything the exporter drops is thus logged with its number.
pub struct Warnings {
    logger: Logger,
    throttle: Throttle,
    drops: Mutex<HashMap<String, HeldDrops>>,
}

/// How a drop warning is said, for a count.
pub type DropMessage = Box<dyn Fn(u64) -> String + Send + Sync>;

/// The drops of one cause not said yet.
struct HeldDrops {
    held: u64,
    /// When its last warning was said (`None`: never).
    said: Option<Instant>,
    message: DropMessage,
    project: Option<String>,
    reason: &'static str,
}

impl Warnings {
    pub fn new(logger: Logger) -> Warnings {
        Warnings {
            logger,
            throttle: Throttle::new(WARNING_INTERVAL),
            drops: Mutex::default(),
        }
    }

    /// `count` items of `project` dropped for `reason` (their cause is `key`): warned at
    /// once if the cause had no warning in the last interval, else added to the next one.
    pub fn dropped(
        &self,
        key: &str,
        count: u64,
        (project, reason): (Option<&str>, &'static str),
        message: DropMessage,
        clock: &dyn Clock,
    ) {
        let now = clock.now();
        let mut drops = locked(&self.drops);
        let key = match drops.contains_key(key) || drops.len() < MAX_HELD_CAUSES {
            true => key,
            false => OTHER_CAUSES,
        };
        let other = key == OTHER_CAUSES;
        let entry = drops.entry(key.to_owned()).or_insert_with(|| HeldDrops {
            held: 0,
            said: None,
            message: Box::new(|_| String::new()),
            project: None,
            reason,
        });
        entry.held += count;
        if other {
            entry.message = Box::new(|n| format!("{n} items of further projects dropped"));
        } else {
            (entry.message, entry.project) = (message, project.map(str::to_owned));
        }
        entry.reason = reason;
        if entry
            .said
            .is_none_or(|said| now.saturating_duration_since(said) >= WARNING_INTERVAL)
        {
            self.say(entry, now);
        }
    }

    /// Says the drops held longer than an interval, and forgets causes quiet for that long.
    /// With `all`, says every held drop (at shutdown).
    pub fn flush(&self, now: Instant, all: bool) {
        let mut drops = locked(&self.drops);
        drops.retain(|_, entry| {
            let due = entry
                .said
                .is_none_or(|said| now.saturating_duration_since(said) >= WARNING_INTERVAL);
            if entry.held > 0 && (due || all) {
                self.say(entry, now);
                return true;
            }
            !due
        });
    }

    fn say(&self, entry: &mut HeldDrops, now: Instant) {
        let count = entry.held;
        let mut fields = vec![
            Field::str("status", DROPPED),
            Field::str("reason", entry.reason),
            Field::u64("count", count),
        ];
        if let Some(project) = &entry.project {
            fields.insert(0, Field::str("project", project));
        }
        self.logger
            .log_with(Level::Warn, (entry.message)(count), &fields);
        (entry.held, entry.said) = (0, Some(now));
    }

    /// Says a warning, unless one of `key` was said within the last interval before `now`.
    pub fn warn(
        &self,
        key: &str,
        message: impl FnOnce() -> String,
        fields: &[Field<'_>],
        now: Instant,
    ) {
        if self.throttle.allow(key, now) {
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

/// What became of data, counted as it comes: a batch's, or the retries the core makes itself.
pub struct Tally<'a> {
    counters: Counters<'a>,
    outcome: ExportOutcome,
    problems: Problems,
}

impl<'a> Tally<'a> {
    pub fn new(counters: Counters<'a>) -> Tally<'a> {
        Tally {
            counters,
            outcome: ExportOutcome::default(),
            problems: Problems::default(),
        }
    }

    /// Items of `signal` the router could not give a project.
    pub fn unrouted(&mut self, signal: Signal, reason: DropReason, items: u64) {
        self.outcome.dropped += items;
        self.counters
            .telemetry
            .dropped(Unit::Items(signal), reason, items);
        let (name, label) = (signal.item_name(), reason.label());
        let problem = move |n: u64| {
            format!(
                "{n} {name} dropped: {label} (routing attribute unusable and no fallback_project)"
            )
        };
        self.warn_dropped(label, items, (None, label), Box::new(problem));
        self.problems.push(|| problem(items));
    }

    /// What became of some of `slug`'s data.
    pub fn add(&mut self, slug: &Slug, counted: Counted) {
        match counted {
            Counted::Sent {
                unit,
                items,
                rejected,
                message,
            } => self.sent(slug, unit, items, rejected, &message),
            Counted::Dropped {
                unit,
                items,
                reason,
                detail,
            } => self.dropped(slug, unit, items, reason, &detail),
            Counted::Retry {
                signal,
                request,
                items,
                reason,
                delay,
            } => self.retry(slug, signal, request, items, reason, delay),
        }
    }

    fn sent(&mut self, slug: &Slug, unit: Unit, items: u64, rejected: u64, message: &str) {
        let accepted = items.saturating_sub(rejected);
        self.counters.telemetry.sent(unit, accepted);
        if let Unit::Items(_) = unit {
            self.outcome.sent += accepted;
        }
        if rejected == 0 {
            return;
        }
        let detail = format!("Sentry rejected them: {message}");
        self.dropped(slug, unit, rejected, DropReason::PartialSuccess, &detail);
    }

    /// Drops of the collector's own items make the batch's problems; the others (events,
    /// trace metric items) are counted and warned about only.
    fn dropped(&mut self, slug: &Slug, unit: Unit, items: u64, reason: DropReason, detail: &str) {
        self.counters.telemetry.dropped(unit, reason, items);
        let (name, label) = (unit.name(), reason.label());
        let (shown_slug, detail) = (slug.clone(), detail.to_owned());
        let problem =
            move |n: u64| format!("project {shown_slug}: {n} {name} dropped ({label}): {detail}");
        if let Unit::Items(_) = unit {
            self.outcome.dropped += items;
            self.problems.push(|| problem(items));
        }
        let key = format!("{name}:{label}:{slug}");
        self.warn_dropped(&key, items, (Some(slug.as_str()), label), Box::new(problem));
    }

    fn retry(
        &mut self,
        slug: &Slug,
        signal: Signal,
        request: Vec<u8>,
        items: u64,
        reason: RetryReason,
        delay: Option<Duration>,
    ) {
        let telemetry = self.counters.telemetry;
        self.outcome.retryable += items;
        self.outcome.retry_after = self.outcome.retry_after.max(delay);
        self.outcome.retry_request.extend(request);
        telemetry.failed(signal, &reason, items);
        let fields = [
            Field::str("project", slug.as_str()),
            Field::str("status", RETRYABLE),
            Field::str("reason", reason.label()),
            Field::u64("count", items),
        ];
        match &reason {
            RetryReason::RateLimited { .. } => telemetry.rate_limited(signal, items),
            RetryReason::TimedOut(why) => {
                telemetry.maybe_delivered(signal, items);
                self.warn(
                    &format!("timed-out:{slug}"),
                    || may_be_held(slug, signal, items, why, delay),
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
        (counters.warnings).warn(key, message, fields, counters.clock.now());
    }

    fn warn_dropped(
        &self,
        key: &str,
        count: u64,
        cause: (Option<&str>, &'static str),
        message: DropMessage,
    ) {
        let counters = &self.counters;
        (counters.warnings).dropped(key, count, cause, message, counters.clock);
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

    /// The (message, count field) of each warning said.
    type Said = std::sync::Arc<Mutex<Vec<(String, u64)>>>;

    fn said() -> (Logger, Said) {
        let seen: Said = Default::default();
        let sink = seen.clone();
        let logger = Logger::with_fields(move |_, message, fields| {
            let count = fields.iter().find_map(|f| match (f.key, &f.value) {
                ("count", crate::log::FieldValue::U64(n)) => Some(*n),
                _ => None,
            });
            sink.lock()
                .unwrap()
                .push((message.to_owned(), count.unwrap_or(0)));
        });
        (logger, seen)
    }

    #[tokio::test(start_paused = true)]
    async fn drop_warnings_say_every_drop_with_its_true_count() {
        let (logger, seen) = said();
        let warnings = Warnings::new(logger);
        let clock = crate::clock::TokioClock::new();
        let drop_one = |project: &'static str| {
            let message = Box::new(move |n| format!("{project}: {n} events dropped"));
            warnings.dropped(project, 1, (Some(project), "capped"), message, &clock);
        };
        for _ in 0..100 {
            drop_one("shop");
        }
        drop_one("api");
        tokio::time::advance(WARNING_INTERVAL / 2).await;
        warnings.flush(clock.now(), false);
        assert_eq!(seen.lock().unwrap().len(), 2, "once per cause and interval");
        tokio::time::advance(WARNING_INTERVAL / 2).await;
        warnings.flush(clock.now(), false);
        drop_one("shop");
        warnings.flush(clock.now(), true);
        let seen = seen.lock().unwrap();
        let shop: Vec<&(String, u64)> =
            seen.iter().filter(|(m, _)| m.starts_with("shop")).collect();
        assert_eq!(
            shop,
            [
                &("shop: 1 events dropped".to_owned(), 1),
                &("shop: 99 events dropped".to_owned(), 99),
                &("shop: 1 events dropped".to_owned(), 1)
            ]
        );
        assert_eq!(seen.iter().map(|(_, n)| n).sum::<u64>(), 102);
    }

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
