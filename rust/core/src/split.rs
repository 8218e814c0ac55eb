//! Halving an OTLP request that Sentry found too large (413): by resource
//! blocks, then by scope blocks, then by items, re-encoding only the wrappers
//! around the halves. Items themselves are copied as bytes, never decoded.

use crate::routing::count_items;
use crate::wire::{field, fields, wrap, Field, WireError};

/// A request and the number of items it holds.
pub type Counted = (Vec<u8>, u64);

/// Two halves of a message, or `None` when it cannot be halved.
type Halves = Result<Option<(Vec<u8>, Vec<u8>)>, WireError>;

/// [`halve`], with the number of items of each half.
pub fn halve_counted(request: &[u8]) -> Result<Option<(Counted, Counted)>, WireError> {
    let Some((a, b)) = halve(request)? else {
        return Ok(None);
    };
    let (na, nb) = (count_items(&a)?, count_items(&b)?);
    Ok(Some(((a, na), (b, nb))))
}

/// Two requests that together hold exactly the items of `request`, or `None`
/// when it holds a single item (or nothing) and cannot be halved.
fn halve(request: &[u8]) -> Halves {
    let blocks = of_number(request, field::RESOURCE_BLOCK)?;
    if blocks.len() >= 2 {
        let (a, b) = blocks.split_at(blocks.len() / 2);
        return Ok(Some((concat(request, a), concat(request, b))));
    }
    let Some(block) = blocks.first().and_then(|f| f.bytes()) else {
        return Ok(None);
    };
    Ok(halve_block(block, field::SCOPE_BLOCK, &|scope| {
        halve_block(scope, field::ITEM, &|_| Ok(None))
    })?
    .map(|(a, b)| {
        (
            wrap(field::RESOURCE_BLOCK, &a),
            wrap(field::RESOURCE_BLOCK, &b),
        )
    }))
}

type Halver<'h> = dyn Fn(&[u8]) -> Halves + 'h;

/// Halves a message by its repeated field `child`: each half keeps every other
/// field (the resource, the scope, schema URLs). With one child, halves that
/// child with `inner` instead.
fn halve_block(message: &[u8], child: u32, inner: &Halver<'_>) -> Halves {
    let all: Vec<Field<'_>> = fields(message).collect::<Result<_, _>>()?;
    let (children, others): (Vec<&Field<'_>>, Vec<&Field<'_>>) =
        all.iter().partition(|f| f.number == child);
    let halves = match children.as_slice() {
        [] => return Ok(None),
        [only] => {
            let Some((a, b)) = only.bytes().map(inner).transpose()?.flatten() else {
                return Ok(None);
            };
            (vec![wrap(child, &a)], vec![wrap(child, &b)])
        }
        many => {
            let (a, b) = many.split_at(many.len() / 2);
            let raw = |half: &[&Field<'_>]| {
                half.iter()
                    .map(|f| message[f.span.clone()].to_vec())
                    .collect()
            };
            (raw(a), raw(b))
        }
    };
    let rebuild = |children: Vec<Vec<u8>>| {
        let mut out = Vec::with_capacity(message.len());
        for f in &others {
            out.extend_from_slice(&message[f.span.clone()]);
        }
        for c in children {
            out.extend_from_slice(&c);
        }
        out
    };
    Ok(Some((rebuild(halves.0), rebuild(halves.1))))
}

fn of_number(message: &[u8], number: u32) -> Result<Vec<Field<'_>>, WireError> {
    fields(message)
        .filter(|f| f.as_ref().map_or(true, |f| f.number == number))
        .collect()
}

fn concat(message: &[u8], parts: &[Field<'_>]) -> Vec<u8> {
    parts
        .iter()
        .flat_map(|f| message[f.span.clone()].iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{logs_request, traces_request, Resource};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    /// Halves until single items; returns the pieces.
    fn shatter(request: Vec<u8>) -> Vec<Vec<u8>> {
        match halve(&request).unwrap() {
            None => vec![request],
            Some((a, b)) => {
                let (na, nb) = (count_items(&a).unwrap(), count_items(&b).unwrap());
                assert!(na > 0 && nb > 0, "both halves hold items");
                assert_eq!(na + nb, count_items(&request).unwrap());
                let mut pieces = shatter(a);
                pieces.extend(shatter(b));
                pieces
            }
        }
    }

    #[test]
    fn halves_down_to_single_items_keeping_every_item_and_its_resource() {
        let request = traces_request(&[
            Resource::service("a", 3),
            Resource::service("b", 1),
            Resource::service("c", 4),
        ]);
        let original = ExportTraceServiceRequest::decode(&request[..]).unwrap();
        let pieces = shatter(request);
        assert_eq!(pieces.len(), 8);
        let mut spans = Vec::new();
        for piece in &pieces {
            let decoded = ExportTraceServiceRequest::decode(&piece[..]).unwrap();
            assert_eq!(decoded.resource_spans.len(), 1);
            let rs = &decoded.resource_spans[0];
            let from = original
                .resource_spans
                .iter()
                .find(|o| o.resource == rs.resource)
                .unwrap();
            assert_eq!(rs.scope_spans[0].scope, from.scope_spans[0].scope);
            assert_eq!(rs.scope_spans[0].spans.len(), 1);
            spans.push(rs.scope_spans[0].spans[0].clone());
        }
        let all: Vec<_> = original
            .resource_spans
            .iter()
            .flat_map(|r| r.scope_spans[0].spans.clone())
            .collect();
        assert_eq!(spans, all);
    }

    #[test]
    fn single_items_and_empty_requests_cannot_be_halved() {
        assert_eq!(
            halve(&traces_request(&[Resource::service("a", 1)])).unwrap(),
            None
        );
        assert_eq!(
            halve(&logs_request(&[Resource::service("a", 0)])).unwrap(),
            None
        );
        assert_eq!(halve(&[]).unwrap(), None);
    }

    #[test]
    fn halves_logs_the_same_way() {
        assert_eq!(shatter(logs_request(&[Resource::service("a", 5)])).len(), 5);
    }
}
