//! Sending to Sentry's ingest: the [`Transport`] port, its two transports ([`otlp`] for spans
//! and log records, [`envelope`] for Sentry envelopes), and what an answer means
//! ([`answer`]). Transports do the I/O; [`answer::read`] decides.

pub mod answer;
pub mod endpoint;
pub mod envelope;
pub mod otlp;
mod post;

use futures_util::future::BoxFuture;

pub use answer::Answer;
pub use post::Poster;

use crate::ingest::endpoint::IngestEndpoint;
use crate::ratelimit::Category;

/// Data for one project, as one transport sends it in one request.
pub trait Piece: Sized + Send + Sync + 'static {
    /// The items it holds (spans, log records, events, metrics).
    fn items(&self) -> u64;
    /// What Sentry's rate limits call its data.
    fn category(&self) -> Category;
    /// Two pieces holding exactly its items, for a 413; `None` for a single item.
    fn halve(&self) -> Option<(Self, Self)>;
    /// For a 413 of a single item: the same item made smaller (an event cut to what
    /// identifies it); `None` when it cannot be, and the item is dropped as too large.
    fn shrink(&self) -> Option<Self> {
        None
    }
}

/// The port to Sentry's ingest: one request for one piece, and what the answer means.
pub trait Transport<P: Piece>: Send + Sync {
    fn send<'a>(&'a self, endpoint: &'a IngestEndpoint, piece: &'a P) -> BoxFuture<'a, Answer>;
}
