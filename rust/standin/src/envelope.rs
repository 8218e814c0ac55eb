//! Sentry envelopes as relay's envelope endpoint reads them (`POST /api/{id}/envelope/`): the
//! framing, the envelope header, and the size limits relay checks before it answers. Pure
//! functions; no HTTP here. What happens to the items afterwards is `triage`.
//!
//! The framing is parsed by hand rather than with `sentry_types::protocol::v7::Envelope::from_slice`:
//! that parser drops unknown items and item header fields (`item_count`, `content_type` of
//! containers), accepts what relay refuses (a missing newline after a payload), and is only a
//! dev-dependency. Mirrored from relay-server `src/envelope/mod.rs` (`parse_headers`,
//! `parse_items`, `EnvelopeHeaders::complete`), `src/envelope/item.rs` (`Item::parse`), and
//! `src/utils/sizes.rs` (`check_envelope_size_limits`); limits from relay-config
//! `Limits::default()`.

use serde::Deserialize;
use serde_json::{Map, Value};

/// `limits.max_envelope_size`: the whole body, decompressed.
pub const MAX_ENVELOPE: usize = 200 << 20;
/// `limits.max_event_size`: one event (and all event-like items together).
pub const MAX_EVENT: usize = 1 << 20;
/// `limits.max_trace_metric_size`: one trace metric (in a container: on average).
pub const MAX_TRACE_METRIC: usize = 1 << 20;
/// `limits.max_log_size`.
pub const MAX_LOG: usize = 2 << 20;
/// `limits.max_span_size`.
pub const MAX_SPAN: usize = 10 << 20;
/// `limits.max_container_size`: one item container.
pub const MAX_CONTAINER: usize = 12 << 20;

/// Item containers' content types, by item type.
pub const TRACE_METRIC_CONTAINER: &str = "application/vnd.sentry.items.trace-metric+json";
pub const LOG_CONTAINER: &str = "application/vnd.sentry.items.log+json";
pub const SPAN_CONTAINER: &str = "application/vnd.sentry.items.span.v2+json";

/// Why relay refuses an envelope with 400 (`BadStoreRequest::EmptyBody` / `InvalidEnvelope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Empty,
    MissingHeader,
    InvalidHeader(String),
    MissingNewline,
    InvalidItemHeader(String),
    UnexpectedEof,
    /// `dsn` in the envelope header names another project or key than the request.
    HeaderMismatch(&'static str),
}

impl ParseError {
    /// Relay's `detail`, and the cause it lists under `causes`.
    pub fn detail_and_cause(&self) -> (&'static str, Option<String>) {
        let cause = match self {
            ParseError::Empty => return ("empty request body", None),
            ParseError::MissingHeader => "missing envelope header".to_string(),
            ParseError::InvalidHeader(e) => format!("invalid envelope header: {e}"),
            ParseError::MissingNewline => "missing newline after header or payload".to_string(),
            ParseError::InvalidItemHeader(e) => format!("invalid item header: {e}"),
            ParseError::UnexpectedEof => "unexpected end of file".to_string(),
            ParseError::HeaderMismatch(what) => {
                format!("{what} header mismatch between envelope and request")
            }
        };
        ("invalid event envelope", Some(cause))
    }
}

/// The envelope header fields the stand-in reads; the rest is ignored, as relay keeps it opaque.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// Lowercase hex without dashes, as relay's `EventId` prints.
    pub event_id: Option<String>,
    /// The DSN's public key and project id.
    pub dsn: Option<DsnParts>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnParts {
    pub public_key: String,
    pub project_id: String,
}

#[derive(Debug, Deserialize)]
struct RawItemHeader {
    #[serde(rename = "type")]
    ty: String,
    length: Option<u32>,
    content_type: Option<String>,
    item_count: Option<u32>,
}

/// One item: its header fields and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<'a> {
    pub ty: String,
    pub content_type: Option<String>,
    pub item_count: Option<u32>,
    pub payload: &'a [u8],
}

impl Item<'_> {
    /// Relay's `Item::is_container`: an item container by its content type.
    pub fn is_container(&self) -> bool {
        self.content_type.as_deref().is_some_and(|ct| {
            [TRACE_METRIC_CONTAINER, LOG_CONTAINER, SPAN_CONTAINER]
                .iter()
                .any(|c| ct.eq_ignore_ascii_case(c))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    pub header: Header,
    pub items: Vec<Item<'a>>,
}

/// Parses the framing: the header line, then items until the end of the body.
pub fn parse(body: &[u8]) -> Result<Envelope<'_>, ParseError> {
    if body.is_empty() {
        return Err(ParseError::Empty);
    }
    let (header, mut offset) = parse_header(body)?;
    let mut items = Vec::new();
    while offset < body.len() {
        let (item, next) = parse_item(body, offset)?;
        items.push(item);
        offset = next;
    }
    Ok(Envelope { header, items })
}

/// The first JSON value, an object, followed by `\n` or the end of the body.
fn parse_header(body: &[u8]) -> Result<(Header, usize), ParseError> {
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<Map<String, Value>>();
    let fields = match stream.next() {
        None => return Err(ParseError::MissingHeader),
        Some(Err(e)) => return Err(ParseError::InvalidHeader(e.to_string())),
        Some(Ok(fields)) => fields,
    };
    let end = stream.byte_offset();
    require_termination(body, end)?;
    let event_id = match fields.get("event_id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(event_id(v).ok_or_else(|| invalid_header("event_id is not a UUID"))?),
    };
    let dsn = match fields.get("dsn") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_str()
                .and_then(dsn_parts)
                .ok_or_else(|| invalid_header("invalid dsn"))?,
        ),
    };
    Ok((Header { event_id, dsn }, end + 1))
}

