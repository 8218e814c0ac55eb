//! The configuration the Go component hands over as JSON, and its validation.
//! Every rule lives here; each error names the YAML field it is about.

use std::collections::HashMap;

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::compress::Compression;
use crate::http::{HttpConfig, TlsConfig};
use crate::ingest::endpoint::{from_dsn, DsnError, IngestEndpoint};
use crate::issues::severity::{Severity, UnknownSeverity};
use crate::issues::ErrorsConfig;
use crate::mgmt::AuthToken;
use crate::routing::RoutingConfig;
use crate::slug::{Slug, SlugError};
use crate::trace_metrics::filter::{NameFilter, NamePattern};
use crate::trace_metrics::MetricsConfig;

/// The config as it arrives, before validation. Keys follow the YAML. Every key is required:
/// the Go component sends them all, with the defaults of `createDefaultConfig()`, the one place
/// defaults are set.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    dsn: String,
    environment: String,
    insecure_skip_verify: bool,
    url: String,
    org_slug: String,
    auth_token: String,
    auto_create_projects: bool,
    team: String,
    max_created_projects: i64,
    max_project_queues: i64,
    core_memory_limit_mib: i64,
    routing: RawRouting,
    http: RawHttp,
    errors: RawErrors,
    metrics: RawMetrics,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    include: Vec<String>,
    exclude: Vec<String>,
    max_items_per_minute: i64,
    max_series_mib: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawErrors {
    enabled: bool,
    from_logs: bool,
    from_error_spans: bool,
    min_log_severity: String,
    in_app_include: Vec<String>,
    max_per_minute: i64,
    max_retry_mib: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRouting {
    project_from_attribute: String,
    attribute_to_project_mapping: HashMap<String, String>,
    fallback_project: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    timeout_ms: i64,
    compression: String,
    tls: RawTls,
    proxy_url: String,
    headers: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    ca_file: String,
    cert_file: String,
    key_file: String,
    insecure_skip_verify: bool,
}

/// Where the data goes.
#[derive(Debug, Clone)]
pub enum Destination {
    /// One project per service, found (and created) through the management API.
    Organization(OrganizationConfig),
    /// The legacy `dsn` setting: every resource to that DSN's project, no management API.
    Dsn(IngestEndpoint),
}

#[derive(Debug, Clone)]
pub struct OrganizationConfig {
    /// Base URL of Sentry, without a trailing slash.
    pub url: Url,
    pub org_slug: Slug,
    pub auth_token: AuthToken,
    pub auto_create_projects: bool,
    pub team: Option<Slug>,
    pub max_created_projects: u32,
}

/// A validated configuration: every field holds a usable value.
#[derive(Debug, Clone)]
pub struct Config {
    pub destination: Destination,
    /// The default routing in `dsn` mode, where it is not used.
    pub routing: RoutingConfig,
    pub http: HttpConfig,
    /// The legacy `environment` setting: `deployment.environment.name` of every resource that
    /// states no environment.
    pub environment: Option<String>,
    pub errors: ErrorsConfig,
    pub metrics: MetricsConfig,
    /// Bytes the core's heap may hold before it takes no new export; `None`: a share of the
    /// memory the collector may use ([`crate::memory::CoreMemory`]).
    pub core_memory_limit: Option<u64>,
    /// Projects with a queue of their own in the host at most ([`crate::queues`]).
    pub max_project_queues: usize,
}

/// What is wrong with a config: the YAML field and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ConfigError {
    pub field: String,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("is required")]
    Missing,
    #[error("is not valid JSON for the core config: {0}")]
    Malformed(String),
    #[error("{0:?} is not a valid URL: {1}")]
    BadUrl(String, String),
    #[error("{0:?} must use http or https")]
    BadScheme(String),
    #[error("{0:?} has no host")]
    NoHost(String),
    #[error("{0:?} is not a valid slug: {1}")]
    BadSlug(String, SlugError),
    #[error("must not be negative, got {0}")]
    Negative(i64),
    #[error("must be greater than zero, got {0}")]
    NotPositive(i64),
    #[error("{0:?} is not supported; use gzip, zstd or none")]
    UnknownCompression(String),
    #[error("must not be empty")]
    EmptyKey,
    #[error("is set but {0} is not")]
    Unpaired(&'static str),
    #[error("{0:?} is not a valid HTTP header name")]
    BadHeaderName(String),
    #[error("the value is not a valid HTTP header value")]
    BadHeaderValue,
    #[error("holds {0} at position {1}, which an HTTP header cannot carry (a trailing newline?)")]
    UnsendableToken(String, usize),
    #[error("{0:?} has a query or fragment; give Sentry's base URL only")]
    UrlQuery(String),
    #[error("{0:?} points into Sentry's API ({1:?}); give Sentry's base URL only, e.g. https://sentry.io")]
    ApiPath(String, String),
    /// `dsn` set with a setting of the management API's mode.
    #[error("cannot be used with {0}")]
    DsnWith(&'static str),
    /// Never holds the DSN itself.
    #[error("{0}")]
    UnknownSeverity(UnknownSeverity),
    #[error("is not a usable DSN ({0}); give the project's DSN, e.g. https://key@o1.ingest.sentry.io/42")]
    BadDsn(DsnError),
}

fn error(field: impl Into<String>, problem: Problem) -> ConfigError {
    ConfigError {
        field: field.into(),
        problem,
    }
}

fn required(field: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        return Err(error(field, Problem::Missing));
    }
    Ok(())
}

