//! The one HTTP POST to Sentry's ingest that both transports make: compression, the auth
//! header, telemetry and health, the rate limits an answer announces, the capped body read,
//! then [`classify`].

use std::sync::Arc;

use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE};
use url::Url;

use super::answer::{read, Answer, Response, Sent};
use crate::clock::Clock;
use crate::compress::compress;
use crate::compress::Compression;
use crate::health::Seen;
use crate::http::{describe, read_capped};
use crate::ratelimit::{Category, LimitHeaders, RateLimits};
use crate::telemetry::{StatusClass, Telemetry};

/// Ingest answers are read up to this size: only their messages are used.
const MAX_RESPONSE_BODY: usize = 64 << 10;

/// One request to ingest.
pub struct Post<'a> {
    pub url: &'a Url,
    pub content_type: &'static str,
    /// The `X-Sentry-Auth` value.
    pub auth: String,
    pub public_key: &'a str,
    pub category: Category,
    pub body: &'a [u8],
    /// Reads the items a 2xx body says were rejected.
    pub partial: fn(&[u8]) -> (u64, String),
}

#[derive(Clone)]
pub struct Poster {
    http: reqwest::Client,
    compression: Compression,
    telemetry: Arc<Telemetry>,
    limits: Arc<RateLimits>,
    clock: Arc<dyn Clock>,
}

impl Poster {
    pub fn new(
        http: reqwest::Client,
        compression: Compression,
        telemetry: Arc<Telemetry>,
        limits: Arc<RateLimits>,
        clock: Arc<dyn Clock>,
    ) -> Poster {
        Poster {
            http,
            compression,
            telemetry,
            limits,
            clock,
        }
    }

    /// POSTs one request, records the rate limits its answer announces, and says what the
    /// answer means.
    pub async fn post(&self, post: Post<'_>) -> Answer {
        let body = match compress(self.compression, post.body) {
            Ok(body) => body,
            Err(e) => {
                return Answer::Unavailable {
                    reason: format!("cannot compress the request: {e}"),
                    delay: None,
                }
            }
        };
        let mut request = self
            .http
            .post(post.url.clone())
            .header(CONTENT_TYPE, post.content_type)
            .header("X-Sentry-Auth", &post.auth)
            .body(body);
        if let Some(encoding) = self.compression.content_encoding() {
            request = request.header(CONTENT_ENCODING, encoding);
        }
        match request.send().await {
            Ok(response) => self.answer(&post, response).await,
            Err(e) => self.no_answer(e),
        }
    }

    async fn answer(&self, post: &Post<'_>, response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        self.telemetry.ingest_request(StatusClass::of(status));
        let url = post.url.as_str();
        self.telemetry
            .health()
            .saw(Seen::IngestAnswer { status, url });
        let header = |name| {
            let value = response.headers().get(name)?;
            value.to_str().ok().map(str::to_owned)
        };
        let (rate_limits, retry_after) = (header("x-sentry-rate-limits"), header("retry-after"));
        let body = match read_capped(response, MAX_RESPONSE_BODY).await {
            Ok(body) => body.bytes,
            // The data was accepted; only the partial-success details are lost.
            Err(_) if (200..300).contains(&status) => Vec::new(),
            Err(e) => return transport_error(e),
        };
        let response = Response {
            status,
            headers: LimitHeaders {
                x_sentry_rate_limits: rate_limits.as_deref(),
                retry_after: retry_after.as_deref(),
            },
            body: &body,
        };
        let sent = Sent {
            public_key: post.public_key,
            category: post.category,
            partial: post.partial,
        };
        read(
            &response,
            &sent,
            &self.limits,
            self.clock.now(),
            self.clock.wall(),
        )
    }

    fn no_answer(&self, e: reqwest::Error) -> Answer {
        self.telemetry.ingest_request(StatusClass::NoAnswer);
        let answer = transport_error(e);
        if let Answer::Unavailable { reason, .. } | Answer::TimedOut { reason } = &answer {
            self.telemetry.health().saw(Seen::IngestSilent { reason });
        }
        answer
    }
}

fn transport_error(e: reqwest::Error) -> Answer {
    if e.is_timeout() {
        return Answer::TimedOut {
            reason: format!("no answer within http.timeout: {}", describe(e)),
        };
    }
    Answer::Unavailable {
        reason: format!("request failed: {}", describe(e)),
        delay: None,
    }
}
