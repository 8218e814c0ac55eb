//! HTTP calls to `{url}/api/0/...` with the org auth token. Every slug enters a
//! URL as one percent-escaped path segment.

use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use url::Url;

use super::models::ProjectKey;
use crate::config::AuthToken;
use crate::http::{body_text, read_capped, retry_after_seconds};
use crate::slug::Slug;

/// Management answers larger than this are cut, and then fail to parse.
const MAX_BODY: usize = 4 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MgmtError {
    #[error("not found")]
    NotFound,
    #[error("the auth token was refused ({status}): it needs the project:read scope (project:write and team:read to create projects)")]
    Unauthorized { status: u16 },
    #[error("rate limited by the management API")]
    RateLimited { retry_after: Option<Duration> },
    #[error("management API answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("management API unreachable: {0}")]
    Transport(String),
    #[error("management API answer not understood: {0}")]
    BadBody(String),
}

pub struct MgmtClient {
    http: reqwest::Client,
    /// `{url}/api/0`
    api: String,
    org: Slug,
    token: AuthToken,
}

impl MgmtClient {
    pub fn new(http: reqwest::Client, url: &Url, org: Slug, token: AuthToken) -> MgmtClient {
        MgmtClient {
            http,
            api: format!("{}/api/0", url.as_str().trim_end_matches('/')),
            org,
            token,
        }
    }

    /// `GET /api/0/projects/{org}/{slug}/keys/`, active keys only.
    pub async fn project_keys(&self, slug: &Slug) -> Result<Vec<ProjectKey>, MgmtError> {
        let url = format!(
            "{}/projects/{}/{}/keys/?status=active",
            self.api,
            self.org.path_segment(),
            slug.path_segment()
        );
        self.get_json(&url).await
    }

    async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, MgmtError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|e| MgmtError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        let retry_after = retry_after_seconds(response.headers());
        let body = read_capped(response, MAX_BODY)
            .await
            .map_err(|e| MgmtError::Transport(e.without_url().to_string()))?;
        match status {
            s if s.is_success() => {
                serde_json::from_slice(&body).map_err(|e| MgmtError::BadBody(e.to_string()))
            }
            StatusCode::NOT_FOUND => Err(MgmtError::NotFound),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(MgmtError::Unauthorized {
                status: status.as_u16(),
            }),
            StatusCode::TOO_MANY_REQUESTS => Err(MgmtError::RateLimited { retry_after }),
            _ => Err(MgmtError::Status {
                status: status.as_u16(),
                message: body_text(&body),
            }),
        }
    }
}