fn slug(field: impl Into<String>, value: &str) -> Result<Slug, ConfigError> {
    Slug::parse(value).map_err(|e| error(field, Problem::BadSlug(value.to_owned(), e)))
}

fn optional_slug(field: &str, value: &str) -> Result<Option<Slug>, ConfigError> {
    (!value.is_empty()).then(|| slug(field, value)).transpose()
}

fn http_url(field: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value)
        .map_err(|e| error(field, Problem::BadUrl(value.into(), e.to_string())))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(error(field, Problem::BadScheme(value.into())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(error(field, Problem::NoHost(value.into())));
    }
    Ok(url)
}

/// The token goes into an `Authorization` header: visible ASCII only. The offending
/// character is named, never the token itself.
fn sendable_token(token: &str) -> Result<(), ConfigError> {
    match token
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_graphic())
    {
        Some((at, c)) => Err(error(
            "auth_token",
            Problem::UnsendableToken(format!("{:?}", c), at),
        )),
        None => Ok(()),
    }
}

/// Sentry's base URL: no query or fragment, and no path into its API (a path prefix of a
/// self-hosted install is fine). API URLs are built below it; a URL that already points
/// into the API makes every lookup answer 404.
fn base_url(value: &str) -> Result<Url, ConfigError> {
    let mut url = http_url("url", value)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(error("url", Problem::UrlQuery(value.into())));
    }
    let api_segment = url
        .path_segments()
        .into_iter()
        .flatten()
        .find(|segment| matches!(*segment, "api" | "organizations" | "projects"));
    if let Some(segment) = api_segment {
        return Err(error(
            "url",
            Problem::ApiPath(value.into(), format!("/{segment}/")),
        ));
    }
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

fn optional_path(value: &str) -> Option<PathBuf> {
    (!value.is_empty()).then(|| PathBuf::from(value))
}

