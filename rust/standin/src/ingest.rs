//! Ingest as relay answers it: the routes (`POST /api/{project_id}/integration/otlp/v1/{traces,logs}`
//! and `POST /api/{project_id}/envelope/`, trailing slash optional), the key check both share,
//! the OTLP handler (content checks, decoding) and recording. Envelopes are `envelope_ingest`.
//!
//! `POST /api/{project_id}/integration/otlp/v1/metrics` is no Sentry endpoint (Sentry takes
//! metrics only as trace metrics in envelopes): a sink checked like the OTLP endpoints that
//! counts the data points per project (`metric_points`), so that the benchmark can compare the
//! exporter with the collector's plain `otlphttp` exporter sending the same metrics.

use std::collections::BTreeMap;
use std::time::Duration;

use hyper::HeaderMap;

use crate::app::App;
use crate::auth;
use crate::endpoint::Endpoint;
use crate::envelope_ingest;
use crate::otlp::{self, BodyError, Encoding, Format, Items, Signal};
use crate::quota::{self, RateLimit};
use crate::records::{Arrived, IngestEntry};
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
    pub endpoint: Endpoint,
}

/// Parses `{prefix}/api/{id}/integration/otlp/v1/{traces|logs|metrics}[/]` and
/// `{prefix}/api/{id}/envelope[/]`.
pub fn route(path: &str, prefix: &str) -> Option<Route> {
    let rest = path.strip_prefix(prefix)?;
    let segs = uri::segments_after(rest, "/api/")?;
    let (id, endpoint) = match segs.as_slice() {
        [id, "integration", "otlp", "v1", "traces"] => (id, Endpoint::Traces),
        [id, "integration", "otlp", "v1", "logs"] => (id, Endpoint::Logs),
        [id, "integration", "otlp", "v1", "metrics"] => (id, Endpoint::Metrics),
        [id, "envelope"] => (id, Endpoint::Envelope),
        _ => return None,
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Route {
        project_id: id.to_string(),
        id: id.parse().ok()?,
        endpoint,
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
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why relay would refuse the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub detail: String,
    /// The rate limits of a 429.
    pub limits: Vec<RateLimit>,
}

impl Rejection {
    pub fn new(status: u16, detail: impl Into<String>) -> Rejection {
        Rejection {
            status,
            detail: detail.into(),
            limits: Vec::new(),
        }
    }

    pub fn rate_limited(limits: Vec<RateLimit>) -> Rejection {
        Rejection {
            limits,
            ..Rejection::new(429, quota::RATE_LIMITED_DETAIL)
        }
    }

    pub fn reply(&self) -> Reply {
        match self.limits.is_empty() {
            true => Reply::detail(self.status, &self.detail),
            false => quota::reply(&self.limits),
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

/// Answers and records one ingest request, applying the rate limits of fault rules; a late or
/// withheld answer is logged as a fault.
pub fn handle(
    app: &App,
    route: &Route,
    req: &Request<'_>,
    limits: &[RateLimit],
    timing: AnswerTiming,
) -> Reply {
    match route.endpoint.signal() {
        Some(signal) => handle_otlp(app, route, signal, req, limits, timing),
        None => envelope_ingest::handle(app, route, req, limits, timing.note()),
    }
}

fn handle_otlp(
    app: &App,
    route: &Route,
    signal: Signal,
    req: &Request<'_>,
    limits: &[RateLimit],
    timing: AnswerTiming,
) -> Reply {
    let note = timing.note();
    let fault = note.is_some();
    match accept(app, route, signal, req, limits) {
        Ok((format, items)) => {
            let arrived = Some(Arrived::Otlp(route.endpoint, &items));
            record(app, route, req, Some(200), note, arrived, fault);
            Reply::new(
                200,
                format.content_type(),
                otlp::empty_response(signal, format),
            )
        }
        Err(r) => {
            let detail = with_note(&r.detail, note);
            record(app, route, req, Some(r.status), Some(detail), None, fault);
            r.reply()
        }
    }
}

/// A rejection's detail with the fault's note on the answer, for the request log.
pub fn with_note(detail: &str, note: Option<String>) -> String {
    match note {
        Some(n) => format!("{detail}; {n}"),
        None => detail.to_string(),
    }
}

/// Relay's first checks, shared by all ingest: the project of the URL exists and `key` is an
/// active key of it (401 for an unknown or revoked key, 403 for another project's).
pub fn check_key(app: &App, route: &Route, key: &str) -> Result<(), Rejection> {
    let state = app.lock();
    if state.org.project_by_id(route.id).is_none() {
        return Err(Rejection::new(403, PROJECT_ID_REJECTED));
    }
    match state.org.key_owner(key) {
        KeyOwner::Unknown | KeyOwner::Inactive { .. } => {
            Err(Rejection::new(401, "invalid api key"))
        }
        KeyOwner::Active { project_id } if project_id != route.id => {
            Err(Rejection::new(403, PROJECT_ID_REJECTED))
        }
        KeyOwner::Active { .. } => Ok(()),
    }
}

/// The request's public key from `X-Sentry-Auth`, `Authorization` or `sentry_key`.
pub fn public_key(req: &Request<'_>) -> Result<String, auth::AuthError> {
    auth::public_key(
        req.header("x-sentry-auth"),
        req.header("authorization"),
        req.query,
    )
}

/// Relay's checks, in its order: auth, project, key, content type, encoding, payload, quota.
fn accept(
    app: &App,
    route: &Route,
    signal: Signal,
    req: &Request<'_>,
    limits: &[RateLimit],
) -> Result<(Format, Items), Rejection> {
    let key = public_key(req).map_err(|e| Rejection::new(e.status(), e.detail()))?;
    check_key(app, route, &key)?;
    let format = Format::from_content_type(req.header("content-type"))
        .ok_or_else(|| Rejection::new(415, "unsupported media type"))?;
    let encoding = Encoding::from_header(req.header("content-encoding"))?;
    let plain = encoding.decode(req.body, MAX_DECOMPRESSED)?;
    let items = otlp::decode(signal, format, &plain)?;
    let limited: Vec<RateLimit> = limits
        .iter()
        .filter(|l| l.covers(quota::otlp_categories(signal)))
        .cloned()
        .collect();
    if !limited.is_empty() {
        return Err(Rejection::rate_limited(limited));
    }
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
    arrived: Option<Arrived<'_>>,
    fault: bool,
) {
    let headers: BTreeMap<String, String> = LOGGED_HEADERS
        .iter()
        .filter_map(|&name| req.header(name).map(|v| (name.to_string(), v.to_string())))
        .collect();
    let items = match arrived {
        Some(Arrived::Otlp(_, i)) => i.ids.len(),
        Some(Arrived::Envelope(kept)) => kept.items(),
        None => 0,
    };
    let entry = IngestEntry {
        at_ms: crate::clock::unix_millis(),
        seq: 0,
        signal: route.endpoint,
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
        .add_ingest(slug.as_deref(), entry, arrived);
    let what = match (arrived, route.endpoint.signal()) {
        (Some(_), Some(signal)) => format!("+{items} {} (total {total})", signal.items()),
        (Some(_), None) => format!("+{items} events and trace metrics (total {total})"),
        (None, _) => "rejected".to_string(),
    };
    let status = status.map_or("dropped".to_string(), |s| s.to_string());
    let mut line = format!(
        "project={} (id {}) {}: {what} status={status}",
        slug.as_deref().unwrap_or("?"),
        route.project_id,
        route.endpoint.as_str(),
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
        assert_eq!((r.id, r.endpoint), (12, Endpoint::Traces));
        let r = route("/api/3/integration/otlp/v1/logs/", "").expect("route");
        assert_eq!((r.id, r.endpoint), (3, Endpoint::Logs));
        let r = route("/api/5/integration/otlp/v1/metrics", "").expect("route");
        assert_eq!((r.id, r.endpoint), (5, Endpoint::Metrics));
        for path in ["/api/4/envelope/", "/api/4/envelope"] {
            let r = route(path, "").expect("route");
            assert_eq!((r.id, r.endpoint), (4, Endpoint::Envelope));
        }
        let r = route("/sentry/api/3/integration/otlp/v1/logs/", "/sentry").expect("route");
        assert_eq!(r.project_id, "3");
        for bad in [
            "/api/3/integration/otlp/v1/profiles",
            "/api/x/integration/otlp/v1/logs",
            "/api//integration/otlp/v1/logs",
            "/api/3/integration/otlp/v1/logs//",
            "/api/3/envelope/x",
            "/api/x/envelope/",
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
