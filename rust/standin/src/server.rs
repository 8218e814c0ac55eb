//! Listeners and connections: reads each request, sends it to the control API, the management
//! API or ingest by its raw path, applies fault rules first, and turns the `Reply` into an HTTP
//! response (or drops the connection). With TLS, each connection is a TLS handshake first.
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
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST};
use hyper::service::service_fn;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::app::App;
use crate::faults::{self, Action, Target};
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
        let (app, role, tls) = (app.clone(), role.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, app, role).await,
                Some(acceptor) => {
                    // A client that refuses the certificate ends here, which is no error of ours.
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        serve_connection(stream, app, role).await;
                    }
                }
            }
        });
    }
}

async fn serve_connection<I>(io: I, app: Arc<App>, role: Arc<Role>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| dispatch(app.clone(), role.clone(), req));
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
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Ok(to_response(Reply::detail(413, "request body too large")));
        }
        // The client went away mid-body.
        Err(_) => return Err(Dropped),
    };
    let path = parts.uri.path();
    let query = parts.uri.query();
    let path_and_query = parts.uri.path_and_query().map_or(path, |pq| pq.as_str());
    let method = parts.method.as_str();
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());

    let reply = match classify(&role, path) {
        Kind::NotFound => Reply::not_found(),
        Kind::Control => control::handle(&app, method, path, query, &body),
        Kind::Mgmt => {
            let verdict = app.lock().faults.evaluate(&faults::Request {
                target: Target::Mgmt,
                method,
                path_and_query,
                project_id: None,
                project_slug: None,
                signal: None,
                body_bytes: body.len(),
            });
            tokio::time::sleep(verdict.delay).await;
            let (mut reply, fault) = match verdict.action {
                Action::Drop => {
                    app.lock()
                        .records
                        .add_mgmt(method, path_and_query, None, true);
                    return Err(Dropped);
                }
                Action::Answer(reply) => (reply, true),
                Action::Continue => {
                    let req = mgmt::Request {
                        method,
                        path,
                        query,
                        host: header(HOST),
                        authorization: header(AUTHORIZATION),
                        body: &body,
                        endless_link: verdict.endless_link,
                    };
                    (mgmt::handle(&app, &req), false)
                }
            };
            for (name, value) in &verdict.headers {
                reply.set_header(name, value);
            }
            app.lock()
                .records
                .add_mgmt(method, path_and_query, Some(reply.status), fault);
            reply
        }
        Kind::Ingest(route) => {
            let slug = ingest::project_slug(&app, route.id);
            let verdict = app.lock().faults.evaluate(&faults::Request {
                target: Target::Ingest,
                method,
                path_and_query,
                project_id: Some(&route.project_id),
                project_slug: slug.as_deref(),
                signal: Some(route.signal),
                body_bytes: body.len(),
            });
            tokio::time::sleep(verdict.delay).await;
            let req = ingest::Request {
                path,
                query,
                headers: &parts.headers,
                body: &body,
            };
            let mut reply = match verdict.action {
                Action::Drop => {
                    let detail = Some("connection dropped".to_string());
                    ingest::record(&app, &route, &req, None, detail, None, true);
                    return Err(Dropped);
                }
                Action::Answer(reply) => {
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
                        &app,
                        &route,
                        &req,
                        Some(reply.status),
                        Some(detail),
                        None,
                        true,
                    );
                    reply
                }
                Action::Continue if method != "POST" => Reply::method_not_allowed(method),
                Action::Continue => ingest::handle(&app, &route, &req),
            };
            for (name, value) in &verdict.headers {
                reply.set_header(name, value);
            }
            reply
        }
    };
    Ok(to_response(reply))
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