impl Config {
    pub fn from_json(json: &[u8]) -> Result<Config, ConfigError> {
        let raw: RawConfig = serde_json::from_slice(json)
            .map_err(|e| error("config", Problem::Malformed(e.to_string())))?;
        raw.validate()
    }
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        let destination = match self.dsn.trim() {
            "" => Destination::Organization(self.organization()?),
            dsn => {
                self.dsn_alone()?;
                Destination::Dsn(from_dsn(dsn).map_err(|e| error("dsn", Problem::BadDsn(e)))?)
            }
        };
        let routing = match &destination {
            Destination::Organization(_) => self.routing.validate()?,
            // `dsn_alone` refused every routing setting: one project takes everything.
            Destination::Dsn(_) => RoutingConfig::default(),
        };
        let mut http = self.http.validate()?;
        // The legacy top-level key means the one of http.tls.
        http.tls.insecure_skip_verify |= self.insecure_skip_verify;
        Ok(Config {
            destination,
            routing,
            http,
            environment: Some(self.environment).filter(|e| !e.trim().is_empty()),
            errors: self.errors.validate()?,
            metrics: self.metrics.validate()?,
            core_memory_limit: core_memory_limit(self.core_memory_limit_mib)?,
            max_project_queues: usize::try_from(self.max_project_queues).map_err(|_| {
                error(
                    "max_project_queues",
                    Problem::Negative(self.max_project_queues),
                )
            })?,
        })
    }

    fn organization(&self) -> Result<OrganizationConfig, ConfigError> {
        required("url", &self.url)?;
        let url = base_url(self.url.trim())?;
        required("org_slug", &self.org_slug)?;
        let org_slug = slug("org_slug", &self.org_slug)?;
        required("auth_token", &self.auth_token)?;
        sendable_token(&self.auth_token)?;
        let team = optional_slug("team", &self.team)?;
        let max_created_projects = u32::try_from(self.max_created_projects).map_err(|_| {
            error(
                "max_created_projects",
                Problem::Negative(self.max_created_projects),
            )
        })?;
        Ok(OrganizationConfig {
            url,
            org_slug,
            auth_token: AuthToken::new(self.auth_token.clone()),
            auto_create_projects: self.auto_create_projects,
            team,
            max_created_projects,
        })
    }

    /// `dsn` names one project and needs no management API: a setting of the other mode
    /// beside it would be silently ignored, so it is refused.
    fn dsn_alone(&self) -> Result<(), ConfigError> {
        let routing = &self.routing;
        let others = [
            ("url", !self.url.trim().is_empty()),
            ("org_slug", !self.org_slug.trim().is_empty()),
            ("auth_token", !self.auth_token.trim().is_empty()),
            ("auto_create_projects", self.auto_create_projects),
            ("team", !self.team.is_empty()),
            // The Go component sends its default attribute as empty in this mode.
            (
                "routing.project_from_attribute",
                !routing.project_from_attribute.trim().is_empty(),
            ),
            (
                "routing.attribute_to_project_mapping",
                !routing.attribute_to_project_mapping.is_empty(),
            ),
            (
                "routing.fallback_project",
                !routing.fallback_project.is_empty(),
            ),
        ];
        match others.into_iter().find(|(_, set)| *set) {
            Some((other, _)) => Err(error("dsn", Problem::DsnWith(other))),
            None => Ok(()),
        }
    }
}

/// A bound of `mib` MiB, in bytes: more than zero.
fn mebibytes(field: &str, mib: i64) -> Result<usize, ConfigError> {
    usize::try_from(mib)
        .ok()
        .filter(|mib| *mib > 0)
        .and_then(|mib| mib.checked_mul(1 << 20))
        .ok_or_else(|| error(field, Problem::NotPositive(mib)))
}

/// `core_memory_limit_mib` in bytes; 0: `None`, the default share.
fn core_memory_limit(mib: i64) -> Result<Option<u64>, ConfigError> {
    let field = "core_memory_limit_mib";
    let mib = u64::try_from(mib).map_err(|_| error(field, Problem::Negative(mib)))?;
    Ok((mib > 0).then(|| mib.saturating_mul(1 << 20)))
}

impl RawRouting {
    fn validate(self) -> Result<RoutingConfig, ConfigError> {
        if self.project_from_attribute.trim().is_empty() {
            return Err(error("routing.project_from_attribute", Problem::EmptyKey));
        }
        let mut mapping = HashMap::with_capacity(self.attribute_to_project_mapping.len());
        for (value, project) in self.attribute_to_project_mapping {
            if value.is_empty() {
                return Err(error(
                    "routing.attribute_to_project_mapping",
                    Problem::EmptyKey,
                ));
            }
            let field = format!("routing.attribute_to_project_mapping[{value:?}]");
            mapping.insert(value, slug(field, &project)?);
        }
        Ok(RoutingConfig {
            project_from_attribute: self.project_from_attribute,
            attribute_to_project_mapping: mapping,
            fallback_project: optional_slug("routing.fallback_project", &self.fallback_project)?,
        })
    }
}

impl RawErrors {
    fn validate(self) -> Result<ErrorsConfig, ConfigError> {
        let max_per_minute = u32::try_from(self.max_per_minute).map_err(|_| {
            error(
                "errors.max_per_minute",
                Problem::Negative(self.max_per_minute),
            )
        })?;
        if self.in_app_include.iter().any(|p| p.trim().is_empty()) {
            return Err(error("errors.in_app_include", Problem::EmptyKey));
        }
        let max_retry_bytes = mebibytes("errors.max_retry_mib", self.max_retry_mib)?;
        let min_log_severity = Severity::parse(&self.min_log_severity)
            .map_err(|e| error("errors.min_log_severity", Problem::UnknownSeverity(e)))?;
        Ok(ErrorsConfig {
            enabled: self.enabled,
            from_logs: self.from_logs,
            from_error_spans: self.from_error_spans,
            min_log_severity,
            in_app_include: self.in_app_include,
            max_per_minute,
            max_retry_bytes,
        })
    }
}

