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

/// Field numbers shared by both signals' OTLP messages.
pub(crate) mod field {
    /// `Export*ServiceRequest.resource_{spans,logs}`
    pub const RESOURCE_BLOCK: u32 = 1;
    /// `Resource{Spans,Logs}.resource`
    pub const RESOURCE: u32 = 1;
    /// `Resource{Spans,Logs}.scope_{spans,logs}`
    pub const SCOPE_BLOCK: u32 = 2;
    /// `Scope{Spans,Logs}.{spans,log_records}`
    pub const ITEM: u32 = 2;
    /// `Resource.attributes`
    pub const ATTRIBUTE: u32 = 1;
    /// `KeyValue.key`
    pub const KEY: u32 = 1;
    /// `KeyValue.value`
    pub const VALUE: u32 = 2;
    /// `AnyValue.string_value`
    pub const STRING_VALUE: u32 = 1;
    /// `Export*ServiceResponse.partial_success`
    pub const PARTIAL_SUCCESS: u32 = 1;
    /// `Export*PartialSuccess.rejected_{spans,log_records}`
    pub const REJECTED: u32 = 1;
    /// `Export*PartialSuccess.error_message`
    pub const ERROR_MESSAGE: u32 = 2;
}
