//! A local stand-in for Sentry, for tests, benchmarks and `make run`.
//!
//! It listens on loopback only and plays one organization with one team and a few projects:
//! the management API (bearer token, Link paging, project creation), relay's OTLP ingest
//! endpoints and its envelope endpoint with relay's status codes, an OTLP metrics sink (no
//! Sentry endpoint: for benchmarks), a per-project record of what arrived (spans, log records,
//! error events, trace metrics, metric data points), and a control API (`/_standin/`) to read
//! the records, switch project features and faults (rate limits too) at run time.
//!
//! | module | job |
//! | --- | --- |
//! | `server` | listeners, connections, dispatch by raw path, faults before handling |
//! | `connection` | a connection's TCP stream, reset (RST) on drop when a fault asks |
//! | `mgmt` | the management API handlers |
//! | `views` | the JSON shapes of projects, teams and keys |
//! | `paging` | cursors and Sentry's `Link` header |
//! | `ingest` | ingest routes, the key check all ingest shares, the OTLP handler, recording |
//! | `envelope_ingest` | the envelope endpoint's handler: relay's checks and answers |
//! | `envelope` | envelope framing, header, size limits (pure) |
//! | `triage` | what relay keeps of an envelope's items: rate limits, features, containers (pure) |
//! | `event_normalize` | what relay's normalization and trimming make of a kept error event (pure) |
//! | `trace_metric` | one trace metric as relay's processing checks it (pure) |
//! | `endpoint` | which ingest endpoint: `traces`, `logs`, `envelope`, the `metrics` sink |
//! | `auth` | `X-Sentry-Auth` parsing |
//! | `otlp` | content encoding and type, decoding, item ids |
//! | `release_environment` | the release and environment relay derives for an OTLP span or log record (pure) |
//! | `control` | the `/_standin/` control API |
//! | `faults` | fault rules and their matching |
//! | `quota` | rate limits of fault rules, relay's 429 and `X-Sentry-Rate-Limits` |
//! | `state` | org, team, projects, keys, project features |
//! | `records` | what arrived, request logs |
//! | `app` | settings and the shared, locked state |
//! | `payload` | response bodies: whole, huge filler, trickled |
//! | `tls` | `--tls-dir`: the CA and server certificate made at start |
//! | `reply`, `uri`, `slug`, `clock` | small helpers |
//!
//! With `tls_dir` set (`--tls-dir DIR`) every listener serves HTTPS with a server certificate
//! for `127.0.0.1` and `localhost`, signed by a CA made at start and written to `DIR/ca.pem`;
//! the start-up line then shows `https://` addresses and `"ca_file"`, and keys' DSNs use https.
//! The main listener also answers proxy requests: absolute-form requests as if they were
//! addressed to it, and `CONNECT` to a loopback address as a tunnel.

mod app;
mod auth;
mod clock;
mod connection;
mod control;
mod endpoint;
mod envelope;
mod envelope_ingest;
mod event;
mod event_normalize;
mod faults;
mod ingest;
mod mgmt;
mod otlp;
mod paging;
mod payload;
mod quota;
mod records;
mod release_environment;
mod reply;
mod server;
mod slug;
mod state;
mod tls;
mod trace_metric;
mod triage;
mod uri;
mod views;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use app::{App, Settings};
use server::Role;
use state::Org;

/// How to start the stand-in (the command line, or a test).
#[derive(Debug, Clone)]
pub struct Config {
    /// Management API, control API, and ingest unless `ingest_listen` is set.
    pub listen: SocketAddr,
    /// A second listener serving only ingest, under `ingest_path_prefix`.
    pub ingest_listen: Option<SocketAddr>,
    pub ingest_path_prefix: String,
    pub org: String,
    pub team: String,
    pub token: String,
    pub projects: Vec<String>,
    pub page_size: usize,
    /// Whether keys' DSNs carry `otlp_traces` / `otlp_logs`.
    pub otlp_dsn: bool,
    pub quiet: bool,
    /// Serve HTTPS, with a CA made at start and written to `DIR/ca.pem`.
    pub tls_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ingest_listen: None,
            ingest_path_prefix: String::new(),
            org: "acme".into(),
            team: "backend".into(),
            token: "standin-token".into(),
            projects: vec!["frontend".into(), "backend".into(), "payments".into()],
            page_size: 100,
            otlp_dsn: true,
            quiet: false,
            tls_dir: None,
        }
    }
}

