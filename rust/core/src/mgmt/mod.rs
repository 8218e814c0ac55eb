//! Sentry's management API: the calls the exporter makes and their answers.

mod client;
pub mod models;
// Public for the fuzz targets (rust/fuzz).
#[doc(hidden)]
pub mod paging;
#[cfg(test)]
pub mod scripted;

pub use client::{failure, MgmtClient, MgmtError, RateLimitHeaders};

use futures_util::future::BoxFuture;

use crate::slug::Slug;
use models::{Project, ProjectKey};

/// The auth token. Never printed: `Debug` and `Display` redact it.
#[derive(Clone)]
pub struct AuthToken(String);

impl AuthToken {
    pub fn new(token: String) -> AuthToken {
        AuthToken(token)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// The port to Sentry's management API: what the core asks of it, nothing about HTTP.
pub trait Management: Send + Sync + 'static {
    /// A project's active client keys; [`MgmtError::NotFound`] when there is no such project.
    fn project_keys<'a>(
        &'a self,
        slug: &'a Slug,
    ) -> BoxFuture<'a, Result<Vec<ProjectKey>, MgmtError>>;
    /// `Ok` when the organization exists.
    fn organization(&self) -> BoxFuture<'_, Result<(), MgmtError>>;
    /// Every project of the organization.
    fn projects(&self) -> BoxFuture<'_, Result<Vec<Project>, MgmtError>>;
    /// Every client key of the organization.
    fn org_project_keys(&self) -> BoxFuture<'_, Result<Vec<ProjectKey>, MgmtError>>;
    /// The organization's first team, to own created projects.
    fn first_team(&self) -> BoxFuture<'_, Result<Option<Slug>, MgmtError>>;
    /// Creates `slug` in `team`, a project of `platform` (one Sentry accepts, see
    /// [`crate::platform`]); [`MgmtError::Conflict`] when it exists already.
    fn create_project<'a>(
        &'a self,
        team: &'a Slug,
        slug: &'a Slug,
        platform: &'a str,
    ) -> BoxFuture<'a, Result<(), MgmtError>>;
}
