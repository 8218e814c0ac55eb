//! A project's ingest endpoint, taken from its first active client key:
//! `dsn.otlp_traces` / `dsn.otlp_logs` when present, else derived from
//! `dsn.public` keeping scheme, host, port and path prefix (self-hosted Sentry). Envelopes
//! always go to the DSN's `/api/{project_id}/envelope/`. [`from_dsn`] derives the same from a
//! DSN alone (the legacy `dsn` setting).

use url::Url;

use crate::mgmt::models::ProjectKey;
use crate::signal::OtlpSignal;

/// `sentry_client` of the auth header.
const CLIENT: &str = concat!("otelcol-sentry/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestEndpoint {
    pub project_id: u64,
    pub public_key: String,
    pub traces_url: Url,
    pub logs_url: Url,
    /// `/api/{project_id}/envelope/`, for error events and trace metrics.
    pub envelope_url: Url,
}

impl IngestEndpoint {
    pub fn url(&self, signal: OtlpSignal) -> &Url {
        match signal {
            OtlpSignal::Traces => &self.traces_url,
            OtlpSignal::Logs => &self.logs_url,
        }
    }

    /// The `X-Sentry-Auth` header value of every request to the project, OTLP or envelope:
    /// its public key, the protocol version and the client, as Sentry's SDKs send it.
    pub fn auth_header(&self) -> String {
        format!(
            "Sentry sentry_key={}, sentry_version=7, sentry_client={CLIENT}",
            self.public_key
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsnError {
    #[error("the project has no active client key")]
    NoActiveKey,
    #[error("DSN is not a URL: {0}")]
    NotAUrl(String),
    #[error("DSN has no public key")]
    NoPublicKey,
    #[error("DSN path does not end in a project id")]
    NoProjectId,
    #[error("{field} is not a valid http(s) URL")]
    BadOtlpUrl { field: &'static str },
}

/// The endpoint of the first active key.
pub fn from_keys(keys: &[ProjectKey]) -> Result<IngestEndpoint, DsnError> {
    let key = keys
        .iter()
        .find(|k| k.is_active)
        .ok_or(DsnError::NoActiveKey)?;
    from_key(key)
}

/// The endpoint of a DSN alone (the legacy `dsn` setting): every URL derived from it, the
/// public key and project id taken from it.
pub fn from_dsn(dsn: &str) -> Result<IngestEndpoint, DsnError> {
    derive(dsn, None, None)
}

fn from_key(key: &ProjectKey) -> Result<IngestEndpoint, DsnError> {
    let mut endpoint = derive(&key.dsn.public, key.public.as_deref(), key.project_id)?;
    if let Some(url) = given("dsn.otlp_traces", &key.dsn.otlp_traces)? {
        endpoint.traces_url = url;
    }
    if let Some(url) = given("dsn.otlp_logs", &key.dsn.otlp_logs)? {
        endpoint.logs_url = url;
    }
    Ok(endpoint)
}

/// Every URL derived from `dsn` keeping its scheme, host, port and path prefix. `public_key`
/// and `project_id`, when given, are the key's own (else taken from the DSN).
fn derive(
    dsn: &str,
    public_key: Option<&str>,
    project_id: Option<u64>,
) -> Result<IngestEndpoint, DsnError> {
    let dsn = Url::parse(dsn).map_err(|e| DsnError::NotAUrl(e.to_string()))?;
    // The ingest URLs derived from it keep its scheme: only http(s), which
    // always has a host, makes usable ones.
    if !matches!(dsn.scheme(), "http" | "https") {
        return Err(DsnError::NotAUrl(format!(
            "scheme {:?} is not http or https",
            dsn.scheme()
        )));
    }
    let public_key = public_key
        .filter(|k| !k.is_empty())
        .or_else(|| Some(dsn.username()).filter(|u| !u.is_empty()))
        .ok_or(DsnError::NoPublicKey)?
        .to_owned();
    let mut segments: Vec<&str> = dsn
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let project_id = segments
        .pop()
        .and_then(|id| id.parse::<u64>().ok())
        .or(project_id)
        .ok_or(DsnError::NoProjectId)?;

    let derived = |path: &str| -> Url {
        let mut url = dsn.clone();
        // The DSN's user part is the key; ingest URLs carry it in a header instead.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        url.set_fragment(None);
        let prefix: String = segments.iter().map(|s| format!("/{s}")).collect();
        url.set_path(&format!("{prefix}/api/{project_id}/{path}/"));
        url
    };
    Ok(IngestEndpoint {
        project_id,
        traces_url: derived("integration/otlp/v1/traces"),
        logs_url: derived("integration/otlp/v1/logs"),
        envelope_url: derived("envelope"),
        public_key,
    })
}

/// A URL the key states itself, when it states one.
fn given(field: &'static str, value: &Option<String>) -> Result<Option<Url>, DsnError> {
    match value.as_deref().filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => Url::parse(v)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .map(Some)
            .ok_or(DsnError::BadOtlpUrl { field }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mgmt::models::KeyDsn;

    fn key(public_dsn: &str, traces: Option<&str>, logs: Option<&str>, active: bool) -> ProjectKey {
        ProjectKey {
            public: Some("0123456789abcdef0123456789abcdef".into()),
            project_id: Some(42),
            is_active: active,
            dsn: KeyDsn {
                public: public_dsn.into(),
                otlp_traces: traces.map(Into::into),
                otlp_logs: logs.map(Into::into),
            },
        }
    }

    #[test]
    fn derives_urls_keeping_scheme_host_port_and_path_prefix() {
        let cases = [
            (
                "https://abc@o1.ingest.sentry.io/42",
                "https://o1.ingest.sentry.io/api/42/integration/otlp/v1/traces/",
            ),
            (
                "http://abc@127.0.0.1:9000/42",
                "http://127.0.0.1:9000/api/42/integration/otlp/v1/traces/",
            ),
            (
                "http://abc@sentry.internal:8443/sentry/eu/42",
                "http://sentry.internal:8443/sentry/eu/api/42/integration/otlp/v1/traces/",
            ),
            (
                "https://abc:secret@sentry.example.com/7/",
                "https://sentry.example.com/api/7/integration/otlp/v1/traces/",
            ),
        ];
        for (dsn, want) in cases {
            let endpoint = from_keys(&[key(dsn, None, None, true)]).unwrap();
            assert_eq!(endpoint.traces_url.as_str(), want, "dsn {dsn}");
            assert_eq!(
                endpoint.logs_url.as_str(),
                want.replace("/traces/", "/logs/"),
                "dsn {dsn}"
            );
            assert_eq!(
                endpoint.envelope_url.as_str(),
                want.replace("/integration/otlp/v1/traces/", "/envelope/"),
                "dsn {dsn}"
            );
        }
    }

    #[test]
    fn prefers_the_keys_otlp_urls() {
        let endpoint = from_keys(&[key(
            "https://abc@o1.ingest.sentry.io/42",
            Some("http://127.0.0.1:7000/sentry/api/42/integration/otlp/v1/traces"),
            Some("http://127.0.0.1:7000/sentry/api/42/integration/otlp/v1/logs"),
            true,
        )])
        .unwrap();
        assert_eq!(
            endpoint.url(OtlpSignal::Traces).as_str(),
            "http://127.0.0.1:7000/sentry/api/42/integration/otlp/v1/traces"
        );
        assert_eq!(
            endpoint.url(OtlpSignal::Logs).as_str(),
            "http://127.0.0.1:7000/sentry/api/42/integration/otlp/v1/logs"
        );
        assert_eq!(endpoint.project_id, 42);
        assert_eq!(endpoint.public_key, "0123456789abcdef0123456789abcdef");
    }

    #[test]
    fn takes_the_first_active_key() {
        let keys = [
            key("https://inactive@h/1", None, None, false),
            key("https://k@h/2", None, None, true),
            key("https://k@h/3", None, None, true),
        ];
        assert_eq!(from_keys(&keys).unwrap().project_id, 2);
        assert_eq!(from_keys(&keys[..1]), Err(DsnError::NoActiveKey));
        assert_eq!(from_keys(&[]), Err(DsnError::NoActiveKey));
    }

    #[test]
    fn rejects_dsns_that_are_not_http() {
        // Found by the dsn fuzz target: the derived ingest URLs kept the scheme.
        for dsn in [
            "httpq://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/42",
            "ftp://k@h/1",
            "file:///1",
            "mailto:k@h/1",
        ] {
            assert!(
                matches!(
                    from_keys(&[key(dsn, None, None, true)]),
                    Err(DsnError::NotAUrl(_))
                ),
                "{dsn}"
            );
        }
    }

    #[test]
    fn rejects_unusable_dsns() {
        let mut no_id = key("https://k@h/", None, None, true);
        no_id.project_id = None;
        assert_eq!(from_keys(&[no_id]), Err(DsnError::NoProjectId));
        assert!(matches!(
            from_keys(&[key("not a url", None, None, true)]),
            Err(DsnError::NotAUrl(_))
        ));
        assert_eq!(
            from_keys(&[key("https://k@h/1", Some("file:///etc/passwd"), None, true)]),
            Err(DsnError::BadOtlpUrl {
                field: "dsn.otlp_traces"
            })
        );
    }

    #[test]
    fn a_dsn_alone_makes_the_same_endpoint() {
        let cases = [
            "https://abc@o1.ingest.sentry.io/42",
            "http://abc@127.0.0.1:9000/42",
            "http://abc@sentry.internal:8443/sentry/eu/42",
            "https://abc:secret@sentry.example.com/7/",
        ];
        for dsn in cases {
            let mut keyed = key(dsn, None, None, true);
            keyed.public = None;
            keyed.project_id = None;
            assert_eq!(from_dsn(dsn), from_keys(&[keyed]), "dsn {dsn}");
            let endpoint = from_dsn(dsn).unwrap();
            assert_eq!(endpoint.public_key, "abc", "dsn {dsn}");
        }
        assert_eq!(from_dsn("https://abc@host/42").unwrap().project_id, 42);
    }

    #[test]
    fn rejects_dsns_that_cannot_be_used_alone() {
        let cases = [
            ("https://host/42", DsnError::NoPublicKey),
            ("https://abc@host/", DsnError::NoProjectId),
            ("https://abc@host/sentry", DsnError::NoProjectId),
        ];
        for (dsn, want) in cases {
            assert_eq!(from_dsn(dsn), Err(want), "dsn {dsn}");
        }
        for dsn in [
            "",
            "key@host/42",
            "ftp://abc@host/42",
            "https://your-secret-dsn.com",
        ] {
            assert!(from_dsn(dsn).is_err(), "dsn {dsn}");
        }
    }
}
