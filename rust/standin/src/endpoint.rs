//! Which ingest endpoint a request is for, as fault rules (`signal`) and the request log name
//! it: the OTLP traces and logs endpoints, the envelope endpoint, or the OTLP metrics sink (no
//! Sentry endpoint: a floor for benchmarks, see `ingest`).

use serde::{Deserialize, Serialize};

use crate::otlp::Signal;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    Traces,
    Logs,
    Envelope,
    Metrics,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Traces => "traces",
            Endpoint::Logs => "logs",
            Endpoint::Envelope => "envelope",
            Endpoint::Metrics => "metrics",
        }
    }

    /// The OTLP signal; `None` for envelopes.
    pub fn signal(self) -> Option<Signal> {
        match self {
            Endpoint::Traces => Some(Signal::Traces),
            Endpoint::Logs => Some(Signal::Logs),
            Endpoint::Metrics => Some(Signal::Metrics),
            Endpoint::Envelope => None,
        }
    }
}

impl From<Signal> for Endpoint {
    fn from(signal: Signal) -> Endpoint {
        match signal {
            Signal::Traces => Endpoint::Traces,
            Signal::Logs => Endpoint::Logs,
            Signal::Metrics => Endpoint::Metrics,
        }
    }
}
