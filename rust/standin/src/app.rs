//! What every handler shares: the settings fixed at start and the mutable state.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::faults::Faults;
use crate::records::Records;
use crate::state::Org;

/// Fixed at start, after the listeners are bound.
#[derive(Debug, Clone)]
pub struct Settings {
    pub token: String,
    pub page_size: usize,
    /// Whether keys' DSNs carry `otlp_traces` / `otlp_logs`.
    pub otlp_dsn: bool,
    pub quiet: bool,
    /// `http`, or `https` with `--tls-dir`.
    pub scheme: &'static str,
    /// `http[s]://127.0.0.1:PORT` of the main listener.
    pub api_base: String,
    /// `127.0.0.1:PORT` of the listener that serves ingest.
    pub ingest_host: String,
    /// Path prefix of the ingest routes: empty or `/something` (no trailing `/`).
    pub ingest_prefix: String,
}

impl Settings {
    /// `http[s]://127.0.0.1:PORT[/prefix]`: where ingest is served.
    pub fn ingest_base(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme, self.ingest_host, self.ingest_prefix
        )
    }
}

/// Everything that changes while the stand-in runs.
#[derive(Debug)]
pub struct State {
    pub org: Org,
    pub records: Records,
    pub faults: Faults,
}

#[derive(Debug)]
pub struct App {
    pub settings: Settings,
    state: Mutex<State>,
    /// Requests a `hang` rule holds right now.
    hanging: AtomicUsize,
}

/// One request held by a `hang` rule; counted while it lives.
#[derive(Debug)]
pub struct HeldRequest<'a> {
    app: &'a App,
}

impl Drop for HeldRequest<'_> {
    fn drop(&mut self) {
        self.app.hanging.fetch_sub(1, Ordering::Relaxed);
    }
}

impl App {
    pub fn new(settings: Settings, org: Org) -> App {
        let records = Records::new(&org);
        App {
            settings,
            state: Mutex::new(State {
                org,
                records,
                faults: Faults::default(),
            }),
            hanging: AtomicUsize::new(0),
        }
    }

    /// Counts a request as held until the returned guard is dropped (its client went away).
    pub fn hold_request(&self) -> HeldRequest<'_> {
        self.hanging.fetch_add(1, Ordering::Relaxed);
        HeldRequest { app: self }
    }

    /// How many requests `hang` rules hold right now.
    pub fn requests_hanging(&self) -> usize {
        self.hanging.load(Ordering::Relaxed)
    }

    /// The state; a handler that panicked while holding it does not poison it for the others.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One human line on stdout, flushed; nothing when quiet. Write errors (a closed pipe)
    /// are ignored: the stand-in keeps serving.
    pub fn say(&self, line: &str) {
        if self.settings.quiet {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "standin: {line}");
        let _ = out.flush();
    }
}
