//! Logging through a sink the host provides (the Go component forwards to zap),
//! and a throttle so that repeated warnings appear at most once per interval.
//!
//! A line is a message plus typed [`Field`]s (`project`, `reason`, `count`, ...), so that an
//! operator can filter on them; the message stays a full sentence for those who read it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Instant;

use crate::redact::Redactor;
use crate::sync::locked;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// The value of a [`Field`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValue<'a> {
    Str(&'a str),
    U64(u64),
}

/// One structured field of a log line: a fixed key and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub key: &'static str,
    pub value: FieldValue<'a>,
}

impl<'a> Field<'a> {
    pub fn str(key: &'static str, value: &'a str) -> Field<'a> {
        Field {
            key,
            value: FieldValue::Str(value),
        }
    }

    pub fn u64(key: &'static str, value: u64) -> Field<'a> {
        Field {
            key,
            value: FieldValue::U64(value),
        }
    }
}

type Sink = dyn Fn(Level, &str, &[Field<'_>]) + Send + Sync;

#[derive(Clone)]
pub struct Logger(Arc<Sink>);

impl Logger {
    /// A logger whose sink takes the message only (the fields are left out).
    pub fn new(sink: impl Fn(Level, &str) + Send + Sync + 'static) -> Logger {
        Logger::with_fields(move |level, message, _| sink(level, message))
    }

    /// A logger whose sink takes the message and the line's fields.
    pub fn with_fields(sink: impl Fn(Level, &str, &[Field<'_>]) + Send + Sync + 'static) -> Logger {
        Logger(Arc::new(sink))
    }

    /// This logger, with every message and text field cleaned by `redactor` first.
    pub fn redacting(self, redactor: Arc<Redactor>) -> Logger {
        Logger::with_fields(move |level, message, fields| {
            let cleaned: Vec<String> = fields
                .iter()
                .map(|f| match f.value {
                    FieldValue::Str(s) => redactor.clean(s),
                    FieldValue::U64(_) => String::new(),
                })
                .collect();
            let fields: Vec<Field<'_>> = fields
                .iter()
                .zip(&cleaned)
                .map(|(f, clean)| match f.value {
                    FieldValue::Str(_) => Field::str(f.key, clean),
                    FieldValue::U64(_) => *f,
                })
                .collect();
            (self.0)(level, &redactor.clean(message), &fields)
        })
    }

    pub fn discard() -> Logger {
        Logger::with_fields(|_, _, _| {})
    }

    pub fn log(&self, level: Level, message: impl fmt::Display) {
        self.log_with(level, message, &[]);
    }

    /// Logs `message` with structured `fields`.
    pub fn log_with(&self, level: Level, message: impl fmt::Display, fields: &[Field<'_>]) {
        (self.0)(level, &message.to_string(), fields);
    }

    pub fn debug(&self, message: impl fmt::Display) {
        self.log(Level::Debug, message)
    }

    pub fn info(&self, message: impl fmt::Display) {
        self.log(Level::Info, message)
    }

    pub fn warn(&self, message: impl fmt::Display) {
        self.log(Level::Warn, message)
    }
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Logger")
    }
}

/// What a caught panic says: its message, when it has one.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "a panic without a message"
    }
}

/// Distinct keys let through per interval. Keys name projects, which come from
/// whoever sends telemetry: a flood of new names must not flood the log nor
/// grow the map (what is not logged is still counted in the metrics).
const MAX_KEYS: usize = 128;

/// Lets a message with a given key through at most once per interval, and at
/// most `MAX_KEYS` distinct keys per interval.
#[derive(Debug)]
pub struct Throttle {
    interval: Duration,
    last: Mutex<HashMap<String, Instant>>,
}

impl Throttle {
    pub fn new(interval: Duration) -> Throttle {
        Throttle {
            interval,
            last: Mutex::new(HashMap::new()),
        }
    }

    pub fn allow(&self, key: &str, now: Instant) -> bool {
        let mut last = locked(&self.last);
        match last.get(key) {
            Some(at) if now.saturating_duration_since(*at) < self.interval => false,
            _ => {
                if last.len() >= MAX_KEYS {
                    let interval = self.interval;
                    last.retain(|_, at| now.saturating_duration_since(*at) < interval);
                    if last.len() >= MAX_KEYS {
                        return false;
                    }
                }
                last.insert(key.to_owned(), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_reach_the_sink_with_text_fields_redacted() {
        type Seen = Vec<(String, Vec<(&'static str, String)>)>;
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let sink = seen.clone();
        let logger = Logger::with_fields(move |_, message, fields| {
            let fields = fields
                .iter()
                .map(|f| match f.value {
                    FieldValue::Str(s) => (f.key, s.to_owned()),
                    FieldValue::U64(n) => (f.key, n.to_string()),
                })
                .collect();
            sink.lock().unwrap().push((message.to_owned(), fields));
        })
        .redacting(Arc::new(Redactor::new(["s3cret".to_owned()])));
        logger.log_with(
            Level::Warn,
            "project p: s3cret",
            &[
                Field::str("project", "p"),
                Field::str("reason", "token s3cret refused"),
                Field::u64("count", 7),
            ],
        );
        logger.warn("no fields");
        let seen = seen.lock().unwrap();
        assert!(!seen[0].0.contains("s3cret"));
        assert_eq!(seen[0].1[0], ("project", "p".to_owned()));
        assert!(!seen[0].1[1].1.contains("s3cret"), "{:?}", seen[0].1[1]);
        assert_eq!(seen[0].1[2], ("count", "7".to_owned()));
        assert!(seen[1].1.is_empty());
    }

    #[test]
    fn throttle_lets_one_message_per_key_and_interval() {
        let throttle = Throttle::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(throttle.allow("missing_attribute", t0));
        assert!(!throttle.allow("missing_attribute", t0 + Duration::from_secs(59)));
        assert!(throttle.allow("invalid_slug", t0 + Duration::from_secs(59)));
        assert!(throttle.allow("missing_attribute", t0 + Duration::from_secs(60)));
    }

    #[test]
    fn throttle_forgets_expired_keys_so_distinct_keys_stay_bounded() {
        let throttle = Throttle::new(Duration::from_secs(60));
        let t0 = Instant::now();
        for i in 0..MAX_KEYS {
            assert!(throttle.allow(&format!("not-found:svc-{i}"), t0));
        }
        let later = t0 + Duration::from_secs(61);
        assert!(throttle.allow("not-found:another", later));
        assert_eq!(throttle.last.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_flood_of_distinct_keys_is_cut_at_the_bound_until_the_interval_ends() {
        let throttle = Throttle::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let allowed = (0..10 * MAX_KEYS)
            .filter(|i| throttle.allow(&format!("not-found:svc-{i}"), t0))
            .count();
        assert_eq!(allowed, MAX_KEYS);
        assert_eq!(throttle.last.lock().unwrap().len(), MAX_KEYS);
        assert!(throttle.allow("not-found:next-minute", t0 + Duration::from_secs(60)));
    }
}
