//! `sentry-standin`: the command line around the library. Prints one JSON line with the
//! addresses, then serves until SIGTERM or SIGINT.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use sentry_standin::{start, Config};

/// A local stand-in for Sentry: management API, OTLP ingest, records and faults.
#[derive(Debug, Parser)]
#[command(name = "sentry-standin", version, after_long_help = CONTROL_HELP)]
struct Cli {
    /// Address of the management, control and (without --ingest-listen) ingest API.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// A second listener serving only ingest; keys' DSNs then point at it.
    #[arg(long)]
    ingest_listen: Option<SocketAddr>,
    /// Path prefix of the ingest routes on --ingest-listen, e.g. /sentry.
    #[arg(long, default_value = "", requires = "ingest_listen")]
    ingest_path_prefix: String,
    /// Organization slug.
    #[arg(long, default_value = "acme")]
    org: String,
    /// Team slug.
    #[arg(long, default_value = "backend")]
    team: String,
    /// Bearer token the management API accepts.
    #[arg(long, default_value = "standin-token")]
    token: String,
    /// Projects that exist at start (ids from 1, in order), comma separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "frontend,backend,payments"
    )]
    projects: Vec<String>,
    /// Page size of every list endpoint.
    #[arg(long, default_value_t = 100)]
    page_size: usize,
    /// Leave `otlp_traces` / `otlp_logs` out of keys' DSNs.
    #[arg(long)]
    no_otlp_dsn: bool,
    /// Don't print a line per ingest request.
    #[arg(long)]
    quiet: bool,
    /// Serve HTTPS: make a CA and a certificate for 127.0.0.1 and localhost at start, write the
    /// CA to DIR/ca.pem (DIR is created if needed) and show it as "ca_file" in the start-up
    /// line; addresses and DSNs then use https://.
    #[arg(long, value_name = "DIR")]
    tls_dir: Option<PathBuf>,
}

/// The control API, shown by `--help`.
const CONTROL_HELP: &str = "\
Start-up line (first line on stdout, JSON):
  {\"api\", \"ingest\", \"org\", \"team\", \"token\"} and, with --tls-dir, \"ca_file\".

Control API on the main listener (no auth):
  GET  /_standin/health | /_standin/records[?ids=false]     POST /_standin/reset
  GET|POST|DELETE /_standin/faults                            (POST: one rule or an array)
  POST /_standin/projects/SLUG/delete | /_standin/keys/SLUG/revoke
  GET|POST /_standin/projects/SLUG/features   (POST {\"organizations:tracemetrics-ingestion\": false})

Fault rules, matched in order before normal handling:
  target            \"ingest\" or \"mgmt\" (required)
  project, signal   ingest only: project slug or id; \"traces\", \"logs\", \"envelope\" or \"metrics\"
  method, path_contains
  status, body, headers, delay_ms, drop_connection, max_body_bytes, times
  body_bytes: N     answer (status, default 200, JSON) with N filler bytes ('[' then spaces),
                    streamed, never held in memory: N may be 1 GiB or more
  trickle_ms: M     headers at once, then the body (body, body_bytes or the default) one byte
                    every M ms, until the client hangs up; status default 200
  endless_link      mgmt lists: the normal answer, but Link always has rel=\"next\";
                    results=\"true\" with a new cursor, so paging never ends
  delay_ms alone    the request is handled (data recorded) first, then answered late
  early_answer      answer status (default 413) when the head arrives, body unread, then
                    close (Connection: close); max_body_bytes compares Content-Length
  reset_mid_upload  read part of the body (half its length, at most 64 KiB), then TCP RST
  hang              never answer; ingest records the data first; held until the client leaves
  rate_limit        ingest: {\"categories\":[\"error\"],\"retry_after\":60,\"scope\":\"key\"} drops
                    items of those categories (none listed: all) and answers 429 with
                    X-Sentry-Rate-Limits, as relay does when a quota is exhausted
  e.g. {\"target\":\"mgmt\",\"path_contains\":\"/projects/\",\"body_bytes\":1073741824}
       {\"target\":\"ingest\",\"body\":\"{}\",\"trickle_ms\":1000}
       {\"target\":\"mgmt\",\"endless_link\":true}
       {\"target\":\"ingest\",\"project\":\"frontend\",\"early_answer\":true,\"status\":503}
       {\"target\":\"mgmt\",\"path_contains\":\"/projects/acme/slow-svc/keys/\",\"hang\":true}
       {\"target\":\"ingest\",\"signal\":\"envelope\",\"rate_limit\":{\"categories\":[\"error\"]}}

Proxy: the main listener serves absolute-form requests (http.proxy_url pointing at it) by their
path, and CONNECT to loopback addresses as a tunnel.";

impl From<Cli> for Config {
    fn from(c: Cli) -> Config {
        Config {
            listen: c.listen,
            ingest_listen: c.ingest_listen,
            ingest_path_prefix: c.ingest_path_prefix,
            org: c.org,
            team: c.team,
            token: c.token,
            projects: c.projects.into_iter().filter(|p| !p.is_empty()).collect(),
            page_size: c.page_size,
            otlp_dsn: !c.no_otlp_dsn,
            quiet: c.quiet,
            tls_dir: c.tls_dir,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::from(Cli::parse());
    // Handlers first: whoever reads the start-up line may signal at once, and
    // must not meet the default action (termination with a signal).
    let shutdown = match shutdown_signals() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sentry-standin: cannot wait for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let running = match start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sentry-standin: {e}");
            return ExitCode::FAILURE;
        }
    };
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", running.startup_line());
        let _ = out.flush();
    }
    shutdown.await;
    drop(running);
    ExitCode::SUCCESS
}

/// Registers SIGINT and SIGTERM handlers now; the future resolves on either.
fn shutdown_signals() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}
