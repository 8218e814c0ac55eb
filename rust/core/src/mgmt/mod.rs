//! Sentry's management API: the calls the exporter makes and their answers.

mod client;
pub mod models;
mod paging;

pub use client::{MgmtClient, MgmtError};
