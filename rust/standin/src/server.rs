//! Listeners and connections: reads each request, sends it to the control API, the management
//! API or ingest by its raw path, applies fault rules first, and turns the `Reply` into an HTTP
//! response (or drops the connection). With TLS, each connection is a TLS handshake first.
//!
//! Fault rules that act on the request head (`early_answer`, `reset_mid_upload`) are applied
//! before the body is read; the others after. A rule's `delay_ms` comes before a fault's
//! answer, but after the normal handling of a request it lets through (a slow answer).
//!
//! The main listener is also a (loopback-only) proxy: an absolute-form request
//! (`GET http://sentry.invalid/api/0/...`) is served by its path like any other, and
//! `CONNECT host:port` to a loopback address opens a tunnel.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, HOST};
use hyper::http::request::Parts;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::app::App;
use crate::connection::{ResetSwitch, ResettableStream};
use crate::faults::{self, Action, HeadFault, Target};
use crate::ingest::AnswerTiming;
use crate::payload::{Content, Payload};
use crate::reply::Reply;
use crate::{control, ingest, mgmt};

/// Largest request body read (as sent).
pub const MAX_BODY: usize = 64 << 20;

/// A TLS handshake that takes longer is given up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a listener serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Management API and control API; ingest too when there is no ingest listener.
    Main { ingest: bool },
    /// Only ingest, under a path prefix.
    Ingest { prefix: String },
}

/// Returned by the service to make hyper close the connection without an answer.
#[derive(Debug)]
pub struct Dropped;

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by a fault rule")
    }
}

impl std::error::Error for Dropped {}

/// Accepts connections until the task is aborted; with `tls`, serves HTTPS.
pub async fn serve(listener: TcpListener, app: Arc<App>, role: Role, tls: Option<TlsAcceptor>) {
    let role = Arc::new(role);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (stream, reset) = ResettableStream::new(stream);
        let (app, role, tls) = (app.clone(), role.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, app, role, reset).await,
                Some(acceptor) => {
                    // A client that refuses the certificate ends here, which is no error of ours.
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        serve_connection(stream, app, role, reset).await;
                    }
                }
            }
        });
    }
}

async fn serve_connection<I>(io: I, app: Arc<App>, role: Arc<Role>, reset: ResetSwitch)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| dispatch(app.clone(), role.clone(), reset.clone(), req));
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .await;
}

enum Kind {
    Control,
    Mgmt,
    Ingest(ingest::Route),
    NotFound,
}

fn classify(role: &Role, path: &str) -> Kind {
    match role {
        Role::Ingest { prefix } => ingest::route(path, prefix).map_or(Kind::NotFound, Kind::Ingest),
        Role::Main { ingest } => {
            if let Some(route) = ingest::route(path, "").filter(|_| *ingest) {
                Kind::Ingest(route)
            } else if path.starts_with(control::PREFIX) {
                Kind::Control
            } else if path.starts_with(mgmt::PREFIX) {
                Kind::Mgmt
            } else {
                Kind::NotFound
            }
        }
    }
}

async fn dispatch(
    app: Arc<App>,
    role: Arc<Role>,
    reset: ResetSwitch,
    req: hyper::Request<Incoming>,
) -> Result<Response<Payload>, Dropped> {
    if req.method() == Method::CONNECT {
        let reply = match *role {
            Role::Main { .. } => connect(&app, req).await,
            Role::Ingest { .. } => Reply::method_not_allowed("CONNECT"),
        };
        return Ok(to_response(reply));
    }
    let (parts, body) = req.into_parts();
    let kind = classify(&role, parts.uri.path());
    let slug = match &kind {
        Kind::Ingest(route) => ingest::project_slug(&app, route.id),
        _ => None,
    };
    let announced = content_length(&parts.headers);
    let head_fault = fault_request(&kind, &parts, slug.as_deref(), announced)
        .and_then(|req| app.lock().faults.evaluate_head(&req));
    match head_fault {
        Some(HeadFault::AnswerEarly { reply, delay }) => {
            // Dropping the body before anything else tells hyper nobody reads it: it stops
            // reading and closes the connection once the answer is written.
            drop(body);
            return Ok(answer_early(&app, &kind, &parts, reply, delay).await);
        }
        Some(HeadFault::ResetMidUpload) => {
            reset_mid_upload(&app, &kind, &parts, body, announced).await;
            reset.arm();
            return Err(Dropped);
        }
        None => {}
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Ok(to_response(Reply::detail(413, "request body too large")));
        }
        // The client went away mid-body.
        Err(_) => return Err(Dropped),
    };
    let fault_req = fault_request(&kind, &parts, slug.as_deref(), body.len());
    let outcome = match (&kind, fault_req) {
        (Kind::Mgmt, Some(fault_req)) => mgmt_request(&app, &parts, &body, fault_req).await,
        (Kind::Ingest(route), Some(fault_req)) => {
            ingest_request(&app, &parts, &body, route, fault_req).await
        }
        (Kind::Control, _) => {
            let (method, path, query) =
                (parts.method.as_str(), parts.uri.path(), parts.uri.query());
            Outcome::now(control::handle(&app, method, path, query, &body))
        }
        _ => Outcome::now(Reply::not_found()),
    };
    // A held request keeps nothing of its own.
    drop((parts, body, slug, kind));
    finish(&app, outcome).await
}

