//! Envelopes made as points' items are written: each point's items go into the envelope being
//! written, after the previous point's; an envelope ends before a point that would take it over
//! [`MAX_ITEMS_PER_ENVELOPE`] items or [`size::MAX_CONTAINER_BYTES`] (a point's items stay
//! together). The bytes are counted as written, never measured apart.

use std::mem::take;

use super::envelope::{MetricsEnvelope, PointItems};
use super::size::{self, OverLimit};
use super::MAX_ITEMS_PER_ENVELOPE;

#[derive(Debug, Default)]
pub struct Packer {
    done: Vec<MetricsEnvelope>,
    /// The items of the envelope being written, comma-separated.
    json: Vec<u8>,
    points: Vec<PointItems>,
    items: usize,
}

impl Packer {
    /// Adds the items of the conversion's `point` that `write` writes (comma-separated) and
    /// counts, unless it fails or a container of them alone is over Relay's limits: then
    /// nothing is added.
    pub fn point(
        &mut self,
        point: usize,
        write: impl FnOnce(&mut Vec<u8>) -> Result<usize, OverLimit>,
    ) -> Result<(), OverLimit> {
        let start = self.json.len();
        if !self.points.is_empty() {
            self.json.push(b',');
        }
        let first = self.json.len();
        let written = write(&mut self.json).and_then(|items| {
            let alone = size::container_bytes(self.json.len() - first);
            match size::container_fits(alone, items) {
                true => Ok(items),
                false => Err(OverLimit::Container),
            }
        });
        let items = match written {
            Ok(items) => items,
            Err(over) => {
                self.json.truncate(start);
                return Err(over);
            }
        };
        let over = self.items + items > MAX_ITEMS_PER_ENVELOPE
            || size::container_bytes(self.json.len()) > size::MAX_CONTAINER_BYTES;
        if over && !self.points.is_empty() {
            let moved = self.json[first..].to_vec();
            self.json.truncate(start);
            self.end_envelope();
            self.json = moved;
        }
        self.items += items;
        let end = self.json.len();
        self.points.push(PointItems::new(point, items, end));
        Ok(())
    }

    /// The envelopes, in order.
    pub fn envelopes(mut self) -> Vec<MetricsEnvelope> {
        if !self.points.is_empty() {
            self.end_envelope();
        }
        self.done
    }

    fn end_envelope(&mut self) {
        let json = take(&mut self.json).into();
        self.done
            .push(MetricsEnvelope::new(json, take(&mut self.points)));
        self.items = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Piece;

    /// The points of each envelope, of points of (items, bytes of a container of them alone).
    fn packed(points: &[(usize, usize)]) -> Vec<Vec<usize>> {
        let mut packer = Packer::default();
        for (point, (items, bytes)) in points.iter().enumerate() {
            let write = |out: &mut Vec<u8>| {
                out.resize(out.len() + bytes - size::container_bytes(0), b'x');
                Ok(*items)
            };
            packer.point(point, write).expect("fits");
        }
        let points = |e: &MetricsEnvelope| e.points().iter().map(|p| p.point).collect();
        packer.envelopes().iter().map(points).collect()
    }

    #[test]
    fn envelopes_hold_whole_points_up_to_their_limits() {
        let limit = MAX_ITEMS_PER_ENVELOPE;
        let small = 1_000;
        let by_count = [
            (limit - 1, small),
            (2, small),
            (limit + 5, small),
            (1, small),
        ];
        assert_eq!(packed(&by_count), [vec![0], vec![1], vec![2], vec![3]]);
        let five_mib = 5 << 20;
        let by_bytes = [
            (5, five_mib),
            (5, five_mib),
            (5, five_mib),
            (1, small),
            (14, size::MAX_CONTAINER_BYTES),
        ];
        assert_eq!(
            packed(&by_bytes),
            [vec![0, 1], vec![2, 3], vec![4]],
            "at most 12 MiB of items each"
        );
        assert!(packed(&[]).is_empty());
    }

    #[test]
    fn an_envelope_holds_its_points_items_and_what_it_counts() {
        let mut packer = Packer::default();
        for (point, text) in [r#"{"a":1},{"b":2}"#, r#"{"c":3}"#].iter().enumerate() {
            let count = text.matches('{').count();
            let write = |out: &mut Vec<u8>| {
                out.extend_from_slice(text.as_bytes());
                Ok(count)
            };
            packer.point(point, write).expect("fits");
        }
        let refused = packer.point(2, |out| {
            out.extend_from_slice(b"{\"d\":4}");
            Err(OverLimit::Item)
        });
        assert_eq!(refused, Err(OverLimit::Item));
        let too_large = packer.point(3, |out| {
            out.resize(out.len() + size::MAX_ITEM_BYTES, b'x');
            Ok(1)
        });
        assert_eq!(too_large, Err(OverLimit::Container));
        let envelopes = packer.envelopes();
        assert_eq!(envelopes.len(), 1);
        assert_eq!(envelopes[0].items(), 3);
        let body = crate::ingest::envelope::EnvelopeBody::envelope(&envelopes[0]);
        let body = String::from_utf8(body).expect("text");
        assert!(
            body.ends_with("\n{\"items\":[{\"a\":1},{\"b\":2},{\"c\":3}]}\n"),
            "{body}"
        );
    }
}
