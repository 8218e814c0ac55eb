//! The router against prost: arbitrary bytes as an OTLP traces or logs request.
//!
//! Input: one byte of options, then the request.
//! - bit 0: logs (else traces)
//! - bit 1: a fallback project
//! - bit 2: an attribute-to-project mapping
//! - bit 3: route by `deployment.environment` (else `service.name`)
//! - bit 4: the rest is not the request but drives a generator of requests
//!   (`generate`): prost encodes resources made of likely keys and values
//!   (repeated keys, non-string values, odd strings), which raw byte
//!   mutations reach only rarely.
//!
//! When prost decodes the request:
//! - the router accepts it, unless it holds a group (wire types 3 and 4, which
//!   prost skips as unknown fields and the router refuses);
//! - the router accepts prost's own encoding of it, and routes that exactly as
//!   prost's view of each resource says (checked by `check`, below);
//! - when the router accepts the request as sent, each project's part decodes
//!   with prost to the request's resources of that project, in order; no
//!   resource is in two parts; a resource whose bytes are prost's own encoding
//!   goes where prost's view says (others may differ: duplicated fields merge
//!   in prost while the router reads the first `resource` and the last `value`);
//! - `count_items` agrees with prost.
//!
//! The release stamp (`release::stamp`) of any request costs at most `COST_PER_BYTE` per byte;
//! of one prost decodes, it decodes to the same resources with the same items.
//!
//! Always: parts hold valid, distinct slugs and disjoint whole top-level fields
//! of the request; `from_attribute` makes valid slugs and is idempotent; routing costs at
//! most `COST_PER_BYTE` per byte of the request (`cost`).

#![no_main]

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::ops::Range;