/// How a request ends, once handled.
enum Outcome {
    /// Answer after waiting `late` (a slow answer to work already done).
    Answer {
        reply: Reply,
        late: Duration,
    },
    Drop,
    Hang,
}

impl Outcome {
    fn now(reply: Reply) -> Outcome {
        Outcome::Answer {
            reply,
            late: Duration::ZERO,
        }
    }
}

async fn finish(app: &App, outcome: Outcome) -> Result<Response<Payload>, Dropped> {
    match outcome {
        Outcome::Answer { reply, late } => {
            tokio::time::sleep(late).await;
            Ok(to_response(reply))
        }
        Outcome::Drop => Err(Dropped),
        Outcome::Hang => {
            // hyper drops this future when the client hangs up, which ends the hold.
            let _held = app.hold_request();
            std::future::pending().await
        }
    }
}

/// `Content-Length` as announced; 0 when absent or unreadable.
fn content_length(headers: &HeaderMap) -> usize {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// What fault rules match a mgmt or ingest request on; `None` for the others (no faults).
fn fault_request<'a>(
    kind: &'a Kind,
    parts: &'a Parts,
    slug: Option<&'a str>,
    body_bytes: usize,
) -> Option<faults::Request<'a>> {
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |pq| pq.as_str());
    let base = faults::Request {
        target: Target::Mgmt,
        method: parts.method.as_str(),
        path_and_query,
        project_id: None,
        project_slug: None,
        signal: None,
        body_bytes,
    };
    match kind {
        Kind::Mgmt => Some(base),
        Kind::Ingest(route) => Some(faults::Request {
            target: Target::Ingest,
            project_id: Some(&route.project_id),
            project_slug: slug,
            signal: Some(route.endpoint),
            ..base
        }),
        Kind::Control | Kind::NotFound => None,
    }
}

/// `early_answer`: logs the request (no data), waits, and answers with `Connection: close`.
async fn answer_early(
    app: &App,
    kind: &Kind,
    parts: &Parts,
    mut reply: Reply,
    delay: Duration,
) -> Response<Payload> {
    let note = format!("answered {} before reading the body", reply.status);
    log_fault(app, kind, parts, Some(reply.status), note);
    tokio::time::sleep(delay).await;
    reply.set_header("connection", "close");
    to_response(reply)
}

/// `reset_mid_upload`: reads half the announced body (at most `RESET_AFTER_BYTES`), or the
/// first `RESET_AFTER_BYTES` without a length, and logs the request (no data). The caller
/// resets the connection.
async fn reset_mid_upload(
    app: &App,
    kind: &Kind,
    parts: &Parts,
    mut body: Incoming,
    announced: usize,
) {
    let wanted = match announced {
        0 => faults::RESET_AFTER_BYTES,
        n => (n / 2).clamp(1, faults::RESET_AFTER_BYTES),
    };
    let mut read = 0;
    while read < wanted {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
            Some(Err(_)) | None => break,
        }
    }
    let note = format!("connection reset after {read} bytes of the body");
    log_fault(app, kind, parts, None, note);
}

/// Logs a request a head fault ended (status `None`: no answer), with no data accepted.
fn log_fault(app: &App, kind: &Kind, parts: &Parts, status: Option<u16>, note: String) {
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or(parts.uri.path(), |pq| pq.as_str());
    match kind {
        Kind::Mgmt => {
            app.lock()
                .records
                .add_mgmt(parts.method.as_str(), path_and_query, status, true);
        }
        Kind::Ingest(route) => {
            let req = ingest::Request {
                path: parts.uri.path(),
                query: parts.uri.query(),
                headers: &parts.headers,
                body: &[],
            };
            ingest::record(app, route, &req, status, Some(note), None, true);
        }
        Kind::Control | Kind::NotFound => {}
    }
}

