//! OTLP ingest as relay answers it: `POST /api/{project_id}/integration/otlp/v1/{traces,logs}`
//! (trailing slash optional), key check, content checks, decoding and recording.

use std::collections::BTreeMap;
use std::time::Duration;

use hyper::HeaderMap;

use crate::app::App;
use crate::auth;
use crate::otlp::{self, BodyError, Encoding, Format, Items, Signal};
use crate::records::IngestEntry;
use crate::reply::Reply;
use crate::state::KeyOwner;
use crate::uri;

/// Largest body after decompression.
pub const MAX_DECOMPRESSED: usize = 256 << 20;

/// Headers kept in the request log.
const LOGGED_HEADERS: [&str; 4] = [
    "x-sentry-auth",
    "content-encoding",
    "content-type",
    "user-agent",
];

const PROJECT_ID_REJECTED: &str = "event submission rejected with_reason: ProjectId";

/// An ingest URL, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The id segment as sent (digits).
    pub project_id: String,
    pub id: u64,
    pub signal: Signal,
}

/// Parses `{prefix}/api/{id}/integration/otlp/v1/{traces|logs}[/]`.
pub fn route(path: &str, prefix: &str) -> Option<Route> {
    let rest = path.strip_prefix(prefix)?;
    let segs = uri::segments_after(rest, "/api/")?;
    let [id, "integration", "otlp", "v1", signal] = segs.as_slice() else {
        return None;
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let signal = match *signal {
        "traces" => Signal::Traces,
        "logs" => Signal::Logs,
        _ => return None,
    };
    Some(Route {
        project_id: id.to_string(),
        id: id.parse().ok()?,
        signal,
    })
}

/// The parts of an ingest request the handler reads.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// As sent (possibly compressed).
    pub body: &'a [u8],
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why relay would refuse the request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rejection {
    status: u16,
    detail: String,
}

impl Rejection {
    fn new(status: u16, detail: impl Into<String>) -> Rejection {
        Rejection {
            status,
            detail: detail.into(),
        }
    }
}

impl From<BodyError> for Rejection {
    fn from(e: BodyError) -> Rejection {
        Rejection::new(e.status(), e.detail())
    }
}

/// The slug of the project with this id, also when it was deleted.
pub fn project_slug(app: &App, id: u64) -> Option<String> {
    let state = app.lock();
    state
        .org
        .project_by_id(id)
        .map(|p| p.slug.clone())
        .or_else(|| state.records.slug_for_id(id).map(str::to_string))
}

/// When the answer to a request handled as usual goes out, as a fault rule shapes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerTiming {
    Now,
    /// After this wait (`delay_ms`): the data is recorded before it.
    Late(Duration),
    /// Never (`hang`): the data is recorded all the same.
    Never,
}

impl AnswerTiming {
    /// The request log's note on the answer; `None` for one answered at once.
    fn note(self) -> Option<String> {
        match self {
            AnswerTiming::Now => None,
            AnswerTiming::Late(d) => Some(format!("answered {} ms late", d.as_millis())),
            AnswerTiming::Never => Some("answer withheld (hang)".to_string()),
        }
    }
}

/// Answers and records one ingest request; a late or withheld answer is logged as a fault.
pub fn handle(app: &App, route: &Route, req: &Request<'_>, timing: AnswerTiming) -> Reply {
    let note = timing.note();
    let fault = note.is_some();
    match accept(app, route, req) {
        Ok((format, items)) => {
            record(app, route, req, Some(200), note, Some(&items), fault);
            Reply::new(
                200,
                format.content_type(),
                otlp::empty_response(route.signal, format),
            )
        }
        Err(r) => {
            let detail = match note {
                Some(n) => format!("{}; {n}", r.detail),
                None => r.detail.clone(),
            };
            record(app, route, req, Some(r.status), Some(detail), None, fault);
            Reply::detail(r.status, &r.detail)
        }
    }
}

