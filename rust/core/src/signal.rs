//! The two signals the exporter carries. Their OTLP requests share one shape:
//! field 1 repeats `Resource{Spans,Logs}`, whose field 1 is the `Resource` and
//! field 2 repeats `Scope{Spans,Logs}`, whose field 2 repeats the items.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    Traces,
    Logs,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
        }
    }

    /// The word for one item of this signal, for messages.
    pub fn item_name(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Logs => "log records",
        }
    }
}
