//! The core of the `sentry` exporter: routes OTLP traces and logs to one Sentry
//! project per service, finding each project's ingest endpoint through the
//! management API, and sends them. Pure Rust; the C ABI lives in another crate.
//!
//! Data path of one batch ([`exporter`]):
//! [`routing`] (split by resource attribute, [`slug`]) →
//! [`endpoints`] (cache of [`endpoint`]s looked up through [`mgmt`]) →
//! [`send`] (one POST per project) → [`exporter::ExportOutcome`].
//! A missing project is created by [`autocreate`] when allowed, once [`org`] has told it
//! from a missing organization; at start every project's endpoint is preloaded. An export
//! ends by its [`deadline`]; [`health`] keeps what stops Sentry from being used, by cause;
//! [`redact`] cleans every text handed out. [`service`] owns the runtime and the lifecycle.

pub mod autocreate;
pub mod clock;
mod compress;
pub mod config;
pub mod deadline;
pub mod endpoint;
pub mod endpoints;
pub mod exporter;
pub mod health;
pub mod heap;
mod http;
pub mod ingest;
pub mod job;
pub mod log;
mod lookups;
pub mod mgmt;
pub mod org;
pub mod outcome;
mod preload;
pub mod ratelimit;
pub mod redact;
mod resolve;
pub mod routing;
pub mod service;
pub mod signal;
mod sigpipe;
pub mod slug;
mod split;
pub mod tally;
pub mod telemetry;
// Public only for the fuzz targets (rust/fuzz): the router's error type.
#[doc(hidden)]
pub mod wire;

#[cfg(any(test, feature = "testdata"))]
#[doc(hidden)]
pub mod testdata;

pub use config::{Config, ConfigError};
pub use log::{Level, Logger};
pub use service::{Service, ServiceError};
pub use signal::Signal;
pub use tally::ExportOutcome;
