//! The three signals the exporter carries. Their OTLP requests share one shape:
//! field 1 repeats `Resource{Spans,Logs,Metrics}`, whose field 1 is the `Resource` and
//! field 2 repeats `Scope{Spans,Logs,Metrics}`, whose field 2 repeats the items (spans, log
//! records, metrics).

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    Traces,
    Logs,
    Metrics,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
            Signal::Metrics => "metrics",
        }
    }

    /// The word for one item of this signal, for messages.
    pub fn item_name(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Logs => "log records",
            Signal::Metrics => "metrics",
        }
    }
}

/// The signals Sentry's OTLP ingest takes (metrics go in envelopes, as trace metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OtlpSignal {
    Traces,
    Logs,
}

impl OtlpSignal {
    /// `signal`, when Sentry's OTLP ingest takes it.
    pub fn of(signal: Signal) -> Option<OtlpSignal> {
        match signal {
            Signal::Traces => Some(OtlpSignal::Traces),
            Signal::Logs => Some(OtlpSignal::Logs),
            Signal::Metrics => None,
        }
    }
}

impl From<OtlpSignal> for Signal {
    fn from(signal: OtlpSignal) -> Signal {
        match signal {
            OtlpSignal::Traces => Signal::Traces,
            OtlpSignal::Logs => Signal::Logs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_signals_are_traces_and_logs() {
        for (signal, otlp) in [
            (Signal::Traces, Some(OtlpSignal::Traces)),
            (Signal::Logs, Some(OtlpSignal::Logs)),
            (Signal::Metrics, None),
        ] {
            assert_eq!(OtlpSignal::of(signal), otlp);
            assert_eq!(otlp.map(Signal::from), otlp.map(|_| signal));
        }
    }
}
