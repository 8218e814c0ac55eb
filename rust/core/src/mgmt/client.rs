//! HTTP calls to `{url}/api/0/...` with the org auth token. Every slug enters a
//! URL as one percent-escaped path segment; lists are followed page by page.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;

use reqwest::header::LINK;
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use url::Url;

use super::models::{Project, ProjectKey, Team};
use super::paging::next_cursor;
use super::AuthToken;
use super::Management;
use crate::clock::Clock;
use crate::health::{CallFailure, ManagementFailure, Seen};
use crate::http::{body_text, describe, read_capped};
use crate::ratelimit::management_delay;
use crate::slug::Slug;
use crate::telemetry::Telemetry;

/// Management answers larger than this are cut, and then fail to parse.
const MAX_BODY: usize = 4 << 20;
/// Pages followed in one list at most (100 items each on sentry.io).
pub const MAX_PAGES: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MgmtError {
    #[error("not found")]
    NotFound,
    #[error("the project already exists")]
    Conflict,
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
    #[error("management API list did not end after {MAX_PAGES} pages")]
    TooManyPages,
    #[error("management API answer larger than {} MiB", MAX_BODY >> 20)]
    BodyTooLarge,
}

impl ManagementFailure for MgmtError {
    fn failure(&self) -> CallFailure {
        match self {
            MgmtError::NotFound | MgmtError::Conflict | MgmtError::RateLimited { .. } => {
                CallFailure::Answered
            }
            MgmtError::Unauthorized { .. } => CallFailure::TokenRefused,
            MgmtError::Status { .. }
            | MgmtError::Transport(_)
            | MgmtError::BadBody(_)
            | MgmtError::TooManyPages
            | MgmtError::BodyTooLarge => CallFailure::Unreachable,
        }
    }
}

impl MgmtError {
    /// The result label of a failed call.
    fn label(&self) -> &'static str {
        match self {
            MgmtError::NotFound => "not_found",
            MgmtError::Conflict => "conflict",
            MgmtError::Unauthorized { .. } => "unauthorized",
            MgmtError::RateLimited { .. } => "rate_limited",
            MgmtError::Status { status, .. } if *status >= 500 => "server_error",
            MgmtError::Status { .. } => "client_error",
            MgmtError::Transport(_) => "unreachable",
            MgmtError::BadBody(_) => "bad_answer",
            MgmtError::TooManyPages => "too_many_pages",
            MgmtError::BodyTooLarge => "too_large",
        }
    }

    /// The delay the API asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            MgmtError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

pub struct MgmtClient {
    http: reqwest::Client,
    telemetry: Arc<Telemetry>,
    clock: Arc<dyn Clock>,
    /// `{url}/api/0`
    api: String,
    org: Slug,
    token: AuthToken,
}

/// One answer: its body, and the next page's cursor.
struct Page<T> {
    body: T,
    next: Option<String>,
}

impl MgmtClient {
    pub fn new(
        http: reqwest::Client,
        url: &Url,
        org: Slug,
        token: AuthToken,
        telemetry: Arc<Telemetry>,
        clock: Arc<dyn Clock>,
    ) -> MgmtClient {
        MgmtClient {
            http,
            telemetry,
            clock,
            api: format!("{}/api/0", url.as_str().trim_end_matches('/')),
            org,
            token,
        }
    }

    /// `GET /api/0/projects/{org}/{slug}/keys/`, active keys only, all pages.
    pub async fn project_keys(&self, slug: &Slug) -> Result<Vec<ProjectKey>, MgmtError> {
        let url = format!(
            "{}/projects/{}/{}/keys/?status=active",
            self.api,
            self.org.path_segment(),
            slug.path_segment()
        );
        self.list_all("project_keys", &url).await
    }

    /// `GET /api/0/organizations/{org}/`: `Ok` when the organization exists.
    pub async fn organization(&self) -> Result<(), MgmtError> {
        let url = format!("{}/organizations/{}/", self.api, self.org.path_segment());
        self.get::<serde::de::IgnoredAny>("organization", &url, None)
            .await
            .map(|_| ())
    }

    /// `GET /api/0/organizations/{org}/projects/`, all pages.
    pub async fn projects(&self) -> Result<Vec<Project>, MgmtError> {
        let url = format!(
            "{}/organizations/{}/projects/",
            self.api,
            self.org.path_segment()
        );
        self.list_all("projects", &url).await
    }

    /// `GET /api/0/organizations/{org}/project-keys/`, all pages.
    pub async fn org_project_keys(&self) -> Result<Vec<ProjectKey>, MgmtError> {
        let url = format!(
            "{}/organizations/{}/project-keys/",
            self.api,
            self.org.path_segment()
        );
        self.list_all("organization_project_keys", &url).await
    }

    /// The first team of `GET /api/0/organizations/{org}/teams/`.
    pub async fn first_team(&self) -> Result<Option<Slug>, MgmtError> {
        let url = format!(
            "{}/organizations/{}/teams/",
            self.api,
            self.org.path_segment()
        );
        let teams: Vec<Team> = self.get("teams", &url, None).await?.body;
        Ok(teams.iter().find_map(|t| Slug::parse(&t.slug).ok()))
    }