/// Relay's checks, in its order: auth, project, key, content type, encoding, payload.
fn accept(app: &App, route: &Route, req: &Request<'_>) -> Result<(Format, Items), Rejection> {
    let key = auth::public_key(
        req.header("x-sentry-auth"),
        req.header("authorization"),
        req.query,
    )
    .map_err(|e| Rejection::new(e.status(), e.detail()))?;
    {
        let state = app.lock();
        if state.org.project_by_id(route.id).is_none() {
            return Err(Rejection::new(403, PROJECT_ID_REJECTED));
        }
        match state.org.key_owner(&key) {
            KeyOwner::Unknown | KeyOwner::Inactive { .. } => {
                return Err(Rejection::new(401, "invalid api key"))
            }
            KeyOwner::Active { project_id } if project_id != route.id => {
                return Err(Rejection::new(403, PROJECT_ID_REJECTED))
            }
            KeyOwner::Active { .. } => {}
        }
    }
    let format = Format::from_content_type(req.header("content-type"))
        .ok_or_else(|| Rejection::new(415, "unsupported media type"))?;
    let encoding = Encoding::from_header(req.header("content-encoding"))?;
    let plain = encoding.decode(req.body, MAX_DECOMPRESSED)?;
    let items = otlp::decode(route.signal, format, &plain)?;
    Ok((format, items))
}

/// Adds the request to its project's record (or to the unknown-project list) and prints a
/// line. `status` is `None` when the connection was dropped.
pub fn record(
    app: &App,
    route: &Route,
    req: &Request<'_>,
    status: Option<u16>,
    detail: Option<String>,
    accepted: Option<&Items>,
    fault: bool,
) {
    let headers: BTreeMap<String, String> = LOGGED_HEADERS
        .iter()
        .filter_map(|&name| req.header(name).map(|v| (name.to_string(), v.to_string())))
        .collect();
    let items = accepted.map_or(0, |i| i.ids.len());
    let entry = IngestEntry {
        at_ms: crate::clock::unix_millis(),
        seq: 0,
        signal: route.signal,
        project_id: route.project_id.clone(),
        path: req.path.to_string(),
        status,
        items,
        body_bytes: req.body.len(),
        headers,
        detail: detail.clone(),
        fault,
    };
    let slug = project_slug(app, route.id);
    let total = app
        .lock()
        .records
        .add_ingest(slug.as_deref(), entry, accepted);
    let what = match accepted {
        Some(_) => format!("+{items} {} (total {total})", route.signal.items()),
        None => "rejected".to_string(),
    };
    let status = status.map_or("dropped".to_string(), |s| s.to_string());
    let mut line = format!(
        "project={} (id {}) {}: {what} status={status}",
        slug.as_deref().unwrap_or("?"),
        route.project_id,
        route.signal.as_str(),
    );
    if let Some(d) = detail {
        line.push_str(&format!(" ({d})"));
    }
    if fault {
        line.push_str(" [fault]");
    }
    app.say(&line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_with_and_without_slash_and_prefix() {
        let r = route("/api/12/integration/otlp/v1/traces", "").expect("route");
        assert_eq!((r.id, r.signal), (12, Signal::Traces));
        let r = route("/api/3/integration/otlp/v1/logs/", "").expect("route");
        assert_eq!((r.id, r.signal), (3, Signal::Logs));
        let r = route("/sentry/api/3/integration/otlp/v1/logs/", "/sentry").expect("route");
        assert_eq!(r.project_id, "3");
        for bad in [
            "/api/3/integration/otlp/v1/metrics",
            "/api/x/integration/otlp/v1/logs",
            "/api//integration/otlp/v1/logs",
            "/api/3/integration/otlp/v1/logs//",
            "/api/3/integration/otlp/v1",
            "/api/0/organizations/acme/projects/",
            "/api/99999999999999999999999/integration/otlp/v1/logs",
        ] {
            assert_eq!(route(bad, ""), None, "{bad}");
        }
        assert_eq!(
            route("/api/3/integration/otlp/v1/logs", "/sentry"),
            None,
            "prefix required"
        );
    }
}