fn invalid_header(what: &str) -> ParseError {
    ParseError::InvalidHeader(what.to_string())
}

/// One item starting at `offset`: its header line, then `length` bytes and a newline, or (no
/// `length`) everything up to the next newline. Returns the item and where the next one starts.
fn parse_item(body: &[u8], offset: usize) -> Result<(Item<'_>, usize), ParseError> {
    let slice = &body[offset..];
    let mut stream = serde_json::Deserializer::from_slice(slice).into_iter::<RawItemHeader>();
    let header = match stream.next() {
        None => return Err(ParseError::UnexpectedEof),
        Some(Err(e)) => return Err(ParseError::InvalidItemHeader(e.to_string())),
        Some(Ok(h)) => h,
    };
    let header_end = stream.byte_offset();
    require_termination(slice, header_end)?;
    // The last header needs no newline: the payload may start past the end.
    let start = (header_end + 1).min(slice.len());
    let end = match header.length {
        Some(len) => {
            let end = start
                .checked_add(len as usize)
                .filter(|&e| e <= slice.len())
                .ok_or(ParseError::UnexpectedEof)?;
            require_termination(slice, end)?;
            end
        }
        None => slice[start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(slice.len(), |p| start + p),
    };
    let item = Item {
        ty: header.ty,
        content_type: header.content_type,
        item_count: header.item_count,
        payload: &slice[start..end],
    };
    Ok((item, offset + end + 1))
}

fn require_termination(slice: &[u8], at: usize) -> Result<(), ParseError> {
    match slice.get(at) {
        Some(b'\n') | None => Ok(()),
        Some(_) => Err(ParseError::MissingNewline),
    }
}

/// A UUID, with or without dashes, as lowercase hex without dashes.
fn event_id(value: &Value) -> Option<String> {
    let s = value.as_str()?;
    let hex: String = s.chars().filter(|&c| c != '-').collect();
    let dashes_ok = s.len() == 32 || (s.len() == 36 && s.matches('-').count() == 4);
    (dashes_ok && hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

/// `{scheme}://{public_key}[:{secret}]@{host}[/{path}]/{project_id}`.
pub fn dsn_parts(dsn: &str) -> Option<DsnParts> {
    let (_, rest) = dsn.split_once("://")?;
    let (user, host_and_path) = rest.split_once('@')?;
    let public_key = user.split(':').next()?.to_string();
    let project_id = host_and_path.trim_end_matches('/').rsplit('/').next()?;
    let has_path = host_and_path.contains('/');
    if public_key.is_empty() || !has_path || !project_id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(DsnParts {
        public_key,
        project_id: project_id.to_string(),
    })
}

/// Relay's `EnvelopeHeaders::complete`: a `dsn` in the header must name the request's project
/// and key.
pub fn check_dsn(header: &Header, project_id: &str, key: &str) -> Result<(), ParseError> {
    match &header.dsn {
        Some(d) if d.project_id != project_id => Err(ParseError::HeaderMismatch("project id")),
        Some(d) if d.public_key != key => Err(ParseError::HeaderMismatch("public key")),
        _ => Ok(()),
    }
}

/// What relay's size check allows per item kind: each item's size, how many, all together.
struct Limit {
    item_size: usize,
    count: usize,
    total: usize,
}

impl Limit {
    fn new(item_size: usize, count: usize, total: usize) -> Limit {
        Limit {
            item_size,
            count,
            total,
        }
    }

    /// Takes `item` from what is left; `false` when it does not fit.
    fn take(&mut self, item: &Item<'_>) -> bool {
        let len = item.payload.len();
        // A container is checked by the average size of its items.
        let size = match item.is_container() {
            true => len / item.item_count.unwrap_or(1).max(1) as usize,
            false => len,
        };
        let fits = size <= self.item_size && self.count >= 1 && self.total >= len;
        if fits {
            self.count -= 1;
            self.total -= len;
        }
        fits
    }
}

/// Relay's `check_envelope_size_limits` for the item kinds the stand-in knows: the type name
/// of the first item over a limit (answered 413). One event, one container of each kind.
pub fn check_size_limits(items: &[Item<'_>]) -> Result<(), String> {
    let mut event = Limit::new(MAX_EVENT, 1, MAX_EVENT);
    let mut log = Limit::new(MAX_LOG, 1, MAX_CONTAINER);
    let mut trace_metric = Limit::new(MAX_TRACE_METRIC, 1, MAX_CONTAINER);
    let mut span = Limit::new(MAX_SPAN, 1, MAX_CONTAINER);
    for item in items {
        let limit = match item.ty.as_str() {
            "event" | "transaction" | "security" | "raw_security" | "form_data" | "feedback"
            | "replay_event" => &mut event,
            "log" => &mut log,
            "trace_metric" => &mut trace_metric,
            "span" if item.is_container() => &mut span,
            _ => continue,
        };
        if !limit.take(item) {
            return Err(item.ty.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "e12d836b15bb49d7bbf99e64295d995b";

    fn header_line() -> String {
        format!(
            r#"{{"event_id":"9ec79c33-ec99-42ab-8353-589fcb2e04dc","dsn":"https://{KEY}@sentry.io/42"}}"#
        )
    }

    #[test]
    fn explicit_and_implicit_lengths() {
        let body = format!(
            "{}\n{{\"type\":\"attachment\",\"length\":10}}\n01234567\r\n\n\n{{\"type\":\"event\"}}\n{{\"a\":1}}\n{{\"type\":\"x\"}}",
            header_line()
        );
        let env = parse(body.as_bytes()).expect("parse");
        let h = &env.header;
        assert_eq!(
            h.event_id.as_deref(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        assert_eq!(h.dsn.as_ref().map(|d| d.project_id.as_str()), Some("42"));
        let sizes: Vec<(&str, usize)> = env
            .items
            .iter()
            .map(|i| (i.ty.as_str(), i.payload.len()))
            .collect();
        assert_eq!(sizes, [("attachment", 10), ("event", 7), ("x", 0)]);
        assert!(check_dsn(h, "42", KEY).is_ok());
        assert_eq!(
            check_dsn(h, "43", KEY),
            Err(ParseError::HeaderMismatch("project id"))
        );
        assert_eq!(
            check_dsn(h, "42", &"0".repeat(32)),
            Err(ParseError::HeaderMismatch("public key"))
        );
    }

    #[test]
    fn framing_errors_as_relay() {
        let h = header_line();
        for (body, want) in [
            (String::new(), ParseError::Empty),
            (" ".to_string(), ParseError::MissingHeader),
            (format!("{h} x"), ParseError::MissingNewline),
            (
                format!("{h}\n{{\"type\":\"event\",\"length\":5}}\nabc"),
                ParseError::UnexpectedEof,
            ),
            (
                format!("{h}\n{{\"type\":\"event\",\"length\":2}}\nabc\n"),
                ParseError::MissingNewline,
            ),
            (
                format!("{h}\n{{\"type\":\"event\"}}\n{{}}\n\n"),
                ParseError::UnexpectedEof,
            ),
        ] {
            assert_eq!(parse(body.as_bytes()), Err(want), "{body:?}");
        }
        for body in [
            "[1]\n",
            "{\"event_id\":\"nope\"}\n",
            "{\"dsn\":\"https://x@h\"}\n",
            "{",
        ] {
            assert!(
                matches!(parse(body.as_bytes()), Err(ParseError::InvalidHeader(_))),
                "{body}"
            );
        }
        let no_type = format!("{h}\n{{\"length\":0}}\n\n");
        assert!(matches!(
            parse(no_type.as_bytes()),
            Err(ParseError::InvalidItemHeader(_))
        ));
        assert!(parse(b"{}").is_ok_and(|e| e.items.is_empty()));
    }

    fn item<'a>(ty: &str, ct: Option<&str>, count: Option<u32>, payload: &'a [u8]) -> Item<'a> {
        Item {
            ty: ty.into(),
            content_type: ct.map(str::to_string),
            item_count: count,
            payload,
        }
    }

    #[test]
    fn size_limits_and_one_container_of_a_kind() {
        let small = vec![b'x'; 100];
        let big = vec![b'x'; MAX_EVENT + 1];
        let metrics = item(
            "trace_metric",
            Some(TRACE_METRIC_CONTAINER),
            Some(2),
            &small,
        );
        let event = item("event", None, None, &small);
        assert_eq!(check_size_limits(&[event.clone(), metrics.clone()]), Ok(()));
        assert_eq!(
            check_size_limits(&[metrics.clone(), metrics.clone()]),
            Err("trace_metric".into())
        );
        assert_eq!(
            check_size_limits(&[event.clone(), event]),
            Err("event".into())
        );
        assert_eq!(
            check_size_limits(&[item("event", None, None, &big)]),
            Err("event".into())
        );
        // A container of two is judged by the average item size.
        let two = item("trace_metric", Some(TRACE_METRIC_CONTAINER), Some(2), &big);
        assert_eq!(check_size_limits(&[two]), Ok(()));
        let one = item("trace_metric", Some(TRACE_METRIC_CONTAINER), Some(1), &big);
        assert_eq!(check_size_limits(&[one]), Err("trace_metric".into()));
        assert_eq!(
            check_size_limits(&[item("attachment", None, None, &big)]),
            Ok(())
        );
    }
}
