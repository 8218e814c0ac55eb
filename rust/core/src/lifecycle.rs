//! The exporter's lifecycle: created from config, started (the tokio runtime
//! it owns is built), used for exports from many threads at once, shut down
//! within a bound. Exports during or after shutdown are refused cleanly.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::watch;

use crate::clock::Instant;
use crate::config::{Config, ConfigError};
use crate::deadline::Deadline;
use crate::exporter::{Exporter, MemoryFull, RouteError, Routing};
use crate::http::ClientError;
use crate::log::Logger;
use crate::signal::Signal;
use crate::slug::Slug;
use crate::sync::locked;
use crate::tally::ExportOutcome;
use crate::wire::WireError;

/// The bound of an export called without a timeout, and of any longer one the host asks for.
const NO_TIMEOUT: Duration = Duration::from_secs(86_400);

/// `after` from `now`; a duration from the host (up to `u64::MAX` ms) is capped at
/// [`NO_TIMEOUT`] so that the instant cannot overflow.
fn later_by(now: Instant, after: Duration) -> Instant {
    now + after.min(NO_TIMEOUT)
}

/// Shutdown waits this long for exports in flight and background work.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("invalid configuration: {0}")]
    Client(#[from] ClientError),
    #[error("the exporter is not started")]
    NotStarted,
    #[error("the exporter is shut down")]
    ShutDown,
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the request is not a valid OTLP protobuf message: {0}")]
    InvalidRequest(#[from] WireError),
    #[error("{0}")]
    MemoryFull(#[from] MemoryFull),
    #[error("the request to route does not match its item counts: {0}")]
    ItemCounts(RouteError),
}

enum State {
    Created,
    Running {
        runtime: Runtime,
        stop: watch::Sender<bool>,
    },
    ShutDown,
}

pub struct Core {
    exporter: Arc<Exporter>,
    state: Mutex<State>,
    /// When every export must end because the host is stopping (see [`Core::begin_shutdown`]).
    stop_at: watch::Sender<Option<Instant>>,
    in_flight: Arc<(Mutex<usize>, Condvar)>,
}

/// Counts an export in flight until dropped.
struct InFlight(Arc<(Mutex<usize>, Condvar)>);

impl InFlight {
    fn enter(counter: &Arc<(Mutex<usize>, Condvar)>) -> InFlight {
        *locked(&counter.0) += 1;
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let (count, changed) = &*self.0;
        *locked(count) -= 1;
        changed.notify_all();
    }
}

/// How a started export ended: its outcome, or the payload of a panic inside it.
pub type Finished = std::thread::Result<Result<ExportOutcome, CoreError>>;

/// The `done` of [`Core::spawn_export`], called once: by the export, or on drop when the
/// runtime drops the export unfinished (shut down past its bound), so the host never waits
/// for an answer that cannot come.
struct DoneOnce<D: FnOnce(Finished)>(Option<D>);

impl<D: FnOnce(Finished)> DoneOnce<D> {
    fn call(&mut self, finished: Finished) {
        if let Some(done) = self.0.take() {
            done(finished);
        }
    }
}

impl<D: FnOnce(Finished)> Drop for DoneOnce<D> {
    fn drop(&mut self) {
        self.call(Ok(Err(CoreError::ShutDown)));
    }
}

impl Core {
    pub fn new(config_json: &[u8], logger: Logger) -> Result<Core, CoreError> {
        let config = Config::from_json(config_json)?;
        let exporter = Exporter::new(&config, logger)?;
        Ok(Core {
            exporter: Arc::new(exporter),
            state: Mutex::new(State::Created),
            stop_at: watch::Sender::new(None),
            in_flight: Arc::new((Mutex::new(0), Condvar::new())),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        locked(&self.state)
    }

    /// Builds the runtime. Starting twice is a no-op; after shutdown it fails.
    pub fn start(&self) -> Result<(), CoreError> {
        let mut state = self.state();
        match *state {
            State::Running { .. } => Ok(()),
            State::ShutDown => Err(CoreError::ShutDown),
            State::Created => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(
                        std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
                    )
                    .thread_name("sentry-exporter")
                    .on_thread_start(crate::sigpipe::block_on_this_thread)
                    .enable_all()
                    .build()
                    .map_err(CoreError::Runtime)?;
                let (stop, _) = watch::channel(false);
                runtime.spawn(self.exporter.background());
                runtime.spawn(self.exporter.clone().retry_kept(self.stop_at.subscribe()));
                runtime.spawn(self.exporter.clone().flush_warnings_every_interval());
                *state = State::Running { runtime, stop };
                Ok(())
            }
        }
    }

    /// Exports one batch, blocking the calling (non-runtime) thread.
    pub fn export(
        &self,
        signal: Signal,
        request: &[u8],
        timeout: Option<Duration>,
    ) -> Result<ExportOutcome, CoreError> {
        let (handle, work) = self.export_work(signal, request, timeout)?;
        handle.block_on(work)
    }

    /// Starts exporting one batch on the runtime and returns at once: the host's thread does
    /// not wait inside the core (a Go thread blocked in a C call is an OS thread held per
    /// export in flight).
    /// `done` is called exactly once, on a runtime thread, with the outcome or the payload of
    /// a panic inside the export; also when the runtime stops first (then with
    /// [`CoreError::ShutDown`]). On an error here nothing started and `done` is not called.
    pub fn spawn_export<R, D>(
        &self,
        signal: Signal,
        request: R,
        timeout: Option<Duration>,
        done: D,
    ) -> Result<(), CoreError>
    where
        R: AsRef<[u8]> + Send + 'static,
        D: FnOnce(Finished) + Send + 'static,
    {
        let (handle, work) = self.export_work(signal, request, timeout)?;
        let mut done = DoneOnce(Some(done));
        handle.spawn(async move {
            let finished = AssertUnwindSafe(work).catch_unwind().await;
            done.call(finished);
        });
        Ok(())
    }

    /// The runtime and the work of one export, or why it cannot start.
    fn export_work<R: AsRef<[u8]> + Send>(
        &self,
        signal: Signal,
        request: R,
        timeout: Option<Duration>,
    ) -> Result<
        (
            Handle,
            impl Future<Output = Result<ExportOutcome, CoreError>> + Send,
        ),
        CoreError,
    > {
        let (handle, mut stopped, in_flight) = match &*self.state() {
            State::Created => return Err(CoreError::NotStarted),
            State::ShutDown => return Err(CoreError::ShutDown),
            State::Running { runtime, stop } => (
                runtime.handle().clone(),
                stop.subscribe(),
                InFlight::enter(&self.in_flight),
            ),
        };
        self.exporter.memory_for_export()?;
        let exporter = self.exporter.clone();
        let stop_at = self.stop_at.subscribe();
        let work = async move {
            let _in_flight = in_flight;
            let request = request.as_ref();
            // Test-only hook (feature `fault-injection`, absent from release builds): a panic
            // with the export counted in flight, outside the per-project work, so that only the
            // C boundary catches it. The bytes are no OTLP message (field 12, wire type 6): a
            // release build answers them as an invalid request.
            #[cfg(feature = "fault-injection")]
            if request == b"fault-injection-panic" {
                panic!("injected panic (fault-injection) in Core::export");
            }
            let clock = exporter.clock();
            let own = later_by(clock.now(), timeout.unwrap_or(NO_TIMEOUT));
            let deadline = Deadline::new(own, stop_at, clock);
            tokio::select! {
                biased;
                _ = stopped.wait_for(|stop| *stop) => Err(CoreError::ShutDown),
                outcome = exporter.export(signal, request, &deadline) => Ok(outcome?),
            }
        };
        Ok((handle, work))
    }

    /// Where each resource of `request` goes, sending nothing (see [`Exporter::route`]).
    pub fn route(
        &self,
        signal: Signal,
        request: &[u8],
        items: &[u64],
    ) -> Result<Routing, CoreError> {
        match &*self.state() {
            State::Created => return Err(CoreError::NotStarted),
            State::ShutDown => return Err(CoreError::ShutDown),
            State::Running { .. } => {}
        }
        self.exporter
            .route(signal, request, items)
            .map_err(|e| match e {
                RouteError::Wire(e) => CoreError::InvalidRequest(e),
                counts @ RouteError::ItemCounts { .. } => CoreError::ItemCounts(counts),
            })
    }

    /// Keeps the queues the host holds from before a restart (see [`Exporter::restore_queues`]).
    pub fn restore_queues(&self, slugs: &[Slug]) -> Vec<Slug> {
        self.exporter.restore_queues(slugs)
    }

    /// The core's logger (see [`Exporter::logger`]).
    pub fn logger(&self) -> &Logger {
        self.exporter.logger()
    }

    /// Projects whose ingest endpoint is known.
    pub fn known_projects(&self) -> usize {
        self.exporter.known_projects()
    }

    /// Projects this exporter created.
    pub fn created_projects(&self) -> u64 {
        self.exporter.created_projects()
    }

    /// The exporter's counters as JSON (see `telemetry::Telemetry::snapshot`).
    pub fn telemetry_json(&self) -> String {
        self.exporter.telemetry().to_string()
    }

    /// What keeps Sentry from being used now; `None` when all is well (see [`Exporter::health_problem`]).
    pub fn health_problem(&self) -> Option<String> {
        self.exporter.health_problem()
    }

    /// The host is stopping: exports in flight and later ones end by `grace` from now, and
    /// hand back what they could not send by then. Sentry may not answer at all, and the host
    /// drains its queue through these exports before it calls [`Core::shutdown`]: without
    /// this bound each queued batch would wait its whole timeout. Never extends an earlier call.
    pub fn begin_shutdown(&self, grace: Duration) {
        let at = later_by(self.exporter.clock().now(), grace);
        self.stop_at.send_if_modified(|stop_at| match stop_at {
            Some(earlier) if *earlier <= at => false,
            _ => {
                *stop_at = Some(at);
                true
            }
        });
    }

    /// Stops background work and exports in flight, within [`SHUTDOWN_BOUND`].
    /// Safe to call twice or before start.
    pub fn shutdown(&self) {
        let previous = std::mem::replace(&mut *self.state(), State::ShutDown);
        let State::Running { runtime, stop } = previous else {
            return;
        };
        stop.send_replace(true);
        self.exporter.abandon_kept();
        let (count, changed) = &*self.in_flight;
        let count = locked(count);
        let _ = changed
            .wait_timeout_while(count, SHUTDOWN_BOUND, |n| *n > 0)
            .map_err(|e| e.into_inner());
        runtime.shutdown_timeout(SHUTDOWN_BOUND);
        self.exporter.flush_warnings();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_is_called_once_and_on_drop_when_never_called() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorder = |calls: &Arc<Mutex<Vec<String>>>| {
            let calls = calls.clone();
            move |finished: Finished| {
                let seen = match finished {
                    Ok(Ok(outcome)) => format!("sent {}", outcome.sent),
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "panicked".to_owned(),
                };
                locked(&calls).push(seen);
            }
        };
        let mut done = DoneOnce(Some(recorder(&calls)));
        done.call(Ok(Ok(ExportOutcome::default())));
        drop(done);
        drop(DoneOnce(Some(recorder(&calls))));
        assert_eq!(
            *locked(&calls),
            ["sent 0", "the exporter is shut down"],
            "the first is called once (not again on drop), the second on its drop"
        );
    }

    #[test]
    fn any_duration_from_the_host_makes_an_instant() {
        let now = Instant::now();
        let table = [
            (Duration::from_secs(5), Duration::from_secs(5)),
            (NO_TIMEOUT, NO_TIMEOUT),
            (Duration::from_millis(u64::MAX), NO_TIMEOUT),
            (Duration::MAX, NO_TIMEOUT),
        ];
        for (after, want) in table {
            assert_eq!(later_by(now, after), now + want, "{after:?}");
        }
    }
}