/// Why the stand-in could not start.
#[derive(Debug)]
pub enum StartError {
    Config(String),
    Bind(SocketAddr, std::io::Error),
    Tls(String),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "invalid configuration: {e}"),
            StartError::Bind(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            StartError::Tls(e) => write!(f, "--tls-dir: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

impl Config {
    /// The ingest path prefix as used in routes: empty or `/x[/y]`, no trailing `/`.
    fn prefix(&self) -> Result<String, StartError> {
        let p = self.ingest_path_prefix.trim_matches('/');
        if p.is_empty() {
            return Ok(String::new());
        }
        if self.ingest_listen.is_none() {
            return Err(StartError::Config(
                "--ingest-path-prefix needs --ingest-listen".into(),
            ));
        }
        let ok = p
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b));
        if !ok || p.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(StartError::Config(format!(
                "ingest path prefix {:?} is not a plain path",
                self.ingest_path_prefix
            )));
        }
        Ok(format!("/{p}"))
    }

    fn validate(&self) -> Result<(), StartError> {
        for addr in std::iter::once(&self.listen).chain(&self.ingest_listen) {
            if !addr.ip().is_loopback() {
                return Err(StartError::Config(format!(
                    "{addr} is not a loopback address: the stand-in listens on loopback only"
                )));
            }
        }
        if self.page_size == 0 {
            return Err(StartError::Config("page size must be at least 1".into()));
        }
        if self.token.is_empty() {
            return Err(StartError::Config("the token must not be empty".into()));
        }
        Ok(())
    }
}

/// A started stand-in. Dropping it stops accepting connections.
#[derive(Debug)]
pub struct Running {
    /// `http[s]://127.0.0.1:PORT` of the management and control API.
    pub api: String,
    /// `http[s]://127.0.0.1:PORT[/prefix]` where ingest is served.
    pub ingest: String,
    pub org: String,
    pub team: String,
    pub token: String,
    /// With TLS: the CA certificate (PEM) that signed the server certificate.
    pub ca_file: Option<PathBuf>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// The one JSON line printed at start, from which tests learn the ports.
    pub fn startup_line(&self) -> String {
        let mut line = serde_json::json!({
            "api": self.api,
            "ingest": self.ingest,
            "org": self.org,
            "team": self.team,
            "token": self.token,
        });
        if let Some(ca) = &self.ca_file {
            line["ca_file"] = ca.display().to_string().into();
        }
        line.to_string()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Binds the listeners and serves in background tasks of the current tokio runtime.
pub async fn start(config: Config) -> Result<Running, StartError> {
    config.validate()?;
    let prefix = config.prefix()?;
    let org = Org::new(&config.org, &config.team, &config.projects).map_err(StartError::Config)?;
    let tls = match &config.tls_dir {
        Some(dir) => Some(tls::setup(dir).map_err(StartError::Tls)?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };

    let main = bind(config.listen).await?;
    let main_addr = local_addr(&main, config.listen)?;
    let ingest = match config.ingest_listen {
        Some(addr) => {
            let l = bind(addr).await?;
            let a = local_addr(&l, addr)?;
            Some((l, a))
        }
        None => None,
    };

    let settings = Settings {
        token: config.token.clone(),
        page_size: config.page_size,
        otlp_dsn: config.otlp_dsn,
        quiet: config.quiet,
        scheme,
        api_base: format!("{scheme}://{main_addr}"),
        ingest_host: ingest.as_ref().map_or(main_addr, |(_, a)| *a).to_string(),
        ingest_prefix: prefix.clone(),
    };
    let api = settings.api_base.clone();
    let ingest_base = settings.ingest_base();
    let app = Arc::new(App::new(settings, org));

    let acceptor = tls.as_ref().map(|t| t.acceptor.clone());
    let mut tasks = vec![tokio::spawn(server::serve(
        main,
        app.clone(),
        Role::Main {
            ingest: ingest.is_none(),
        },
        acceptor.clone(),
    ))];
    if let Some((listener, _)) = ingest {
        tasks.push(tokio::spawn(server::serve(
            listener,
            app,
            Role::Ingest { prefix },
            acceptor,
        )));
    }
    Ok(Running {
        api,
        ingest: ingest_base,
        org: config.org,
        team: config.team,
        token: config.token,
        ca_file: tls.map(|t| t.ca_file),
        tasks,
    })
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Bind(addr, e))
}

fn local_addr(l: &TcpListener, asked: SocketAddr) -> Result<SocketAddr, StartError> {
    l.local_addr().map_err(|e| StartError::Bind(asked, e))
}
