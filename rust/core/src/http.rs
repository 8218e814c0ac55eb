//! The one HTTP client the core uses for the management API and ingest, built
//! from the `http` settings, and reading of response bodies up to a cap.

use std::fs;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::log::Logger;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::compress::Compression;

#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key, both or neither.
    pub client_identity: Option<(PathBuf, PathBuf)>,
    pub insecure_skip_verify: bool,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub timeout: Duration,
    pub compression: Compression,
    pub tls: TlsConfig,
    pub proxy_url: Option<Url>,
    pub headers: Vec<(String, String)>,
}

pub const USER_AGENT: &str = concat!("otelcol-sentry-exporter/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("http.tls.{field}: cannot read {path:?}: {source}")]
    ReadFile {
        field: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("http.tls.{field}: {path:?} holds no usable PEM: {message}")]
    BadPem {
        field: &'static str,
        path: String,
        message: String,
    },
    #[error("http.proxy_url: {0}")]
    Proxy(String),
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

fn read(field: &'static str, path: &std::path::Path) -> Result<Vec<u8>, ClientError> {
    fs::read(path).map_err(|source| ClientError::ReadFile {
        field,
        path: path.display().to_string(),
        source,
    })
}

pub fn build_client(config: &HttpConfig, logger: &Logger) -> Result<reqwest::Client, ClientError> {
    let mut headers = HeaderMap::new();
    for (name, value) in &config.headers {
        // Both were checked when the config was validated.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .default_headers(headers)
        .timeout(config.timeout)
        .use_rustls_tls();
    if let Some(path) = &config.tls.ca_file {
        let pem = read("ca_file", path)?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::BadPem {
                field: "ca_file",
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some((cert, key)) = &config.tls.client_identity {
        let mut pem = read("cert_file", cert)?;
        pem.extend_from_slice(&read("key_file", key)?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|e| ClientError::BadPem {
            field: "cert_file",
            path: cert.display().to_string(),
            message: e.to_string(),
        })?;
        builder = builder.identity(identity);
    }
    if config.tls.insecure_skip_verify {
        logger
            .warn("http.tls.insecure_skip_verify is on: Sentry's TLS certificate is not verified");
        builder = builder.danger_accept_invalid_certs(true);
    }
    if let Some(proxy) = &config.proxy_url {
        let proxy =
            reqwest::Proxy::all(proxy.as_str()).map_err(|e| ClientError::Proxy(e.to_string()))?;
        builder = builder.proxy(proxy);
    }
    builder
        .build()
        .map_err(|e| ClientError::Build(e.to_string()))
}

/// A response body read up to a cap.
#[derive(Debug, PartialEq, Eq)]
pub struct CappedBody {
    pub bytes: Vec<u8>,
    /// The body went on past the cap; the rest was not read.
    pub truncated: bool,
}

/// Reads at most `cap` bytes of a response body; the rest is not read, so a
/// hostile or broken server cannot make us hold more.
pub async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<CappedBody, reqwest::Error> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            return Ok(CappedBody {
                bytes,
                truncated: true,
            });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(CappedBody {
        bytes,
        truncated: false,
    })
}

/// A transport error with its causes (connection refused, certificate
/// unknown, ...), which reqwest's own message leaves out, and without the URL.
pub fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A response body for a log line: UTF-8 (lossy), trimmed, shortened.
pub fn body_text(body: &[u8]) -> String {
    const MAX: usize = 512;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}{}", &text[..at], crate::redact::CUT_MARK),
        None => text.to_owned(),
    }
}