    /// `POST /api/0/teams/{org}/{team}/projects/`; 409 is `MgmtError::Conflict`.
    pub async fn create_project(
        &self,
        team: &Slug,
        slug: &Slug,
        platform: &str,
    ) -> Result<(), MgmtError> {
        let url = format!(
            "{}/teams/{}/{}/projects/",
            self.api,
            self.org.path_segment(),
            team.path_segment()
        );
        let body =
            serde_json::json!({"name": slug.as_str(), "slug": slug.as_str(), "platform": platform});
        let request = self.http.post(&url).json(&body);
        self.call::<serde::de::IgnoredAny>("create_project", request)
            .await
            .map(|_| ())
    }

    /// Follows `rel="next"` while there are results, asking the same URL with
    /// the new cursor; stops on a cursor seen before.
    async fn list_all<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        url: &str,
    ) -> Result<Vec<T>, MgmtError> {
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        let mut cursor = None;
        for _ in 0..MAX_PAGES {
            let page: Page<Vec<T>> = self.get(endpoint, url, cursor.as_deref()).await?;
            items.extend(page.body);
            match page.next {
                Some(next) if seen.insert(next.clone()) => cursor = Some(next),
                _ => return Ok(items),
            }
        }
        Err(MgmtError::TooManyPages)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        url: &str,
        cursor: Option<&str>,
    ) -> Result<Page<T>, MgmtError> {
        let mut request = self.http.get(url);
        if let Some(cursor) = cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        self.call(endpoint, request).await
    }

    /// One call, counted under `endpoint` with how it ended.
    async fn call<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Page<T>, MgmtError> {
        let result = self.send(request).await;
        let label = result.as_ref().map_or_else(MgmtError::label, |_| "ok");
        self.telemetry.mgmt_call(endpoint, label);
        let ended = result
            .as_ref()
            .map(|_| ())
            .map_err(|e| e as &dyn ManagementFailure);
        self.telemetry.health().saw(Seen::Management(ended));
        result
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Page<T>, MgmtError> {
        let response = request
            .bearer_auth(self.token.expose())
            .send()
            .await
            .map_err(|e| MgmtError::Transport(describe(e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_capped(response, MAX_BODY)
            .await
            .map_err(|e| MgmtError::Transport(describe(e)))?;
        if body.truncated {
            return Err(MgmtError::BodyTooLarge);
        }
        let body = body.bytes;
        if !status.is_success() {
            let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
            let limit = RateLimitHeaders {
                reset: header("x-sentry-rate-limit-reset"),
                retry_after: header("retry-after"),
            };
            return Err(failure(status, &limit, &body, self.clock.wall()));
        }
        Ok(Page {
            body: serde_json::from_slice(&body).map_err(|e| MgmtError::BadBody(e.to_string()))?,
            next: headers
                .get(LINK)
                .and_then(|l| l.to_str().ok())
                .and_then(next_cursor),
        })
    }
}

impl Management for MgmtClient {
    fn project_keys<'a>(
        &'a self,
        slug: &'a Slug,
    ) -> BoxFuture<'a, Result<Vec<ProjectKey>, MgmtError>> {
        Box::pin(MgmtClient::project_keys(self, slug))
    }

    fn organization(&self) -> BoxFuture<'_, Result<(), MgmtError>> {
        Box::pin(MgmtClient::organization(self))
    }

    fn projects(&self) -> BoxFuture<'_, Result<Vec<Project>, MgmtError>> {
        Box::pin(MgmtClient::projects(self))
    }

    fn org_project_keys(&self) -> BoxFuture<'_, Result<Vec<ProjectKey>, MgmtError>> {
        Box::pin(MgmtClient::org_project_keys(self))
    }

    fn first_team(&self) -> BoxFuture<'_, Result<Option<Slug>, MgmtError>> {
        Box::pin(MgmtClient::first_team(self))
    }

    fn create_project<'a>(
        &'a self,
        team: &'a Slug,
        slug: &'a Slug,
        platform: &'a str,
    ) -> BoxFuture<'a, Result<(), MgmtError>> {
        Box::pin(MgmtClient::create_project(self, team, slug, platform))
    }
}

/// The rate-limit headers of a management answer, as received.
#[derive(Debug, Default, Clone, Copy)]
pub struct RateLimitHeaders<'a> {
    pub reset: Option<&'a str>,
    pub retry_after: Option<&'a str>,
}

