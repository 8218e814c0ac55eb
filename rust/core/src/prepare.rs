//! What a request of spans or log records becomes before routing: the legacy `environment`
//! added to resources that state none, invalid UTF-8 in its strings replaced (Sentry would
//! refuse the whole request for one bad string). Metrics requests stay as they are: their
//! conversion reads resources and strings itself.

use std::borrow::Cow;

use crate::clock::Instant;
use crate::environment::Environment;
use crate::log::Field;
use crate::signal::{OtlpSignal, Signal};
use crate::tally::Warnings;
use crate::telemetry::Telemetry;
use crate::wire::WireError;

pub struct Prepare {
    /// The legacy `environment`, added to resources that state none.
    pub environment: Option<Environment>,
}

impl Prepare {
    /// `request` with the legacy `environment` added (the router reads routing attributes of
    /// invalid UTF-8 as [`Prepare::prepared`] repairs them, so routing needs only this).
    pub fn with_environment<'r>(
        &self,
        signal: Signal,
        request: &'r [u8],
    ) -> Result<Cow<'r, [u8]>, WireError> {
        match (&self.environment, OtlpSignal::of(signal)) {
            (Some(environment), Some(_)) => environment.apply(request),
            _ => Ok(Cow::Borrowed(request)),
        }
    }

    /// `request` as it is sent: with the environment, and its invalid UTF-8 replaced,
    /// counted and warned about.
    pub fn prepared<'r>(
        &self,
        signal: Signal,
        request: &'r [u8],
        telemetry: &Telemetry,
        warnings: &Warnings,
        now: Instant,
    ) -> Result<Cow<'r, [u8]>, WireError> {
        let with_environment = self.with_environment(signal, request)?;
        let Some(otlp) = OtlpSignal::of(signal) else {
            return Ok(with_environment);
        };
        let repaired = crate::utf8::repair(otlp, &with_environment);
        let strings = repaired.strings;
        if strings > 0 {
            telemetry.strings_repaired(signal, strings);
            let message = || {
                format!(
                    "{strings} string fields of {} held invalid UTF-8, replaced with U+FFFD to be sent",
                    signal.item_name()
                )
            };
            let fields = [
                Field::str("signal", signal.name()),
                Field::u64("count", strings),
            ];
            let key = format!("invalid_utf8:{}", signal.name());
            warnings.warn(&key, message, &fields, now);
        }
        if let Cow::Owned(repaired) = repaired.request {
            return Ok(Cow::Owned(repaired));
        }
        Ok(with_environment)
    }
}
