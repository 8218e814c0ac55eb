//! Sentry envelopes to `/api/{project_id}/envelope/`, for any piece that writes itself as
//! one envelope ([`EnvelopeBody`]): error events (`crate::issues`), trace metrics
//! (`crate::trace_metrics`). The transport knows no payload; each writes its own items.

use futures_util::future::BoxFuture;

use super::answer::nothing_rejected;
use super::post::{Post, Poster};
use super::{Answer, Piece, Transport};
use crate::ingest::endpoint::IngestEndpoint;

const CONTENT_TYPE: &str = "application/x-sentry-envelope";

/// A piece sent as one envelope. One kind of item per envelope, so that a rate limit or a 413
/// for one kind never holds back another.
pub trait EnvelopeBody: Piece {
    /// The envelope's bytes: its header, then its items with their headers.
    fn envelope(&self) -> Vec<u8>;
}

pub struct EnvelopeTransport {
    poster: Poster,
}

impl EnvelopeTransport {
    pub fn new(poster: Poster) -> EnvelopeTransport {
        EnvelopeTransport { poster }
    }
}

impl<P: EnvelopeBody> Transport<P> for EnvelopeTransport {
    fn send<'a>(&'a self, endpoint: &'a IngestEndpoint, piece: &'a P) -> BoxFuture<'a, Answer> {
        Box::pin(async move {
            let body = piece.envelope();
            self.poster
                .post(Post {
                    url: &endpoint.envelope_url,
                    content_type: CONTENT_TYPE,
                    auth: endpoint.auth_header(),
                    public_key: &endpoint.public_key,
                    category: piece.category(),
                    body: &body,
                    partial: nothing_rejected,
                })
                .await
        })
    }
}
