//! What a kind of payload is to the driver ([`crate::driver`]): it makes jobs of one project's
//! part of a batch ([`Payload::plan`]), and says what their outcomes count as
//! ([`Payload::settle`]). Spans and log records forwarded as they are ([`crate::forward`]),
//! error events made of exceptions ([`crate::issues`]) and trace metrics made of metrics
//! ([`crate::trace_metrics`]) are the payloads now; another (profiles, check-ins) is one more
//! module implementing this trait, not an arm in the driver.

use std::future::Future;
use std::time::SystemTime;

use crate::clock::Instant;
use crate::ingest::{Piece, Transport};
use crate::job::Job;
use crate::outcome::{Counted, Outcome};
use crate::routing::ProjectPart;
use crate::signal::Signal;
use crate::slug::Slug;

/// One project's part of a batch of `signal`.
pub struct Part<'a> {
    pub slug: &'a Slug,
    pub signal: Signal,
    /// The Sentry platform of the project, should it be created.
    pub platform: &'static str,
    routed: &'a ProjectPart,
    request: &'a [u8],
}

impl<'a> Part<'a> {
    /// `routed`'s part of the batch's `request`, of `signal`.
    pub fn new(signal: Signal, routed: &'a ProjectPart, request: &'a [u8]) -> Part<'a> {
        Part {
            slug: &routed.slug,
            signal,
            platform: routed.platform.unwrap_or(crate::platform::OTHER),
            routed,
            request,
        }
    }

    /// Its resource blocks, each an OTLP request of one resource.
    pub fn blocks(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let request = self.request;
        (self.routed.blocks.iter()).map(move |range| &request[range.clone()])
    }

    /// Its own OTLP request: its resource blocks, copied in order.
    pub fn request(&self) -> Vec<u8> {
        self.routed.request(self.request)
    }

    /// The collector's items it holds (spans, log records, metrics).
    pub fn items(&self) -> u64 {
        self.routed.items
    }
}

/// The jobs a payload makes of a part, and what settling them needs to know.
pub struct Planned<P: Payload + ?Sized> {
    pub jobs: Vec<Job<P::Piece>>,
    /// Jobs run at the same time, at least one.
    pub concurrency: usize,
    pub plan: P::Plan,
}

/// A job that panicked: what it sent is not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked(pub String);

/// What one job came to: its outcomes, or a panic.
pub type Ran<P> = Result<Vec<Outcome<P>>, Panicked>;

/// A kind of payload. `settle` holds the payload's rules for what Sentry's answers mean for it;
/// each payload's rules are table-tested from answers as received (its `table` module).
pub trait Payload: Send + Sync + 'static {
    type Piece: Piece;
    /// What settling needs to know of a plan.
    type Plan: Send;

    /// Whether it makes pieces of batches of `signal`.
    fn takes(&self, signal: Signal) -> bool;

    /// The transport its pieces go by.
    fn transport(&self) -> &dyn Transport<Self::Piece>;

    /// The jobs of `part`, at `now` (`wall` for what must name the time of day).
    fn plan<'a>(
        &'a self,
        part: &'a Part<'a>,
        now: Instant,
        wall: SystemTime,
    ) -> impl Future<Output = Planned<Self>> + Send + 'a;

    /// What the jobs of `plan` came to (`ran`, in the order of its jobs) counts as, at `now`.
    fn settle(&self, plan: Self::Plan, ran: Vec<Ran<Self::Piece>>, now: Instant) -> Vec<Counted>;

    /// The plans of what it keeps to send again itself, due at `now`, by project.
    fn due(&self, _now: Instant) -> Vec<(Slug, Planned<Self>)> {
        Vec::new()
    }

    /// The exporter stops: what it still keeps is dropped, and counted.
    fn abandon(&self) -> Vec<(Slug, Counted)> {
        Vec::new()
    }
}
