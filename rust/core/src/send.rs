//! The only place that speaks HTTP to Sentry's OTLP ingest: one POST of one
//! project's request, and the answer turned into what to do with the data.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::StatusCode;

use crate::compress::compress;
use crate::config::Compression;
use crate::endpoint::IngestEndpoint;
use crate::health::Cause;
use crate::http::{body_text, describe, read_capped};
use crate::ratelimit::{parse_retry_after, LimitHeaders, RateLimits};
use crate::signal::{field, Signal};
use crate::telemetry::{DropReason, StatusClass, Telemetry};
use crate::wire::{fields, Value};

/// Ingest answers are read up to this size (SPEC 6).
const MAX_RESPONSE_BODY: usize = 64 << 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendResult {
    /// 2xx; `rejected` items were refused through OTLP `partial_success`.
    Accepted { rejected: u64, message: String },
    /// Sentry will never take this data (400, 415, 403 other than ProjectId, ...).
    Rejected {
        status: u16,
        message: String,
        reason: DropReason,
    },
    /// 413: the request is too large; smaller parts may pass.
    TooLarge,
    /// The key or project is no longer valid (401, 403 ProjectId): look up again.
    StaleEndpoint { status: u16, message: String },
    /// No answer within `http.timeout`: Sentry may hold the data already, so a retry may
    /// duplicate it.
    TimedOut { reason: String },
    /// Worth trying again later (429, 5xx, connection errors).
    Retry {
        reason: String,
        delay: Option<Duration>,
    },
}

pub struct IngestClient {
    http: reqwest::Client,
    compression: Compression,
    telemetry: Arc<Telemetry>,
}

impl IngestClient {
    pub fn new(
        http: reqwest::Client,
        compression: Compression,
        telemetry: Arc<Telemetry>,
    ) -> IngestClient {
        IngestClient {
            http,
            compression,
            telemetry,
        }
    }

    /// POSTs one request, and records the rate limits its answer announces.
    pub async fn send(
        &self,
        endpoint: &IngestEndpoint,
        signal: Signal,
        request: &[u8],
        limits: &RateLimits,
    ) -> SendResult {
        let body = match compress(self.compression, request) {
            Ok(body) => body,
            Err(e) => {
                return SendResult::Retry {
                    reason: format!("cannot compress the request: {e}"),
                    delay: None,
                }
            }
        };
        let mut post = self
            .http
            .post(endpoint.url(signal).clone())
            .header(CONTENT_TYPE, "application/x-protobuf")
            .header("X-Sentry-Auth", endpoint.auth_header())
            .body(body);
        if let Some(encoding) = self.compression.content_encoding() {
            post = post.header(CONTENT_ENCODING, encoding);
        }
        let response = match post.send().await {
            Ok(response) => response,
            Err(e) => {
                self.telemetry.ingest_request(StatusClass::NoAnswer);
                let result = transport_error(e);
                if let SendResult::Retry { reason, .. } | SendResult::TimedOut { reason } = &result
                {
                    self.telemetry
                        .health()
                        .fail(Cause::IngestUnreachable, format!("Sentry ingest: {reason}"));
                }
                return result;
            }
        };
        let status = response.status();
        let class = StatusClass::of(status.as_u16());
        self.telemetry.ingest_request(class);
        let health = self.telemetry.health();
        match status {
            s if s.is_success() => {
                health.recover(Cause::IngestUnreachable);
                health.recover(Cause::IngestNotFound);
            }
            StatusCode::NOT_FOUND => health.fail(
                Cause::IngestNotFound,
                format!(
                    "Sentry ingest answered 404 at {}: nothing is there to take the data",
                    endpoint.url(signal)
                ),
            ),
            s if s.is_server_error() => health.fail(
                Cause::IngestUnreachable,
                format!("Sentry ingest answered {status}"),
            ),
            _ => {}
        }
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
        let (now, wall_now) = (Instant::now(), SystemTime::now());
        limits.update(
            &endpoint.public_key,
            status.as_u16(),
            &LimitHeaders {
                x_sentry_rate_limits: header("x-sentry-rate-limits"),
                retry_after: header("retry-after"),
            },
            now,
            wall_now,
        );
        let delay = match status {
            StatusCode::TOO_MANY_REQUESTS => limits.remaining(&endpoint.public_key, signal, now),
            _ => header("retry-after").and_then(|v| parse_retry_after(v, wall_now)),
        };
        // Only messages are read from the body: a longer one is cut, not refused.
        let body = match read_capped(response, MAX_RESPONSE_BODY).await {
            Ok(body) => body.bytes,
            Err(e) if status.is_success() => {
                // The data was accepted; only the partial-success details are lost.
                return SendResult::Accepted {
                    rejected: 0,
                    message: format!("response body unreadable: {e}"),
                };
            }
            Err(e) => return transport_error(e),
        };
        classify(status, delay, &body)
    }
}

