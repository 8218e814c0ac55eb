//! Sentry's management API: the calls the exporter makes and their answers.

mod client;
pub mod models;
// Public for the fuzz targets (rust/fuzz).
#[doc(hidden)]
pub mod paging;

pub use client::{MgmtClient, MgmtError};