/// What a management answer other than 2xx means.
pub fn failure(
    status: StatusCode,
    limit: &RateLimitHeaders<'_>,
    body: &[u8],
    wall_now: SystemTime,
) -> MgmtError {
    match status {
        StatusCode::NOT_FOUND => MgmtError::NotFound,
        StatusCode::CONFLICT => MgmtError::Conflict,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => MgmtError::Unauthorized {
            status: status.as_u16(),
        },
        StatusCode::TOO_MANY_REQUESTS => MgmtError::RateLimited {
            retry_after: management_delay(limit.reset, limit.retry_after, wall_now),
        },
        _ => MgmtError::Status {
            status: status.as_u16(),
            message: body_text(body),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_labels_tell_client_errors_from_server_errors() {
        let status = |status| MgmtError::Status {
            status,
            message: String::new(),
        };
        let table = [
            (status(400), "client_error"),
            (status(418), "client_error"),
            (status(500), "server_error"),
            (status(503), "server_error"),
            (MgmtError::Unauthorized { status: 403 }, "unauthorized"),
            (MgmtError::NotFound, "not_found"),
        ];
        for (error, label) in table {
            assert_eq!(error.label(), label, "{error:?}");
        }
    }
    const PROJECTS: &str = "/api/0/organizations/acme/projects/";

    /// The stand-in with three projects, one to a page, and these fault rules; a client of it
    /// whose requests time out after `timeout`.
    async fn standin(
        rules: serde_json::Value,
        timeout: Duration,
    ) -> (sentry_standin::Running, MgmtClient) {
        let running = sentry_standin::start(sentry_standin::Config {
            projects: vec!["a".into(), "b".into(), "c".into()],
            page_size: 1,
            quiet: true,
            ..Default::default()
        })
        .await
        .unwrap();
        let http = reqwest::Client::builder().timeout(timeout).build().unwrap();
        let added = http
            .post(format!("{}/_standin/faults", running.api))
            .json(&rules)
            .send()
            .await
            .unwrap();
        assert!(added.status().is_success(), "{}", added.status());
        let client = MgmtClient::new(
            http,
            &Url::parse(&running.api).unwrap(),
            Slug::parse(&running.org).unwrap(),
            AuthToken::new(running.token.clone()),
            Arc::default(),
            Arc::new(crate::clock::TokioClock::new()),
        );
        (running, client)
    }

    /// How many pages of the projects list the stand-in was asked for.
    async fn pages_asked(running: &sentry_standin::Running) -> usize {
        let records: serde_json::Value = reqwest::get(format!("{}/_standin/records", running.api))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        records["mgmt_requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["path"].as_str().unwrap().starts_with(PROJECTS))
            .count()
    }

    #[tokio::test]
    async fn a_repeated_cursor_ends_the_list() {
        // Every page links to the same next page, on another host.
        let link = r#"<http://elsewhere.example/x>; rel="next"; results="true"; cursor="1:1:0""#;
        let (running, client) = standin(
            serde_json::json!({"target": "mgmt", "path_contains": PROJECTS, "headers": {"link": link}}),
            Duration::from_secs(30),
        )
        .await;
        let projects = client.projects().await.unwrap();
        assert_eq!(projects.len(), 2);
        // Both pages were asked of the stand-in, never of the Link header's host.
        assert_eq!(pages_asked(&running).await, 2);
    }

    #[tokio::test]
    async fn an_endless_list_stops_at_the_page_limit() {
        let (running, client) = standin(
            serde_json::json!({"target": "mgmt", "path_contains": PROJECTS, "endless_link": true}),
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(
            client.projects().await.unwrap_err(),
            MgmtError::TooManyPages
        );
        assert_eq!(pages_asked(&running).await, MAX_PAGES);
    }

    #[tokio::test]
    async fn an_endless_body_is_refused_after_the_cap_not_read_to_the_end() {
        // A 1 GiB answer, made while it is sent.
        let (_running, client) = standin(
            serde_json::json!({"target": "mgmt", "path_contains": PROJECTS, "body_bytes": 1u64 << 30}),
            Duration::from_secs(30),
        )
        .await;
        let error = client.projects().await.unwrap_err();
        assert_eq!(error, MgmtError::BodyTooLarge);
        assert_eq!(error.to_string(), "management API answer larger than 4 MiB");
    }

    #[tokio::test]
    async fn a_body_that_trickles_in_is_cut_by_the_request_timeout() {
        // Slow loris: the headers at once, then a byte every 100 ms.
        let (_running, client) = standin(
            serde_json::json!({"target": "mgmt", "path_contains": PROJECTS,
                "body_bytes": 1u64 << 20, "trickle_ms": 100}),
            Duration::from_millis(500),
        )
        .await;
        let started = std::time::Instant::now();
        let error = client.projects().await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(
            matches!(&error, MgmtError::Transport(m) if m.contains("timed out")),
            "{error}"
        );
    }

    #[tokio::test]
    async fn transport_errors_name_their_cause() {
        // Nothing listens on the port of a listener just dropped.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = MgmtClient::new(
            reqwest::Client::new(),
            &Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
            Slug::parse("acme").unwrap(),
            AuthToken::new("t".into()),
            Arc::default(),
            Arc::new(crate::clock::TokioClock::new()),
        );
        let error = client.projects().await.unwrap_err().to_string();
        assert!(error.contains("Connection refused"), "{error}");
        assert!(
            !error.contains("127.0.0.1"),
            "no URL in the message: {error}"
        );
    }
}