impl RawMetrics {
    fn validate(self) -> Result<MetricsConfig, ConfigError> {
        let max_items_per_minute = u32::try_from(self.max_items_per_minute).map_err(|_| {
            error(
                "metrics.max_items_per_minute",
                Problem::Negative(self.max_items_per_minute),
            )
        })?;
        let patterns = |field: &str, patterns: Vec<String>| {
            if patterns.iter().any(|p| p.trim().is_empty()) {
                return Err(error(field, Problem::EmptyKey));
            }
            Ok(patterns.iter().map(|p| NamePattern::new(p)).collect())
        };
        Ok(MetricsConfig {
            names: NameFilter {
                include: patterns("metrics.include", self.include)?,
                exclude: patterns("metrics.exclude", self.exclude)?,
            },
            max_items_per_minute,
            max_series_bytes: mebibytes("metrics.max_series_mib", self.max_series_mib)?,
        })
    }
}

impl RawHttp {
    fn validate(self) -> Result<HttpConfig, ConfigError> {
        if self.timeout_ms <= 0 {
            return Err(error("http.timeout", Problem::NotPositive(self.timeout_ms)));
        }
        let compression = match self.compression.as_str() {
            "gzip" => Compression::Gzip,
            "zstd" => Compression::Zstd,
            "none" | "" => Compression::None,
            other => {
                return Err(error(
                    "http.compression",
                    Problem::UnknownCompression(other.into()),
                ))
            }
        };
        let proxy_url = (!self.proxy_url.is_empty())
            .then(|| http_url("http.proxy_url", &self.proxy_url))
            .transpose()?;
        let mut headers: Vec<(String, String)> = Vec::with_capacity(self.headers.len());
        for (name, value) in self.headers {
            reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| error("http.headers", Problem::BadHeaderName(name.clone())))?;
            reqwest::header::HeaderValue::from_str(&value)
                .map_err(|_| error(format!("http.headers[{name:?}]"), Problem::BadHeaderValue))?;
            headers.push((name, value));
        }
        headers.sort();
        Ok(HttpConfig {
            timeout: Duration::from_millis(self.timeout_ms.unsigned_abs()),
            compression,
            tls: self.tls.validate()?,
            proxy_url,
            headers,
        })
    }
}

