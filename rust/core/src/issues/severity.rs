//! A log record's severity, as OpenTelemetry's log data model ranks it, and what it means for
//! Sentry: the level of the issue it makes, and whether it makes one at all
//! (`errors.min_log_severity`, ERROR by default as Sentry's logging integrations: a warning
//! logged with its exception stays a Sentry log).

use sentry_types::protocol::v7::Level;

/// The six ranges of `SeverityNumber` (1-4 TRACE ... 21-24 FATAL), lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

/// Why a configured severity was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSeverity(pub String);

impl std::fmt::Display for UnknownSeverity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} is not a severity (one of trace, debug, info, warn, error, fatal)",
            self.0
        )
    }
}

impl Severity {
    /// The range of an OTLP `severity_number`; `None` for 0 (unspecified) and numbers beyond.
    pub fn of_number(number: u64) -> Option<Severity> {
        Some(match number {
            1..=4 => Severity::Trace,
            5..=8 => Severity::Debug,
            9..=12 => Severity::Info,
            13..=16 => Severity::Warn,
            17..=20 => Severity::Error,
            21..=24 => Severity::Fatal,
            _ => return None,
        })
    }

    /// The severity a `severity_text` names (the data model's short names and the common
    /// long ones of logging libraries, in any case, with an optional level digit:
    /// `ERROR2`).
    pub fn of_text(text: &str) -> Option<Severity> {
        let name = text.trim().trim_end_matches(|c: char| c.is_ascii_digit());
        let known = [
            ("trace", Severity::Trace),
            ("finest", Severity::Trace),
            ("debug", Severity::Debug),
            ("fine", Severity::Debug),
            ("info", Severity::Info),
            ("information", Severity::Info),
            ("notice", Severity::Info),
            ("warn", Severity::Warn),
            ("warning", Severity::Warn),
            ("error", Severity::Error),
            ("err", Severity::Error),
            ("severe", Severity::Error),
            ("fatal", Severity::Fatal),
            ("critical", Severity::Fatal),
            ("crit", Severity::Fatal),
            ("emergency", Severity::Fatal),
            ("alert", Severity::Fatal),
        ];
        named(&known, name)
    }

    /// A record's severity: its number, else its text. `None` when it gives neither: a record
    /// that carries an exception and no severity is taken as an error (see [`Severity::level`]).
    pub fn of_record(number: u64, text: &str) -> Option<Severity> {
        Severity::of_number(number).or_else(|| Severity::of_text(text))
    }

    /// `errors.min_log_severity`: one of the six names.
    pub fn parse(setting: &str) -> Result<Severity, UnknownSeverity> {
        let names = [
            ("trace", Severity::Trace),
            ("debug", Severity::Debug),
            ("info", Severity::Info),
            ("warn", Severity::Warn),
            ("error", Severity::Error),
            ("fatal", Severity::Fatal),
        ];
        named(&names, setting).ok_or_else(|| UnknownSeverity(setting.to_owned()))
    }

    /// The Sentry level of an issue at this severity.
    pub fn level(self) -> Level {
        match self {
            Severity::Trace | Severity::Debug => Level::Debug,
            Severity::Info => Level::Info,
            Severity::Warn => Level::Warning,
            Severity::Error => Level::Error,
            Severity::Fatal => Level::Fatal,
        }
    }

    /// Whether a record of `severity` makes an issue under the floor `self`; one without a
    /// severity does (an exception with no severity is an error).
    pub fn admits(self, severity: Option<Severity>) -> bool {
        severity.is_none_or(|s| s >= self)
    }
}

/// The severity `text` names in `names`, in any case.
fn named(names: &[(&str, Severity)], text: &str) -> Option<Severity> {
    names
        .iter()
        .find(|(name, _)| text.eq_ignore_ascii_case(name))
        .map(|&(_, severity)| severity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_ranked_by_its_number_else_its_text() {
        let table = [
            (0, "", None),
            (1, "", Some(Severity::Trace)),
            (9, "ERROR", Some(Severity::Info)),
            (13, "", Some(Severity::Warn)),
            (16, "", Some(Severity::Warn)),
            (17, "", Some(Severity::Error)),
            (21, "", Some(Severity::Fatal)),
            (24, "", Some(Severity::Fatal)),
            (25, "warn", Some(Severity::Warn)),
            (0, "WARNING", Some(Severity::Warn)),
            (0, "Error2", Some(Severity::Error)),
            (0, "CRITICAL", Some(Severity::Fatal)),
            (0, "verbose-ish", None),
        ];
        for (number, text, want) in table {
            assert_eq!(Severity::of_record(number, text), want, "{number} {text:?}");
        }
    }

    #[test]
    fn the_floor_admits_its_severity_and_above_and_records_without_one() {
        let floor = Severity::parse("ERROR").unwrap();
        let table = [
            (Some(Severity::Warn), false),
            (Some(Severity::Error), true),
            (Some(Severity::Fatal), true),
            (None, true),
        ];
        for (severity, want) in table {
            assert_eq!(floor.admits(severity), want, "{severity:?}");
        }
        assert!(Severity::parse("warn")
            .unwrap()
            .admits(Some(Severity::Warn)));
        assert_eq!(
            Severity::parse("warning").unwrap_err().to_string(),
            "\"warning\" is not a severity (one of trace, debug, info, warn, error, fatal)"
        );
    }

    #[test]
    fn levels_follow_severity() {
        let table = [
            (Severity::Trace, Level::Debug),
            (Severity::Info, Level::Info),
            (Severity::Warn, Level::Warning),
            (Severity::Error, Level::Error),
            (Severity::Fatal, Level::Fatal),
        ];
        for (severity, level) in table {
            assert_eq!(severity.level(), level);
        }
    }
}
