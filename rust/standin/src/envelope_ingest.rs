//! The envelope endpoint as relay answers it (`POST /api/{project_id}/envelope/`): the key
//! (as for OTLP, through `ingest`; without one in the request, the envelope header's `dsn`, as
//! relay's `EnvelopeParams` reads it), the content encoding (as for OTLP), the framing
//! (`envelope`, 400), rate limits (429), size limits (413), then what relay's processing keeps
//! (`triage`), recorded per project.
//!
//! Relay does not check the request's `Content-Type` here (relay-server
//! `src/endpoints/envelope.rs` has no such check since it moved to axum), and neither does the
//! stand-in. The answer is `{"id": "<event id>"}` when the envelope has an event id (one is made
//! for an envelope with an event and none), else `{}`.

use serde_json::json;

use crate::app::App;
use crate::auth::AuthError;
use crate::envelope::{self, Envelope, Header, ParseError, MAX_ENVELOPE};
use crate::ingest::{self, Rejection, Request, Route};
use crate::otlp::{BodyError, Encoding};
use crate::quota::{self, RateLimit};
use crate::records::Arrived;
use crate::reply::Reply;
use crate::state::Feature;
use crate::triage::{self, Kept};

/// Why relay refuses an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// Auth, project or key, as on the OTLP endpoints.
    Key(Rejection),
    Body(BodyError),
    Parse(ParseError),
    /// Over a size limit for items of this type (`BadStoreRequest::Overflow`).
    Overflow(String),
}

impl Refusal {
    fn status(&self) -> u16 {
        match self {
            Refusal::Key(r) => r.status,
            Refusal::Body(e) => e.status(),
            Refusal::Parse(_) => 400,
            Refusal::Overflow(_) => 413,
        }
    }

    fn detail(&self) -> String {
        match self {
            Refusal::Key(r) => r.detail.clone(),
            Refusal::Body(e) => e.detail(),
            Refusal::Parse(e) => e.detail_and_cause().0.to_string(),
            Refusal::Overflow(ty) => format!(
                "envelope exceeded size limits for type '{ty}' (https://develop.sentry.dev/sdk/envelopes/#size-limits)"
            ),
        }
    }

    /// Relay's `ApiErrorResponse`: `detail`, and `causes` for an invalid envelope.
    fn reply(&self) -> Reply {
        match self {
            Refusal::Key(r) => r.reply(),
            Refusal::Parse(e) => match e.detail_and_cause() {
                (detail, Some(cause)) => {
                    Reply::json(400, &json!({ "detail": detail, "causes": [cause] }))
                }
                (detail, None) => Reply::detail(400, detail),
            },
            _ => Reply::detail(self.status(), &self.detail()),
        }
    }
}

impl From<Rejection> for Refusal {
    fn from(r: Rejection) -> Refusal {
        Refusal::Key(r)
    }
}

/// An envelope relay took: what it kept, its event id, and the limits that dropped items
/// (answered 429 when there are any, also when other items were kept).
#[derive(Debug)]
struct Handled {
    kept: Kept,
    event_id: Option<String>,
    limited: Vec<RateLimit>,
}

/// Answers and records one envelope request; `note` tells how a fault rule delays the answer.
pub fn handle(
    app: &App,
    route: &Route,
    req: &Request<'_>,
    limits: &[RateLimit],
    note: Option<String>,
) -> Reply {
    let fault = note.is_some();
    match accept(app, route, req, limits) {
        Ok(done) => {
            let (status, reply) = match (done.limited.is_empty(), &done.event_id) {
                (false, _) => (429, quota::reply(&done.limited)),
                (true, Some(id)) => (200, Reply::json(200, &json!({ "id": id }))),
                (true, None) => (200, Reply::json(200, &json!({}))),
            };
            let detail = summary(&done.kept).map(|s| ingest::with_note(&s, note.clone()));
            let arrived = Some(Arrived::Envelope(&done.kept));
            ingest::record(
                app,
                route,
                req,
                Some(status),
                detail.or(note),
                arrived,
                fault,
            );
            reply
        }
        Err(refusal) => {
            let detail = ingest::with_note(&refusal.detail(), note);
            let status = Some(refusal.status());
            ingest::record(app, route, req, status, Some(detail), None, fault);
            refusal.reply()
        }
    }
}