use libfuzzer_sys::arbitrary::{Result as Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::{AnyValue as AnyValueMessage, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::encoding::{decode_key, skip_field, DecodeContext};
use prost::Message;
use sentry_exporter_core::routing::RoutingConfig;
use sentry_exporter_core::outcome::DropReason;
use sentry_exporter_core::release;
use sentry_exporter_core::signal::OtlpSignal;
use sentry_exporter_core::routing::{count_items, RoutedRequest, Router};
use sentry_exporter_core::slug::{Slug, MAX_SLUG_LEN};
use sentry_exporter_core::wire::WireError;
use sentry_exporter_fuzz::cost::{assert_linear, Cost};

/// The router reads each field's key and length and skips the rest.
const COST_PER_BYTE: Cost = Cost {
    regions: 500,
    allocated: 64,
};

/// The two signals' request and resource-block messages, as prost sees them.
trait Otlp {
    const SIGNAL: OtlpSignal;
    type Request: Message + Default;
    type Block: Message + Default + Clone + PartialEq + Debug;
    fn blocks(request: Self::Request) -> Vec<Self::Block>;
    fn request(blocks: Vec<Self::Block>) -> Self::Request;
    fn resource(block: &Self::Block) -> Option<&Resource>;
    fn items(block: &Self::Block) -> u64;
    /// A block of `resource` with one scope of `n` empty items per entry of `scopes`.
    fn block(resource: Option<Resource>, scopes: &[usize]) -> Self::Block;
}

struct Traces;
struct Logs;

impl Otlp for Traces {
    const SIGNAL: OtlpSignal = OtlpSignal::Traces;
    type Request = ExportTraceServiceRequest;
    type Block = ResourceSpans;
    fn blocks(request: Self::Request) -> Vec<Self::Block> {
        request.resource_spans
    }
    fn request(blocks: Vec<Self::Block>) -> Self::Request {
        ExportTraceServiceRequest {
            resource_spans: blocks,
        }
    }
    fn resource(block: &Self::Block) -> Option<&Resource> {
        block.resource.as_ref()
    }
    fn items(block: &Self::Block) -> u64 {
        block.scope_spans.iter().map(|s| s.spans.len() as u64).sum()
    }
    fn block(resource: Option<Resource>, scopes: &[usize]) -> Self::Block {
        ResourceSpans {
            resource,
            scope_spans: scopes
                .iter()
                .map(|&n| ScopeSpans {
                    spans: vec![Span::default(); n],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

impl Otlp for Logs {
    const SIGNAL: OtlpSignal = OtlpSignal::Logs;
    type Request = ExportLogsServiceRequest;
    type Block = ResourceLogs;
    fn blocks(request: Self::Request) -> Vec<Self::Block> {
        request.resource_logs
    }
    fn request(blocks: Vec<Self::Block>) -> Self::Request {
        ExportLogsServiceRequest {
            resource_logs: blocks,
        }
    }
    fn resource(block: &Self::Block) -> Option<&Resource> {
        block.resource.as_ref()
    }
    fn items(block: &Self::Block) -> u64 {
        block
            .scope_logs
            .iter()
            .map(|s| s.log_records.len() as u64)
            .sum()
    }
    fn block(resource: Option<Resource>, scopes: &[usize]) -> Self::Block {
        ResourceLogs {
            resource,
            scope_logs: scopes
                .iter()
                .map(|&n| ScopeLogs {
                    log_records: vec![LogRecord::default(); n],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

fn slug(s: &str) -> Slug {
    Slug::parse(s).unwrap()
}

fn config(options: u8) -> RoutingConfig {
    let mapping = if options & 4 != 0 {
        HashMap::from([
            ("orders-service".to_owned(), slug("ecommerce-orders")),
            ("checkout".to_owned(), slug("shop")),
            ("1234".to_owned(), slug("numbers")),
        ])
    } else {
        HashMap::new()
    };
    RoutingConfig {
        project_from_attribute: if options & 8 != 0 {
            "deployment.environment"
        } else {
            "service.name"
        }
        .to_owned(),
        attribute_to_project_mapping: mapping,
        fallback_project: (options & 2 != 0).then(|| slug("catch-all")),
    }
}

/// Where a resource goes, from prost's view of it.
fn expected_route(config: &RoutingConfig, resource: Option<&Resource>) -> Result<Slug, DropReason> {
    let value = resource
        .and_then(|r| {
            r.attributes
                .iter()
                .find(|kv| kv.key == config.project_from_attribute)
        })
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
        .filter(|v| !v.is_empty());
    let slug = match value {
        None => Err(DropReason::MissingAttribute),
        Some(v) => {
            check_from_attribute(v);
            config
                .attribute_to_project_mapping
                .get(v)
                .cloned()
                .or_else(|| Slug::from_attribute(v))
                .ok_or(DropReason::InvalidSlug)
        }
    };
    slug.or_else(|reason| config.fallback_project.clone().ok_or(reason))
}

fn check_from_attribute(value: &str) {
    if let Some(s) = Slug::from_attribute(value) {
        assert_eq!(Slug::parse(s.as_str()).as_ref(), Ok(&s), "{value:?}");
        assert!(s.as_str().len() <= MAX_SLUG_LEN);
        assert_eq!(
            Slug::from_attribute(s.as_str()).as_ref(),
            Some(&s),
            "{value:?}"
        );
    }
}

/// The byte ranges of the top-level field-1 occurrences (resource blocks) of a
/// request prost decoded, read with prost's own wire functions.
fn block_ranges(request: &[u8]) -> Vec<Range<usize>> {
    let mut buf = request;
    let mut ranges = Vec::new();
    while !buf.is_empty() {
        let start = request.len() - buf.len();
        let (tag, wire_type) = decode_key(&mut buf).expect("prost decoded this request");
        skip_field(wire_type, tag, &mut buf, DecodeContext::default())
            .expect("prost decoded this request");
        if tag == 1 {
            ranges.push(start..request.len() - buf.len());
        }
    }
    ranges
}

/// What holds for any request the router accepts, whether prost decodes it or not.
fn check_shape(request: &[u8], routed: &RoutedRequest) {
    let mut slugs = HashSet::new();
    let mut blocks: Vec<&Range<usize>> = Vec::new();
    let mut first_blocks = Vec::new();
    for part in &routed.parts {
        assert!(slugs.insert(part.slug.clone()), "{:?} twice", part.slug);
        assert_eq!(Slug::parse(part.slug.as_str()).as_ref(), Ok(&part.slug));
        assert!(!part.blocks.is_empty());
        assert!(part.blocks.windows(2).all(|w| w[0].end <= w[1].start));
        assert!(part
            .blocks
            .iter()
            .all(|b| b.start < b.end && b.end <= request.len()));
        assert_eq!(
            part.request(request).len(),
            part.blocks.iter().map(|b| b.len()).sum::<usize>()
        );
        first_blocks.push(part.blocks[0].start);
        blocks.extend(&part.blocks);
    }
    assert!(
        first_blocks.windows(2).all(|w| w[0] < w[1]),
        "parts in order of appearance"
    );
    blocks.sort_by_key(|b| b.start);
    assert!(
        blocks.windows(2).all(|w| w[0].end <= w[1].start),
        "overlapping blocks"
    );
    let mut reasons = HashSet::new();
    for (reason, _) in &routed.dropped {
        assert!(reasons.insert(*reason), "{reason:?} twice");
        assert!(matches!(
            reason,
            DropReason::MissingAttribute | DropReason::InvalidSlug
        ));
    }
    if let Ok(total) = count_items(request) {
        let routed_items: u64 = routed.parts.iter().map(|p| p.items).sum();
        let dropped: u64 = routed.dropped.iter().map(|(_, n)| n).sum();
        assert_eq!(routed_items + dropped, total);
    }
}

/// Router and prost agree on `request`, which prost decoded into `blocks`.
/// A resource whose bytes are prost's own encoding must go where prost's view
/// says; in prost's encoding of a whole request, that is every resource.
fn check<S: Otlp>(
    config: &RoutingConfig,
    request: &[u8],
    blocks: &[S::Block],
    routed: &RoutedRequest,
) {
    check_shape(request, routed);
    let ranges = block_ranges(request);
    assert_eq!(ranges.len(), blocks.len());
    let index_of: HashMap<usize, usize> = ranges
        .iter()
        .enumerate()
        .map(|(i, r)| (r.start, i))
        .collect();

    let mut part_of: Vec<Option<usize>> = vec![None; blocks.len()];
    for (p, part) in routed.parts.iter().enumerate() {
        let indices: Vec<usize> = part
            .blocks
            .iter()
            .map(|b| {
                let i = *index_of
                    .get(&b.start)
                    .expect("a part block starts a resource block");
                assert_eq!(ranges[i], *b, "a part block is one whole resource block");
                assert_eq!(
                    part_of[i].replace(p),
                    None,
                    "resource block {i} in two parts"
                );
                i
            })
            .collect();
        let decoded =
            S::Request::decode(&*part.request(request)).expect("a part decodes with prost");
        let want: Vec<S::Block> = indices.iter().map(|&i| blocks[i].clone()).collect();
        assert!(
            S::blocks(decoded) == want,
            "part {:?}: not its resources",
            part.slug
        );
        assert_eq!(
            part.items,
            want.iter().map(S::items).sum::<u64>(),
            "items of {:?}",
            part.slug
        );
    }

    let mut dropped: HashMap<DropReason, u64> = HashMap::new();
    let mut all_canonical = true;
    for (i, block) in blocks.iter().enumerate() {
        let canonical =
            S::request(vec![block.clone()]).encode_to_vec() == request[ranges[i].clone()];
        all_canonical &= canonical;
        let expected = expected_route(config, S::resource(block));
        let got = part_of[i].map(|p| &routed.parts[p].slug);
        if canonical {
            match &expected {
                Ok(slug) => assert_eq!(got, Some(slug), "resource block {i}"),
                Err(reason) => {
                    assert_eq!(got, None, "resource block {i} ({reason:?})");
                    *dropped.entry(*reason).or_default() += S::items(block);
                }
            }
        } else if config.fallback_project.is_some() {
            assert!(got.is_some(), "with a fallback nothing is dropped");
        }
    }
    let total: u64 = blocks.iter().map(S::items).sum();
    match count_items(request) {
        Ok(n) => assert_eq!(n, total, "count_items"),
        Err(e) => assert_group(&e),
    }
    if all_canonical {
        let mut got: HashMap<DropReason, u64> = HashMap::new();
        for (reason, n) in &routed.dropped {
            *got.entry(*reason).or_default() += n;
        }
        dropped.retain(|_, n| *n > 0);
        got.retain(|_, n| *n > 0);
        assert_eq!(got, dropped, "dropped items by reason");
    }
}

/// The one way the router may refuse what prost decodes: a group, which prost
/// skips as an unknown field and the router does not read.
fn assert_group(e: &WireError) {
    assert!(
        matches!(
            e,
            WireError::BadWireType {
                wire_type: 3 | 4,
                ..
            }
        ),
        "the router refuses what prost decodes: {e}"
    );
}

fn run<S: Otlp>(config: &RoutingConfig, request: &[u8]) {
    let router = Router::new(config);
    let routed = assert_linear("route", request, COST_PER_BYTE, |r| router.route(r));
    let stamped = assert_linear("stamp", request, COST_PER_BYTE, |r| {
        release::stamp(S::SIGNAL, r).map(|s| s.into_owned())
    });
    let Ok(decoded) = S::Request::decode(request) else {
        if let Ok(routed) = &routed {
            check_shape(request, routed);
        }
        return;
    };
    let blocks = S::blocks(decoded);
    if let Ok(stamped) = stamped {
        let stamped = S::Request::decode(&*stamped)
            .unwrap_or_else(|e| panic!("the stamp breaks a request prost reads: {e}"));
        let stamped = S::blocks(stamped);
        let items = |blocks: &[S::Block]| blocks.iter().map(S::items).collect::<Vec<_>>();
        let resources = |blocks: &[S::Block]| blocks.iter().map(|b| S::resource(b).cloned()).collect::<Vec<_>>();
        assert_eq!(items(&stamped), items(&blocks));
        assert_eq!(resources(&stamped), resources(&blocks));
    }

    let canonical = S::request(blocks.clone()).encode_to_vec();
    let routed_canonical = router
        .route(&canonical)
        .unwrap_or_else(|e| panic!("the router refuses prost's encoding: {e}"));
    check::<S>(config, &canonical, &blocks, &routed_canonical);

    match &routed {
        Ok(routed) => check::<S>(config, request, &blocks, routed),
        Err(e) => assert_group(e),
    }
}

const KEYS: [&str; 6] = [
    "service.name",
    "deployment.environment",
    "deployment.environment.name",
    "service.version",
    "host.name",
    "",
];
const VALUES: [&str; 10] = [
    "checkout",
    "Orders_Service",
    "orders-service",
    "1234",
    "",
    "café-ü",
    "  spaced   out  ",
    "Prod",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbb",
    "サービス",
];

fn any_value(u: &mut Unstructured) -> Arbitrary<Option<AnyValueMessage>> {
    let value = match u.int_in_range(0..=6)? {
        0 => return Ok(None),
        1 => None,
        2 | 3 => Some(AnyValue::StringValue((*u.choose(&VALUES)?).to_owned())),
        4 => Some(AnyValue::StringValue(u.arbitrary()?)),
        5 => Some(AnyValue::IntValue(u.arbitrary()?)),
        _ => Some(AnyValue::BoolValue(u.arbitrary()?)),
    };
    Ok(Some(AnyValueMessage { value }))
}

/// A request of up to 8 resources, prost-encoded, from `u`.
fn generate<S: Otlp>(u: &mut Unstructured) -> Arbitrary<Vec<u8>> {
    let mut blocks = Vec::new();
    for _ in 0..u.int_in_range(0..=8)? {
        let resource = if u.ratio(1, 8)? {
            None
        } else {
            let mut attributes = Vec::new();
            for _ in 0..u.int_in_range(0..=4)? {
                attributes.push(KeyValue {
                    key: (*u.choose(&KEYS)?).to_owned(),
                    value: any_value(u)?,
                    ..Default::default()
                });
            }
            Some(Resource {
                attributes,
                ..Default::default()
            })
        };
        let mut scopes = Vec::new();
        for _ in 0..u.int_in_range(0..=2)? {
            scopes.push(u.int_in_range(0..=3)?);
        }
        blocks.push(S::block(resource, &scopes));
    }
    Ok(S::request(blocks).encode_to_vec())
}

fn run_generated<S: Otlp>(config: &RoutingConfig, data: &[u8]) {
    if let Ok(request) = generate::<S>(&mut Unstructured::new(data)) {
        run::<S>(config, &request);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&options, request)) = data.split_first() else {
        return;
    };
    let config = config(options);
    match (options & 1 == 0, options & 16 == 0) {
        (true, true) => run::<Traces>(&config, request),
        (false, true) => run::<Logs>(&config, request),
        (true, false) => run_generated::<Traces>(&config, request),
        (false, false) => run_generated::<Logs>(&config, request),
    }
});
