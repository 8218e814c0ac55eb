//! Spans and log records to Sentry's OTLP ingest (`/integration/otlp/v1/{traces,logs}/`):
//! a piece is one project's OTLP request, halved by `crate::split` on a 413.

use bytes::Bytes;
use futures_util::future::BoxFuture;

use super::post::{Post, Poster};
use super::{Answer, Piece, Transport};
use crate::http::body_text;
use crate::ingest::endpoint::IngestEndpoint;
use crate::ratelimit::Category;
use crate::signal::{OtlpSignal, Signal};
use crate::split::halve_counted;
use crate::wire::{field, fields, Value};

/// One project's OTLP request and the items it holds. Shared bytes: what settling keeps of
/// the piece (to hand it back after a panic) is no copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtlpPiece {
    pub signal: OtlpSignal,
    pub request: Bytes,
    pub items: u64,
}

impl Piece for OtlpPiece {
    fn items(&self) -> u64 {
        self.items
    }

    fn category(&self) -> Category {
        Signal::from(self.signal).into()
    }

    fn halve(&self) -> Option<(OtlpPiece, OtlpPiece)> {
        let ((a, na), (b, nb)) = halve_counted(&self.request).ok()??;
        let piece = |request: Vec<u8>, items| OtlpPiece {
            signal: self.signal,
            request: request.into(),
            items,
        };
        Some((piece(a, na), piece(b, nb)))
    }
}

pub struct OtlpTransport {
    poster: Poster,
}

impl OtlpTransport {
    pub fn new(poster: Poster) -> OtlpTransport {
        OtlpTransport { poster }
    }
}

impl Transport<OtlpPiece> for OtlpTransport {
    fn send<'a>(
        &'a self,
        endpoint: &'a IngestEndpoint,
        piece: &'a OtlpPiece,
    ) -> BoxFuture<'a, Answer> {
        Box::pin(self.poster.post(Post {
            url: endpoint.url(piece.signal),
            content_type: "application/x-protobuf",
            auth: endpoint.auth_header(),
            public_key: &endpoint.public_key,
            category: piece.category(),
            body: &piece.request,
            partial: partial_success,
        }))
    }
}

/// `Export*ServiceResponse.partial_success`: rejected count and message.
pub fn partial_success(body: &[u8]) -> (u64, String) {
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
    fn reads_partial_success() {
        // partial_success { rejected_spans: 3, error_message: "too old" }
        let body = [
            0x0a, 0x0b, 0x08, 0x03, 0x12, 0x07, b't', b'o', b'o', b' ', b'o', b'l', b'd',
        ];
        assert_eq!(partial_success(&body), (3, "too old".into()));
        assert_eq!(partial_success(b"{}"), (0, String::new()));
    }
}