async fn mgmt_request(
    app: &App,
    parts: &Parts,
    body: &Bytes,
    fault_req: faults::Request<'_>,
) -> Outcome {
    let (method, path_and_query) = (fault_req.method, fault_req.path_and_query);
    let verdict = app.lock().faults.evaluate(&fault_req);
    let log = |status, fault| {
        app.lock()
            .records
            .add_mgmt(method, path_and_query, status, fault)
    };
    let (mut reply, late) = match verdict.action {
        Action::Drop => {
            tokio::time::sleep(verdict.delay).await;
            log(None, true);
            return Outcome::Drop;
        }
        Action::Hang => {
            log(None, true);
            return Outcome::Hang;
        }
        Action::Answer(reply) => {
            tokio::time::sleep(verdict.delay).await;
            log(Some(reply.status), true);
            (reply, Duration::ZERO)
        }
        Action::Continue => {
            let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
            let req = mgmt::Request {
                method,
                path: parts.uri.path(),
                query: parts.uri.query(),
                host: header(HOST),
                authorization: header(AUTHORIZATION),
                body,
                endless_link: verdict.endless_link,
            };
            let reply = mgmt::handle(app, &req);
            log(Some(reply.status), false);
            // Done first, answered late: a slow Sentry that has already done the work.
            (reply, verdict.delay)
        }
    };
    for (name, value) in &verdict.headers {
        reply.set_header(name, value);
    }
    Outcome::Answer { reply, late }
}

async fn ingest_request(
    app: &App,
    parts: &Parts,
    body: &Bytes,
    route: &ingest::Route,
    fault_req: faults::Request<'_>,
) -> Outcome {
    let method = fault_req.method;
    let verdict = app.lock().faults.evaluate(&fault_req);
    let req = ingest::Request {
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        body,
    };
    let timing = match verdict.action {
        Action::Drop => {
            tokio::time::sleep(verdict.delay).await;
            let detail = Some("connection dropped".to_string());
            ingest::record(app, route, &req, None, detail, None, true);
            return Outcome::Drop;
        }
        Action::Answer(reply) => {
            tokio::time::sleep(verdict.delay).await;
            log_fault_answer(app, route, &req, &reply);
            return Outcome::now(with_headers(reply, &verdict.headers));
        }
        Action::Hang => AnswerTiming::Never,
        Action::Continue if verdict.delay.is_zero() => AnswerTiming::Now,
        Action::Continue => AnswerTiming::Late(verdict.delay),
    };
    let reply = if method == "POST" {
        ingest::handle(app, route, &req, &verdict.rate_limits, timing)
    } else {
        Reply::method_not_allowed(method)
    };
    match timing {
        AnswerTiming::Never => Outcome::Hang,
        _ => Outcome::Answer {
            reply: with_headers(reply, &verdict.headers),
            late: verdict.delay,
        },
    }
}

/// Logs an ingest request a fault rule answered (no data accepted).
fn log_fault_answer(app: &App, route: &ingest::Route, req: &ingest::Request<'_>, reply: &Reply) {
    let mut detail: String = match reply.filler {
        Some(n) => format!("{n} filler bytes"),
        None => String::from_utf8_lossy(&reply.body)
            .chars()
            .take(200)
            .collect(),
    };
    if let Some(every) = reply.trickle {
        detail.push_str(&format!(", one byte every {} ms", every.as_millis()));
    }
    ingest::record(
        app,
        route,
        req,
        Some(reply.status),
        Some(detail),
        None,
        true,
    );
}

fn with_headers(mut reply: Reply, headers: &[(String, String)]) -> Reply {
    for (name, value) in headers {
        reply.set_header(name, value);
    }
    reply
}

/// `CONNECT host:port`: a tunnel to a loopback address (the stand-in is no open proxy).
async fn connect(app: &App, req: hyper::Request<Incoming>) -> Reply {
    let Some(authority) = req.uri().authority().map(|a| a.to_string()) else {
        return Reply::detail(400, "CONNECT needs host:port");
    };
    let addrs = match tokio::net::lookup_host(authority.as_str()).await {
        Ok(addrs) => addrs.collect::<Vec<_>>(),
        Err(e) => return Reply::detail(502, &format!("cannot resolve {authority}: {e}")),
    };
    let Some(addr) = addrs.into_iter().find(|a| a.ip().is_loopback()) else {
        return Reply::detail(403, "the stand-in tunnels to loopback addresses only");
    };
    let mut target = match TcpStream::connect(addr).await {
        Ok(t) => t,
        Err(e) => return Reply::detail(502, &format!("cannot connect to {authority}: {e}")),
    };
    app.say(&format!("CONNECT {authority}: tunnel to {addr}"));
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(upgraded), &mut target).await;
        }
    });
    Reply {
        headers: Vec::new(),
        ..Reply::new(200, "", Vec::new())
    }
}

fn to_response(reply: Reply) -> Response<Payload> {
    let content = match reply.filler {
        Some(n) => Content::Filler(n),
        None => Content::Whole(Bytes::from(reply.body)),
    };
    let mut resp = Response::new(Payload::new(content, reply.trickle));
    *resp.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            resp.headers_mut().append(n, v);
        }
    }
    resp
}
