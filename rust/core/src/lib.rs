//! The core of the `sentry` exporter: routes OTLP traces, logs and metrics to one Sentry project
//! per service, finding each project's ingest endpoint through the management API, and sends
//! them: traces and logs to Sentry's OTLP ingest, error events made of their exceptions and
//! trace metrics made of the metrics in envelopes. Pure Rust; the C ABI lives in another crate.
//!
//! Data path of one batch, driven by [`exporter`]: [`prepare`] (the legacy environment, and
//! [`utf8`] replacing invalid UTF-8 in spans and log records, which Sentry would refuse a whole
//! request for) → [`routing`] (split by resource attribute, [`slug`]) → per project, every
//! [`payload`] that takes the batch's signal: [`forward`] (spans and log records as they are),
//! [`issues`] (one Sentry error event per exception), [`trace_metrics`] (metrics as trace
//! metric items). Each makes [`job`]s of the project's part (the pure state machine that
//! decides everything about a piece), which the [`driver`] runs against the ports:
//! [`resolve`] ([`endpoint_cache`], [`mgmt`], [`org`]), [`autocreate`], and an [`ingest`]
//! transport (OTLP, or Sentry envelopes) whose answers [`ingest::answer`] reads; the payload
//! settles their [`outcome`]s, and [`tally`] counts them into [`telemetry`], [`health`] and the
//! batch's [`ExportOutcome`].
//!
//! Around it: [`ratelimit`] (Sentry's limits), [`deadline`] (when an export must end),
//! [`clock`] (every time read and sleep), [`preload`] (every endpoint at start), [`redact`]
//! (secrets out of every text handed out), [`lifecycle`] (the runtime, start and shutdown),
//! [`memory`] (no new export while the core's heap is over its limit), [`config`] (the
//! settings of every module, validated).
//!
//! The legacy `dsn` mode ([`config::Destination::Dsn`]) keeps this path: the router sends every
//! resource to one project, whose endpoint [`resolve::EndpointSource::Fixed`] answers at once
//! (no management API); [`environment`] adds the legacy `environment` to the resources.
//!
//! Modules point one way: the payloads depend on the driver's parts, the transport and
//! telemetry, never the reverse; `scripts/structure.py` (`make check`) fails on an import
//! circle.

pub mod autocreate;
pub mod cap;
pub mod clock;
// Public only for the benchmarks of exceptions and metrics (rust/core/benches), which
// compress as the exporter does.
#[doc(hidden)]
pub mod compress;
pub mod config;
mod cut;
pub mod deadline;
pub mod driver;
pub mod endpoint_cache;
pub mod environment;
pub mod exporter;
pub mod forward;
pub mod health;
pub mod heap;
mod http;
pub mod ingest;
pub mod issues;
pub mod job;
mod json_len;
pub mod lifecycle;
pub mod log;
mod lookups;
pub mod memory;
pub mod mgmt;
pub mod org;
pub mod otlp_messages;
pub mod outcome;
pub mod payload;
pub mod platform;
pub mod preload;
pub mod prepare;
pub mod queues;
pub mod ratelimit;
pub mod redact;
pub mod release;
pub mod resolve;
pub mod routing;
pub mod signal;
mod sigpipe;
pub mod slug;
mod split;
mod sync;
pub mod tally;
pub mod telemetry;
pub mod trace_metrics;
pub mod utf8;
// Public only for the fuzz targets (rust/fuzz): the router's error type.
#[doc(hidden)]
pub mod wire;

#[cfg(any(test, feature = "testdata"))]
#[doc(hidden)]
pub mod testdata;

pub use config::{Config, ConfigError};
pub use exporter::Routing;
pub use lifecycle::{Core, CoreError};
pub use log::{Field, FieldValue, Level, Logger};
pub use signal::Signal;
pub use tally::ExportOutcome;
