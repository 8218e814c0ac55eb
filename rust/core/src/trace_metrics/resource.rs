//! What the points of one resource share, made once per resource: its attributes as trace
//! metric items carry them, and its part of series keys. Senders that export each point on its
//! own (telemetrygen, the bench's load) make batches of one resource block per point, all
//! alike: a resource received as the one before it reuses what was made for that one, its
//! attributes not even read again.

use super::attributes::ResourceAttributes;
use super::series::ResourceKey;
use crate::otlp_messages::resource_attributes;
use crate::wire::WireError;

/// One resource's share of its points' items and series.
pub struct Shared {
    /// Its `Resource` message as received, to know the next one like it.
    received: Vec<u8>,
    pub attributes: ResourceAttributes,
    pub key: ResourceKey,
}

impl Shared {
    fn new(received: &[u8]) -> Result<Shared, WireError> {
        let attributes = resource_attributes(received)?;
        Ok(Shared {
            received: received.to_vec(),
            attributes: ResourceAttributes::new(&attributes),
            key: ResourceKey::new(&attributes),
        })
    }
}

/// The latest resource's share, while the next ones are like it.
#[derive(Default)]
pub struct Resources {
    latest: Option<Shared>,
}

impl Resources {
    /// The share of the resource of the `Resource` message `received`.
    pub fn of(&mut self, received: &[u8]) -> Result<&Shared, WireError> {
        let shared = match self.latest.take() {
            Some(latest) if latest.received == received => latest,
            _ => Shared::new(received)?,
        };
        Ok(self.latest.insert(shared))
    }
}