fn transport_error(e: reqwest::Error) -> SendResult {
    if e.is_timeout() {
        return SendResult::TimedOut {
            reason: format!("no answer within http.timeout: {}", describe(e)),
        };
    }
    SendResult::Retry {
        reason: format!("request failed: {}", describe(e)),
        delay: None,
    }
}

fn classify(status: StatusCode, delay: Option<Duration>, body: &[u8]) -> SendResult {
    let message = body_text(body);
    match status.as_u16() {
        200..=299 => {
            let (rejected, message) = partial_success(body);
            SendResult::Accepted { rejected, message }
        }
        401 => SendResult::StaleEndpoint {
            status: 401,
            message,
        },
        403 if message.contains("ProjectId") => SendResult::StaleEndpoint {
            status: 403,
            message,
        },
        413 => SendResult::TooLarge,
        429 => SendResult::Retry {
            reason: format!("rate limited (429): {message}"),
            delay,
        },
        // Ingest is not where the project's keys say (a proxy path, a wrong host): the data
        // is fine and waits for the address to be fixed.
        404 | 408 | 500..=599 => SendResult::Retry {
            reason: format!("Sentry answered {status}: {message}"),
            delay,
        },
        // Relay's `FeatureDisabled(OurLogsIngestion)`: the organization does not take logs.
        403 if message.contains("FeatureDisabled") => SendResult::Rejected {
            status: 403,
            message,
            reason: DropReason::FeatureDisabled,
        },
        status => SendResult::Rejected {
            status,
            message,
            reason: DropReason::Rejected,
        },
    }
}

/// `Export*ServiceResponse.partial_success`: rejected count and message.
fn partial_success(body: &[u8]) -> (u64, String) {
    let mut rejected = 0;
    let mut message = String::new();
    let partial = fields(body)
        .filter_map(Result::ok)
        .find(|f| f.number == field::PARTIAL_SUCCESS)
        .and_then(|f| f.bytes());
    for f in fields(partial.unwrap_or_default()).filter_map(Result::ok) {
        match (f.number, f.value) {
            (field::REJECTED, Value::Varint(n)) => rejected = n,
            (field::ERROR_MESSAGE, Value::Bytes(m)) => message = body_text(m),
            _ => {}
        }
    }
    (rejected, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_answers() {
        let s = |code| StatusCode::from_u16(code).unwrap();
        assert_eq!(
            classify(s(200), None, b""),
            SendResult::Accepted {
                rejected: 0,
                message: String::new()
            }
        );
        assert!(
            matches!(classify(s(400), None, b"bad"), SendResult::Rejected { status: 400, message, reason: DropReason::Rejected } if message == "bad")
        );
        assert!(matches!(
            classify(s(415), None, b""),
            SendResult::Rejected { status: 415, .. }
        ));
        assert_eq!(classify(s(413), None, b""), SendResult::TooLarge);
        assert!(matches!(
            classify(s(401), None, b""),
            SendResult::StaleEndpoint { status: 401, .. }
        ));
        let project_gone = br#"{"detail":"event submission rejected with_reason: ProjectId"}"#;
        assert!(matches!(
            classify(s(403), None, project_gone),
            SendResult::StaleEndpoint { status: 403, .. }
        ));
        let disabled = br#"{"detail":"event submission rejected with_reason: FeatureDisabled(OurLogsIngestion)"}"#;
        assert!(matches!(
            classify(s(403), None, disabled),
            SendResult::Rejected {
                status: 403,
                reason: DropReason::FeatureDisabled,
                ..
            }
        ));
        let delay = Some(Duration::from_secs(3));
        assert!(
            matches!(classify(s(429), delay, b""), SendResult::Retry { delay: d, .. } if d == delay)
        );
        assert!(matches!(
            classify(s(404), None, b""),
            SendResult::Retry { .. }
        ));
        assert!(matches!(
            classify(s(503), None, b""),
            SendResult::Retry { delay: None, .. }
        ));
    }

    #[test]
    fn reads_partial_success() {
        // partial_success { rejected_spans: 3, error_message: "too old" }
        let body = [
            0x0a, 0x0b, 0x08, 0x03, 0x12, 0x07, b't', b'o', b'o', b' ', b'o', b'l', b'd',
        ];
        assert_eq!(
            classify(StatusCode::OK, None, &body),
            SendResult::Accepted {
                rejected: 3,
                message: "too old".into()
            }
        );
        assert_eq!(partial_success(b"{}"), (0, String::new()));
    }
}
