//! Logging through a sink the host provides (the Go component forwards to zap),
//! and a throttle so that repeated warnings appear at most once per interval.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

type Sink = dyn Fn(Level, &str) + Send + Sync;

#[derive(Clone)]
pub struct Logger(Arc<Sink>);

impl Logger {
    pub fn new(sink: impl Fn(Level, &str) + Send + Sync + 'static) -> Logger {
        Logger(Arc::new(sink))
    }

    pub fn discard() -> Logger {
        Logger::new(|_, _| {})
    }

    pub fn log(&self, level: Level, message: impl fmt::Display) {
        (self.0)(level, &message.to_string());
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

/// Lets a message with a given key through at most once per interval.
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
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match last.get(key) {
            Some(at) if now.saturating_duration_since(*at) < self.interval => false,
            _ => {
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
    fn throttle_lets_one_message_per_key_and_interval() {
        let throttle = Throttle::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(throttle.allow("missing_attribute", t0));
        assert!(!throttle.allow("missing_attribute", t0 + Duration::from_secs(59)));
        assert!(throttle.allow("invalid_slug", t0 + Duration::from_secs(59)));
        assert!(throttle.allow("missing_attribute", t0 + Duration::from_secs(60)));
    }
}