impl RawTls {
    fn validate(self) -> Result<TlsConfig, ConfigError> {
        let client_identity = match (
            optional_path(&self.cert_file),
            optional_path(&self.key_file),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(error("http.tls.cert_file", Problem::Unpaired("key_file")))
            }
            (None, Some(_)) => {
                return Err(error("http.tls.key_file", Problem::Unpaired("cert_file")))
            }
        };
        Ok(TlsConfig {
            ca_file: optional_path(&self.ca_file),
            client_identity,
            insecure_skip_verify: self.insecure_skip_verify,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn base() -> Value {
        crate::testdata::config("https://sentry.example.com/", "tok")
    }

    fn with(path: &[&str], value: Value) -> Vec<u8> {
        let mut config = base();
        let mut at = &mut config;
        for key in &path[..path.len() - 1] {
            at = at
                .as_object_mut()
                .unwrap()
                .entry(key.to_string())
                .or_insert_with(|| json!({}));
        }
        at[path[path.len() - 1]] = value;
        serde_json::to_vec(&config).unwrap()
    }

    fn organization(config: &Config) -> &OrganizationConfig {
        match &config.destination {
            Destination::Organization(org) => org,
            Destination::Dsn(_) => panic!("dsn mode"),
        }
    }

    #[test]
    fn the_go_components_defaults_are_read() {
        let config = Config::from_json(&serde_json::to_vec(&base()).unwrap()).unwrap();
        assert_eq!(config.environment, None);
        assert_eq!(
            config.errors,
            ErrorsConfig {
                enabled: true,
                from_logs: true,
                from_error_spans: false,
                min_log_severity: Severity::Error,
                in_app_include: Vec::new(),
                max_per_minute: 600,
                max_retry_bytes: 64 << 20,
            }
        );
        assert!(!config.http.tls.insecure_skip_verify);
        let org = organization(&config);
        assert_eq!(org.url.as_str(), "https://sentry.example.com/");
        assert_eq!(org.org_slug.as_str(), "acme");
        assert!(!org.auto_create_projects);
        assert_eq!(org.team, None);
        assert_eq!(org.max_created_projects, 1000);
        assert_eq!(config.routing.project_from_attribute, "service.name");
        assert_eq!(config.routing.fallback_project, None);
        assert_eq!(config.http.timeout, Duration::from_secs(30));
        assert_eq!(config.http.compression, Compression::Gzip);
        assert_eq!(config.core_memory_limit, None);
        assert_eq!(format!("{:?}", org.auth_token), "[REDACTED]");
        let config = Config::from_json(&with(&["core_memory_limit_mib"], json!(256))).unwrap();
        assert_eq!(config.core_memory_limit, Some(256 << 20));
    }

    #[test]
    fn every_key_is_required_since_the_defaults_are_the_go_components() {
        for key in [
            "url",
            "max_created_projects",
            "core_memory_limit_mib",
            "max_project_queues",
            "routing",
            "http",
            "dsn",
            "environment",
            "insecure_skip_verify",
        ] {
            let mut config = base();
            config.as_object_mut().unwrap().remove(key);
            let err = Config::from_json(config.to_string().as_bytes()).unwrap_err();
            assert!(
                err.to_string().contains(&format!("missing field `{key}`")),
                "{err}"
            );
        }
        let mut config = base();
        config["http"].as_object_mut().unwrap().remove("timeout_ms");
        let err = Config::from_json(config.to_string().as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("missing field `timeout_ms`"),
            "{err}"
        );
    }

    #[test]
    fn url_keeps_its_path_prefix_without_trailing_slash() {
        let config =
            Config::from_json(&with(&["url"], json!("http://127.0.0.1:9000/sentry/"))).unwrap();
        assert_eq!(
            organization(&config).url.as_str(),
            "http://127.0.0.1:9000/sentry"
        );
    }

    #[test]
    fn every_invalid_field_is_named() {
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("missing url", with(&["url"], json!("")), "url: is required"),
            (
                "url without scheme",
                with(&["url"], json!("sentry.io")),
                "url: \"sentry.io\" is not a valid URL",
            ),
            (
                "url with other scheme",
                with(&["url"], json!("ftp://sentry.io")),
                "url: \"ftp://sentry.io\" must use http",
            ),
            (
                "missing org",
                with(&["org_slug"], json!("")),
                "org_slug: is required",
            ),
            (
                "negative error cap",
                with(&["errors", "max_per_minute"], json!(-1)),
                "errors.max_per_minute: must not be negative",
            ),
            (
                "no memory for events to retry",
                with(&["errors", "max_retry_mib"], json!(0)),
                "errors.max_retry_mib: must be greater than zero, got 0",
            ),
            (
                "no room for series",
                with(&["metrics", "max_series_mib"], json!(-3)),
                "metrics.max_series_mib: must be greater than zero, got -3",
            ),
            (
                "negative metrics cap",
                with(&["metrics", "max_items_per_minute"], json!(-1)),
                "metrics.max_items_per_minute: must not be negative",
            ),
            (
                "empty metric name pattern",
                with(&["metrics", "exclude"], json!([""])),
                "metrics.exclude: must not be empty",
            ),
            (
                "unknown log severity",
                with(&["errors", "min_log_severity"], json!("warning")),
                "errors.min_log_severity: \"warning\" is not a severity (one of trace, debug, info, warn, error, fatal)",
            ),
            (
                "empty in_app prefix",
                with(&["errors", "in_app_include"], json!(["app.", " "])),
                "errors.in_app_include: must not be empty",
            ),
            (
                "org not a slug",
                with(&["org_slug"], json!("My Org")),
                "org_slug: \"My Org\" is not a valid slug",
            ),
            (
                "missing token",
                with(&["auth_token"], json!(" ")),
                "auth_token: is required",
            ),
            (
                "token with a trailing newline",
                with(&["auth_token"], json!("sntrys_abc\n")),
                "auth_token: holds '\\n' at position 10, which an HTTP header cannot carry",
            ),
            (
                "token with a space inside",
                with(&["auth_token"], json!("Bearer sntrys_abc")),
                "auth_token: holds ' ' at position 6",
            ),
            (
                "url with a query",
                with(&["url"], json!("https://sentry.io/?x=1")),
                "url: \"https://sentry.io/?x=1\" has a query or fragment",
            ),
            (
                "url with a fragment",
                with(&["url"], json!("https://sentry.io/#top")),
                "url: \"https://sentry.io/#top\" has a query or fragment",
            ),
            (
                "url into the API",
                with(&["url"], json!("https://sentry.io/api/0/organizations/acme/projects/")),
                "url: \"https://sentry.io/api/0/organizations/acme/projects/\" points into Sentry's API (\"/api/\")",
            ),
            (
                "url with an organizations path",
                with(&["url"], json!("https://sentry.example.com/organizations/acme/")),
                "points into Sentry's API (\"/organizations/\")",
            ),
            (
                "team not a slug",
                with(&["team"], json!("Back End")),
                "team: \"Back End\" is not a valid slug",
            ),
            (
                "negative max",
                with(&["max_created_projects"], json!(-1)),
                "max_created_projects: must not be negative",
            ),
            (
                "negative project queues",
                with(&["max_project_queues"], json!(-1)),
                "max_project_queues: must not be negative",
            ),
            (
                "negative core memory",
                with(&["core_memory_limit_mib"], json!(-1)),
                "core_memory_limit_mib: must not be negative",
            ),
            (
                "empty attribute",
                with(&["routing", "project_from_attribute"], json!("")),
                "routing.project_from_attribute: must not be empty",
            ),
            (
                "mapping to bad slug",
                with(
                    &["routing", "attribute_to_project_mapping"],
                    json!({"orders": "Orders"}),
                ),
                "routing.attribute_to_project_mapping[\"orders\"]: \"Orders\" is not a valid slug",
            ),
            (
                "mapping to digits",
                with(
                    &["routing", "attribute_to_project_mapping"],
                    json!({"orders": "123"}),
                ),
                "must not be all digits",
            ),
            (
                "empty mapping key",
                with(
                    &["routing", "attribute_to_project_mapping"],
                    json!({"": "x"}),
                ),
                "routing.attribute_to_project_mapping: must not be empty",
            ),
            (
                "fallback not a slug",
                with(&["routing", "fallback_project"], json!("a/b")),
                "routing.fallback_project: \"a/b\" is not a valid slug",
            ),
            (
                "zero timeout",
                with(&["http", "timeout_ms"], json!(0)),
                "http.timeout: must be greater than zero",
            ),
            (
                "negative timeout",
                with(&["http", "timeout_ms"], json!(-5)),
                "http.timeout: must be greater than zero",
            ),
            (
                "unknown compression",
                with(&["http", "compression"], json!("lz5")),
                "http.compression: \"lz5\" is not supported",
            ),
            (
                "bad proxy",
                with(&["http", "proxy_url"], json!("not a url")),
                "http.proxy_url:",
            ),
            (
                "cert without key",
                with(&["http", "tls", "cert_file"], json!("/c.pem")),
                "http.tls.cert_file: is set but key_file is not",
            ),
            (
                "bad header",
                with(&["http", "headers"], json!({"bad header": "x"})),
                "http.headers: \"bad header\" is not a valid HTTP header name",
            ),
            (
                "unknown key",
                with(&["colour"], json!("red")),
                "config: is not valid JSON",
            ),
        ];
        for (name, json, want) in cases {
            let err = Config::from_json(&json).expect_err(name).to_string();
            assert!(
                err.contains(want),
                "{name}: {err:?} does not contain {want:?}"
            );
        }
    }

    #[test]
    fn token_never_appears_in_errors() {
        let json = with(&["org_slug"], json!("Bad Org"));
        let mut config: Value = serde_json::from_slice(&json).unwrap();
        config["auth_token"] = json!("sntrys_TOKEN_abc");
        let err = Config::from_json(&serde_json::to_vec(&config).unwrap()).unwrap_err();
        assert!(!err.to_string().contains("TOKEN"));
    }

    /// The legacy config: `dsn` and the Go component's defaults for the rest, as it sends
    /// them in this mode (the routing attribute empty).
    fn legacy(dsn: &str) -> Value {
        let mut config = base();
        for key in ["url", "org_slug", "auth_token"] {
            config[key] = json!("");
        }
        config["routing"]["project_from_attribute"] = json!("");
        config["dsn"] = json!(dsn);
        config
    }

    fn legacy_with(path: &[&str], value: Value) -> Vec<u8> {
        let mut config = legacy("https://abc@o1.ingest.sentry.io/42");
        let (last, parents) = path.split_last().unwrap();
        let mut at = &mut config;
        for key in parents {
            at = &mut at[*key];
        }
        at[*last] = value;
        serde_json::to_vec(&config).unwrap()
    }

    #[test]
    fn a_dsn_alone_sends_to_its_project() {
        let mut config = legacy("http://abc@127.0.0.1:9000/sentry/42");
        config["environment"] = json!("prod");
        config["insecure_skip_verify"] = json!(true);
        let config = Config::from_json(config.to_string().as_bytes()).unwrap();
        let Destination::Dsn(endpoint) = &config.destination else {
            panic!("not in dsn mode: {config:?}");
        };
        assert_eq!(endpoint.project_id, 42);
        assert_eq!(endpoint.public_key, "abc");
        assert_eq!(
            endpoint.traces_url.as_str(),
            "http://127.0.0.1:9000/sentry/api/42/integration/otlp/v1/traces/"
        );
        assert_eq!(config.environment.as_deref(), Some("prod"));
        assert!(
            config.http.tls.insecure_skip_verify,
            "the legacy key sets http.tls's"
        );
    }

    #[test]
    fn a_dsn_mixed_with_the_management_apis_settings_is_refused() {
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "url",
                legacy_with(&["url"], json!("https://sentry.io")),
                "dsn: cannot be used with url",
            ),
            (
                "org_slug",
                legacy_with(&["org_slug"], json!("acme")),
                "dsn: cannot be used with org_slug",
            ),
            (
                "auth_token",
                legacy_with(&["auth_token"], json!("sntrys_TOKEN")),
                "dsn: cannot be used with auth_token",
            ),
            (
                "auto_create_projects",
                legacy_with(&["auto_create_projects"], json!(true)),
                "dsn: cannot be used with auto_create_projects",
            ),
            (
                "team",
                legacy_with(&["team"], json!("backend")),
                "dsn: cannot be used with team",
            ),
            (
                "routing attribute",
                legacy_with(
                    &["routing", "project_from_attribute"],
                    json!("k8s.namespace.name"),
                ),
                "dsn: cannot be used with routing.project_from_attribute",
            ),
            (
                // The core knows no default: the Go component sends its own as empty here.
                "routing attribute of the organization mode's default",
                legacy_with(
                    &["routing", "project_from_attribute"],
                    json!("service.name"),
                ),
                "dsn: cannot be used with routing.project_from_attribute",
            ),
            (
                "routing mapping",
                legacy_with(
                    &["routing", "attribute_to_project_mapping"],
                    json!({"a": "b"}),
                ),
                "dsn: cannot be used with routing.attribute_to_project_mapping",
            ),
            (
                "routing fallback",
                legacy_with(&["routing", "fallback_project"], json!("catch-all")),
                "dsn: cannot be used with routing.fallback_project",
            ),
            (
                "no project id",
                legacy_with(&["dsn"], json!("https://abc@o1.ingest.sentry.io/")),
                "dsn: is not a usable DSN",
            ),
            (
                "no key",
                legacy_with(&["dsn"], json!("https://o1.ingest.sentry.io/42")),
                "dsn: is not a usable DSN",
            ),
            (
                "not a URL",
                legacy_with(&["dsn"], json!("abc@o1.ingest.sentry.io/42")),
                "dsn: is not a usable DSN",
            ),
            (
                "not http",
                legacy_with(&["dsn"], json!("ftp://abc@o1.ingest.sentry.io/42")),
                "dsn: is not a usable DSN",
            ),
            (
                "bad http beside it",
                legacy_with(&["http", "timeout_ms"], json!(0)),
                "http.timeout:",
            ),
        ];
        for (name, json, want) in cases {
            let err = Config::from_json(&json).expect_err(name).to_string();
            assert!(
                err.contains(want),
                "{name}: {err:?} does not contain {want:?}"
            );
            assert!(!err.contains("TOKEN"), "{name}: {err:?}");
        }
    }

    #[test]
    fn the_default_routing_and_max_created_projects_go_with_a_dsn() {
        let json = legacy_with(&["max_created_projects"], json!(5));
        assert!(matches!(
            Config::from_json(&json).unwrap().destination,
            Destination::Dsn(_)
        ));
    }
}
