//! Splits an OTLP request into one request per Sentry project by reading each
//! resource's routing attribute. Spans and log records are never decoded: a
//! project's request is the concatenation of its resource blocks' bytes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use crate::outcome::DropReason;
use crate::platform;
use crate::slug::Slug;
use crate::wire::{count_fields, field, fields, read_field, Value, WireError};

#[derive(Debug, Clone, Default)]
pub struct RoutingConfig {
    pub project_from_attribute: String,
    pub attribute_to_project_mapping: HashMap<String, Slug>,
    pub fallback_project: Option<Slug>,
}

/// The resource blocks of one project, as ranges of the original request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPart {
    pub slug: Slug,
    pub blocks: Vec<Range<usize>>,
    pub items: u64,
    /// The Sentry platform ([`platform::of`]) of the first of its resources that names its
    /// SDK's language (`telemetry.sdk.language`); `None` when none does.
    pub platform: Option<&'static str>,
}

impl ProjectPart {
    /// This project's own OTLP request: its resource blocks, copied in order.
    pub fn request(&self, original: &[u8]) -> Vec<u8> {
        let len = self.blocks.iter().map(|r| r.len()).sum();
        let mut out = Vec::with_capacity(len);
        for block in &self.blocks {
            out.extend_from_slice(&original[block.clone()]);
        }
        out
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RoutedRequest {
    /// In order of first appearance in the request.
    pub parts: Vec<ProjectPart>,
    pub dropped: Vec<(DropReason, u64)>,
    /// For each resource block of the request, in order: the index in `parts` of its
    /// project, `None` when it is dropped. The host splits its own copy of the request by it.
    pub resources: Vec<Option<usize>>,
}

pub struct Router {
    attribute: String,
    mapping: HashMap<String, Slug>,
    fallback: Option<Slug>,
    /// Every resource to this project, whatever its attributes (the legacy `dsn` mode).
    fixed: Option<Slug>,
}

enum Route {
    Project(Slug),
    Drop(DropReason),
}

/// Where the resources of one routing value go: a part of the routed request, or nowhere.
#[derive(Clone, Copy)]
enum Destination {
    Part(usize),
    Drop(DropReason),
}

impl RoutedRequest {
    /// The index of `slug`'s part, added empty on its first resource.
    fn part(&mut self, slug: Slug, index_of: &mut HashMap<Slug, usize>) -> usize {
        *index_of.entry(slug.clone()).or_insert_with(|| {
            self.parts.push(ProjectPart {
                slug,
                blocks: Vec::new(),
                items: 0,
                platform: None,
            });
            self.parts.len() - 1
        })
    }

    /// Records one resource block going to `destination`.
    fn add(&mut self, destination: Destination, block: Range<usize>, scan: &ResourceScan<'_>) {
        match destination {
            Destination::Part(i) => {
                self.resources.push(Some(i));
                let part = &mut self.parts[i];
                part.blocks.push(block);
                part.items += scan.items;
                if part.platform.is_none() {
                    part.platform = scan.language.as_deref().map(platform::of);
                }
            }
            Destination::Drop(reason) => {
                self.resources.push(None);
                match self.dropped.iter_mut().find(|(r, _)| *r == reason) {
                    Some((_, n)) => *n += scan.items,
                    None => self.dropped.push((reason, scan.items)),
                }
            }
        }
    }
}

impl Router {
    pub fn new(config: &RoutingConfig) -> Router {
        Router {
            attribute: config.project_from_attribute.clone(),
            mapping: config.attribute_to_project_mapping.clone(),
            fallback: config.fallback_project.clone(),
            fixed: None,
        }
    }

    /// A router that sends every resource to `project`.
    pub fn fixed(project: Slug) -> Router {
        Router {
            attribute: String::new(),
            mapping: HashMap::new(),
            fallback: None,
            fixed: Some(project),
        }
    }

    pub fn route(&self, request: &[u8]) -> Result<RoutedRequest, WireError> {
        self.route_counting(request, |_, scanned| scanned)
    }

    /// As [`Router::route`], for a request of the resources alone, without their scopes (all
    /// the router reads: the host need not encode its items to route them), with `items[i]`
    /// the items of resource block `i` as the host counted them (0 past the end).
    pub fn route_resources(
        &self,
        request: &[u8],
        items: &[u64],
    ) -> Result<RoutedRequest, WireError> {
        self.route_counting(request, |block, _| items.get(block).copied().unwrap_or(0))
    }

    /// Routes `request`, each resource block's items given by `items_of(block index, items
    /// found in its scopes)`.
    fn route_counting(
        &self,
        request: &[u8],
        items_of: impl Fn(usize, u64) -> u64,
    ) -> Result<RoutedRequest, WireError> {
        let mut routed = RoutedRequest::default();
        // A service's resources repeat its value: each distinct value is routed once, and a
        // project's index found once, not a slug made and hashed per resource.
        let mut destinations: HashMap<AttributeValue<'_>, Destination> = HashMap::new();
        let mut index_of: HashMap<Slug, usize> = HashMap::new();
        for block in fields(request) {
            let block = block?;
            let Some(body) = block
                .bytes()
                .filter(|_| block.number == field::RESOURCE_BLOCK)
            else {
                continue;
            };
            let mut scan = scan_resource_block(body, &self.attribute, true)?;
            scan.items = items_of(routed.resources.len(), scan.items);
            let destination = match destinations.get(&scan.value) {
                Some(known) => *known,
                None => {
                    let found = match self.route_value(scan.value.as_deref()) {
                        Route::Project(slug) => Destination::Part(routed.part(slug, &mut index_of)),
                        Route::Drop(reason) => Destination::Drop(reason),
                    };
                    destinations.insert(scan.value.clone(), found);
                    found
                }
            };
            routed.add(destination, block.span, &scan);
        }
        Ok(routed)
    }

    fn route_value(&self, value: Option<&str>) -> Route {
        if let Some(fixed) = &self.fixed {
            return Route::Project(fixed.clone());
        }
        let slug = match value.filter(|v| !v.is_empty()) {
            None => Err(DropReason::MissingAttribute),
            Some(v) => match self.mapping.get(v) {
                Some(mapped) => Ok(mapped.clone()),
                None => Slug::from_attribute(v).ok_or(DropReason::InvalidSlug),
            },
        };
        match (slug, &self.fallback) {
            (Ok(slug), _) => Route::Project(slug),
            (Err(_), Some(fallback)) => Route::Project(fallback.clone()),
            (Err(reason), None) => Route::Drop(reason),
        }
    }
}

/// The number of items (spans or log records) of an OTLP request.
pub fn count_items(request: &[u8]) -> Result<u64, WireError> {
    let mut items = 0;
    for block in fields(request) {
        let block = block?;
        if let (field::RESOURCE_BLOCK, Value::Bytes(body)) = (block.number, block.value) {
            items += scan_resource_block(body, "", false)?.items;
        }
    }
    Ok(items)
}

/// What the router reads of one resource block.
struct ResourceScan<'a> {
    /// The routing attribute's string value.
    value: AttributeValue<'a>,
    /// `telemetry.sdk.language`'s string value, when asked for.
    language: AttributeValue<'a>,
    /// Items (spans or log records), counted without decoding them.
    items: u64,
}

/// Reads a resource block: the routing attribute's string value (if any), the SDK language
/// (if `with_language`), and the number of items.
fn scan_resource_block<'a>(
    block: &'a [u8],
    attribute: &str,
    with_language: bool,
) -> Result<ResourceScan<'a>, WireError> {
    let mut scan = ResourceScan {
        value: None,
        language: None,
        items: 0,
    };
    let mut resource_read = false;
    for f in fields(block) {
        let f = f?;
        match (f.number, f.value) {
            (field::RESOURCE, Value::Bytes(resource)) if !resource_read => {
                resource_read = true;
                let language = with_language.then_some(platform::SDK_LANGUAGE_ATTRIBUTE);
                (scan.value, scan.language) =
                    find_string_attributes(resource, attribute, language)?;
            }
            (field::SCOPE_BLOCK, Value::Bytes(scope)) => {
                scan.items += count_fields(scope, field::ITEM)?;
            }
            _ => {}
        }
    }
    Ok(scan)
}