/// Relay's order: auth, project and key, body, framing, then the items.
fn accept(
    app: &App,
    route: &Route,
    req: &Request<'_>,
    limits: &[RateLimit],
) -> Result<Handled, Refusal> {
    let request_key = match ingest::public_key(req) {
        Ok(key) => Some(key),
        Err(AuthError::Missing) => None,
        Err(e) => return Err(Rejection::new(e.status(), e.detail()).into()),
    };
    if let Some(key) = &request_key {
        ingest::check_key(app, route, key)?;
    }
    let encoding = Encoding::from_header(req.header("content-encoding")).map_err(Refusal::Body)?;
    let plain = encoding
        .decode(req.body, MAX_ENVELOPE)
        .map_err(Refusal::Body)?;
    let parsed = envelope::parse(&plain).map_err(Refusal::Parse)?;
    let key = match request_key {
        Some(key) => key,
        None => key_from_dsn(app, route, &parsed.header)?,
    };
    envelope::check_dsn(&parsed.header, &route.project_id, &key).map_err(Refusal::Parse)?;
    handle_items(app, route, parsed, limits)
}

/// Without auth in the request, relay reads the key from the envelope header's `dsn`.
fn key_from_dsn(app: &App, route: &Route, header: &Header) -> Result<String, Refusal> {
    let Some(dsn) = &header.dsn else {
        let e = AuthError::Missing;
        return Err(Rejection::new(e.status(), e.detail()).into());
    };
    let query = format!("sentry_key={}", dsn.public_key);
    let key = crate::auth::public_key(None, None, Some(&query))
        .map_err(|e| Rejection::new(e.status(), e.detail()))?;
    ingest::check_key(app, route, &key)?;
    Ok(key)
}

/// Rate limits (nothing left: 429 at once), size limits (413), then processing.
fn handle_items(
    app: &App,
    route: &Route,
    parsed: Envelope<'_>,
    limits: &[RateLimit],
) -> Result<Handled, Refusal> {
    // Relay's `parse_request`: an envelope with an event gets an event id if it has none.
    let needs_id = parsed
        .items
        .iter()
        .any(|i| matches!(i.ty.as_str(), "event" | "transaction" | "attachment"));
    let event_id = parsed
        .header
        .event_id
        .or_else(|| needs_id.then(|| format!("{:032x}", rand::random::<u128>())));
    let mut kept = Kept::default();
    let (left, limited) = triage::apply_limits(parsed.items, limits, &mut kept);
    if left.is_empty() && !limited.is_empty() {
        return Ok(Handled {
            kept,
            event_id,
            limited,
        });
    }
    envelope::check_size_limits(&left).map_err(Refusal::Overflow)?;
    let trace_metrics = app
        .lock()
        .org
        .project_by_id(route.id)
        .is_some_and(|p| p.has_feature(Feature::TraceMetricsIngestion));
    triage::process(&left, trace_metrics, &mut kept);
    Ok(Handled {
        kept,
        event_id,
        limited,
    })
}

/// The request log's note on what was not recorded; `None` when everything was.
fn summary(kept: &Kept) -> Option<String> {
    let dropped = kept
        .dropped
        .iter()
        .map(|((category, reason), n)| format!("{n} {category} {}", reason.as_str()));
    let ignored = kept
        .ignored
        .iter()
        .map(|(ty, n)| format!("{n} {ty} ignored"));
    let parts: Vec<String> = dropped.chain(ignored).collect();
    (!parts.is_empty()).then(|| format!("not recorded: {}", parts.join(", ")))
}