/// A `KeyValue`'s key and `AnyValue` bytes, when present.
type KeyAndValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// A string attribute's value, if found.
type AttributeValue<'a> = Option<Cow<'a, str>>;

/// In one walk of the resource's attributes: the first attribute named `key` and the first
/// named `second` (when given), each when its value is a string. The walk ends once both are
/// seen.
fn find_string_attributes<'a>(
    resource: &'a [u8],
    key: &str,
    second: Option<&str>,
) -> Result<(AttributeValue<'a>, AttributeValue<'a>), WireError> {
    let (mut first_seen, mut second_seen) = (false, second.is_none());
    let (mut first_value, mut second_value) = (None, None);
    for attr in fields(resource) {
        let attr = attr?;
        let Some(kv) = attr.bytes().filter(|_| attr.number == field::ATTRIBUTE) else {
            continue;
        };
        let (name, any_value) = key_and_value(kv)?;
        let is_first = !first_seen && name == Some(key.as_bytes());
        let is_second = !second_seen && name.is_some() && name == second.map(str::as_bytes);
        if !is_first && !is_second {
            continue;
        }
        let value = match any_value {
            Some(any_value) => string_value(any_value)?,
            None => None,
        };
        if is_first {
            (first_seen, first_value) = (true, value.clone());
        }
        if is_second {
            (second_seen, second_value) = (true, value);
        }
        if first_seen && second_seen {
            break;
        }
    }
    Ok((first_value, second_value))
}

/// A `KeyValue`'s key and value bytes, each the last of its fields as protobuf reads them.
fn key_and_value(kv: &[u8]) -> Result<KeyAndValue<'_>, WireError> {
    let (mut key, mut value) = (None, None);
    let mut pos = 0;
    while pos < kv.len() {
        match read_field(kv, &mut pos)? {
            (field::KEY, Value::Bytes(b)) => key = Some(b),
            (field::VALUE, Value::Bytes(b)) => value = Some(b),
            _ => {}
        }
    }
    Ok((key, value))
}

/// An `AnyValue`'s string, when it holds one. Invalid UTF-8 is read as the export will send
/// it, repaired ([`crate::utf8`]): a project's queue is chosen by the same value its export
/// routes by.
fn string_value(any_value: &[u8]) -> Result<Option<Cow<'_, str>>, WireError> {
    for f in fields(any_value) {
        let f = f?;
        if let (field::STRING_VALUE, Value::Bytes(s)) = (f.number, f.value) {
            return Ok(Some(String::from_utf8_lossy(s)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{logs_request, service_of, spans_of, traces_request, Resource};
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;

    fn router(mapping: &[(&str, &str)], fallback: Option<&str>) -> Router {
        Router::new(&RoutingConfig {
            project_from_attribute: "service.name".into(),
            attribute_to_project_mapping: mapping
                .iter()
                .map(|(k, v)| (k.to_string(), Slug::parse(v).unwrap()))
                .collect(),
            fallback_project: fallback.map(|f| Slug::parse(f).unwrap()),
        })
    }

    fn slugs(routed: &RoutedRequest) -> Vec<(&str, u64)> {
        routed
            .parts
            .iter()
            .map(|p| (p.slug.as_str(), p.items))
            .collect()
    }

    #[test]
    fn a_routing_value_of_invalid_utf8_routes_as_its_repaired_export_does() {
        let request = traces_request(&[Resource::service("shop-XXX", 2)]);
        let at = request.windows(8).position(|w| w == b"shop-XXX").unwrap();
        let mut spoiled = request.clone();
        spoiled[at + 5..at + 8].copy_from_slice(b"\xff\xfe\x80");
        let repaired = crate::utf8::repair(crate::signal::OtlpSignal::Traces, &spoiled);
        assert_eq!(repaired.strings, 1);
        let router = router(&[], None);
        let spoiled_route = router.route(&spoiled).unwrap();
        let repaired_route = router.route(&repaired.request).unwrap();
        assert_eq!(slugs(&spoiled_route), slugs(&repaired_route));
        assert_eq!(
            slugs(&spoiled_route).len(),
            1,
            "{:?}",
            slugs(&spoiled_route)
        );
    }

    #[test]
    fn the_resources_alone_route_as_the_whole_request_with_the_hosts_counts() {
        let with_items = traces_request(&[
            Resource::service("checkout", 3),
            Resource::service("", 2),
            Resource::service("orders", 4),
            Resource::service("checkout", 1),
        ]);
        let alone = traces_request(&[
            Resource::service("checkout", 0),
            Resource::service("", 0),
            Resource::service("orders", 0),
            Resource::service("checkout", 0),
        ]);
        let router = router(&[], None);
        let whole = router.route(&with_items).unwrap();
        let given = router.route_resources(&alone, &[3, 2, 4, 1]).unwrap();
        assert_eq!(slugs(&given), [("checkout", 4), ("orders", 4)]);
        assert_eq!(slugs(&given), slugs(&whole));
        assert_eq!(given.resources, whole.resources);
        assert_eq!(given.dropped, [(DropReason::MissingAttribute, 2)]);
        assert_eq!(given.dropped, whole.dropped);
    }

    #[test]
    fn groups_resources_by_project_and_keeps_their_bytes() {
        let request = traces_request(&[
            Resource::service("checkout", 3),
            Resource::service("Orders_Service", 2),
            Resource::service("checkout", 4),
        ]);
        let routed = router(&[], None).route(&request).unwrap();
        assert_eq!(slugs(&routed), [("checkout", 7), ("orders-service", 2)]);
        assert!(routed.dropped.is_empty());
        assert_eq!(routed.resources, [Some(0), Some(1), Some(0)]);

        let checkout =
            ExportTraceServiceRequest::decode(&*routed.parts[0].request(&request)).unwrap();
        let original = ExportTraceServiceRequest::decode(&*request).unwrap();
        assert_eq!(
            checkout.resource_spans,
            vec![
                original.resource_spans[0].clone(),
                original.resource_spans[2].clone()
            ]
        );
        assert_eq!(spans_of(&checkout), 7);
    }

    #[test]
    fn mapping_wins_over_slug_making() {
        let request = traces_request(&[
            Resource::service("orders-service", 1),
            Resource::service("billing", 1),
        ]);
        let routed = router(&[("orders-service", "ecommerce-orders")], None)
            .route(&request)
            .unwrap();
        assert_eq!(slugs(&routed), [("ecommerce-orders", 1), ("billing", 1)]);
    }

    #[test]
    fn unusable_values_are_dropped_with_a_reason_or_sent_to_the_fallback() {
        let request = logs_request(&[
            Resource::service("", 1),
            Resource::without_service(2),
            Resource::int_service(7, 3),
            Resource::service("1234", 4),
            Resource::service("api", 5),
        ]);
        let routed = router(&[], None).route(&request).unwrap();
        assert_eq!(slugs(&routed), [("api", 5)]);
        assert_eq!(routed.resources, [None, None, None, None, Some(0)]);
        assert_eq!(
            routed.dropped,
            [
                (DropReason::MissingAttribute, 6),
                (DropReason::InvalidSlug, 4)
            ]
        );

        let routed = router(&[], Some("catch-all")).route(&request).unwrap();
        assert_eq!(slugs(&routed), [("catch-all", 10), ("api", 5)]);
        assert!(routed.dropped.is_empty());
        let caught = ExportLogsServiceRequest::decode(&*routed.parts[0].request(&request)).unwrap();
        assert_eq!(caught.resource_logs.len(), 4);
    }

    #[test]
    fn routes_by_any_configured_attribute() {
        let request =
            traces_request(&[Resource::service("svc", 1).with("deployment.environment", "Prod")]);
        let router = Router::new(&RoutingConfig {
            project_from_attribute: "deployment.environment".into(),
            attribute_to_project_mapping: HashMap::new(),
            fallback_project: None,
        });
        assert_eq!(slugs(&router.route(&request).unwrap()), [("prod", 1)]);
    }

    #[test]
    fn keeps_every_resource_through_a_round_trip() {
        let resources: Vec<_> = (0..30)
            .map(|i| Resource::service(&format!("svc-{}", i % 7), i % 5))
            .collect();
        let request = traces_request(&resources);
        let routed = router(&[], None).route(&request).unwrap();
        let mut seen = 0;
        for part in &routed.parts {
            let decoded = ExportTraceServiceRequest::decode(&*part.request(&request)).unwrap();
            for rs in &decoded.resource_spans {
                assert_eq!(
                    Slug::from_attribute(&service_of(&rs.resource)).unwrap(),
                    part.slug
                );
            }
            seen += decoded.resource_spans.len();
        }
        assert_eq!(seen, 30);
    }

    #[test]
    fn a_fixed_router_sends_every_resource_to_its_project() {
        let request = logs_request(&[
            Resource::service("api", 1),
            Resource::without_service(2),
            Resource::int_service(7, 3),
            Resource::service("1234", 4),
        ]);
        let routed = Router::fixed(Slug::parse("dsn-42").unwrap())
            .route(&request)
            .unwrap();
        assert_eq!(slugs(&routed), [("dsn-42", 10)]);
        assert!(routed.dropped.is_empty());
        assert_eq!(routed.parts[0].request(&request), request);
    }

    #[test]
    fn a_part_takes_the_platform_of_its_first_resource_naming_its_language() {
        let request = traces_request(&[
            Resource::service("web", 1),
            Resource::service("web", 1).with("telemetry.sdk.language", "nodejs"),
            Resource::service("web", 1).with("telemetry.sdk.language", "python"),
            Resource::service("api", 1).with("telemetry.sdk.language", "dotnet"),
            Resource::service("legacy", 1).with("telemetry.sdk.language", "cobol"),
            Resource::service("plain", 1),
        ]);
        let routed = router(&[], None).route(&request).unwrap();
        let platforms: Vec<_> = routed
            .parts
            .iter()
            .map(|p| (p.slug.as_str(), p.platform))
            .collect();
        assert_eq!(
            platforms,
            [
                ("web", Some("node")),
                ("api", Some("dotnet")),
                ("legacy", Some("other")),
                ("plain", None),
            ]
        );
    }

    #[test]
    fn the_language_attribute_can_come_before_or_be_the_routing_attribute() {
        let request = traces_request(&[Resource::service("svc", 2)
            .with("telemetry.sdk.language", "go")
            .with("deployment.environment", "prod")]);
        let by_env = Router::new(&RoutingConfig {
            project_from_attribute: "deployment.environment".into(),
            attribute_to_project_mapping: HashMap::new(),
            fallback_project: None,
        });
        let part = &by_env.route(&request).unwrap().parts[0];
        assert_eq!((part.slug.as_str(), part.platform), ("prod", Some("go")));
        let by_language = Router::new(&RoutingConfig {
            project_from_attribute: "telemetry.sdk.language".into(),
            attribute_to_project_mapping: HashMap::new(),
            fallback_project: None,
        });
        let part = &by_language.route(&request).unwrap().parts[0];
        assert_eq!((part.slug.as_str(), part.platform), ("go", Some("go")));
    }

    #[test]
    fn rejects_bytes_that_are_not_protobuf() {
        assert!(router(&[], None).route(&[0x0a, 0x10, 0x01]).is_err());
        let mut request = traces_request(&[Resource::service("a", 1)]);
        request.truncate(request.len() - 1);
        assert!(router(&[], None).route(&request).is_err());
    }

    #[test]
    fn empty_request_routes_to_nothing() {
        let routed = router(&[], None).route(&[]).unwrap();
        assert_eq!(routed, RoutedRequest::default());
        let encoded = ExportTraceServiceRequest::default().encode_to_vec();
        assert!(encoded.is_empty());
    }
}
