//! The legacy `environment` setting: `deployment.environment.name` added to the resource of
//! every resource block that states no environment (`deployment.environment.name` or the older
//! `deployment.environment`). Works on the wire bytes like the router: only the resource and
//! the resource block around it are re-encoded; scopes, spans and log records are copied.

use std::borrow::Cow;

use crate::release::ENVIRONMENT_ATTRIBUTES;
use crate::wire::{field, fields, rewrite_resource_blocks, wrap, Value, WireError};

/// The attribute set, as the semantic conventions name it today.
pub const ATTRIBUTE: &str = ENVIRONMENT_ATTRIBUTES[0];
/// Attributes that already state an environment: the resource keeps its own.
const STATED_BY: [&str; 2] = ENVIRONMENT_ATTRIBUTES;

/// The attribute to add, encoded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// `Resource.attributes` field holding the `KeyValue`.
    attribute: Vec<u8>,
}

impl Environment {
    /// `None` for an empty value: nothing to add.
    pub fn new(value: &str) -> Option<Environment> {
        if value.is_empty() {
            return None;
        }
        let any_value = wrap(field::STRING_VALUE, value.as_bytes());
        let mut key_value = wrap(field::KEY, ATTRIBUTE.as_bytes());
        key_value.extend_from_slice(&wrap(field::VALUE, &any_value));
        Some(Environment {
            attribute: wrap(field::ATTRIBUTE, &key_value),
        })
    }

    /// `request` (an OTLP export request of either signal) with the environment on every
    /// resource that lacks one; borrowed when none does.
    pub fn apply<'a>(&self, request: &'a [u8]) -> Result<Cow<'a, [u8]>, WireError> {
        rewrite_resource_blocks(request, |body| {
            Ok(if states_environment(body)? {
                None
            } else {
                Some(self.add_to_block(body)?)
            })
        })
    }

    /// The body of a resource block with the attribute appended to its (first) resource, or a
    /// resource holding only the attribute when it has none.
    fn add_to_block(&self, body: &[u8]) -> Result<Vec<u8>, WireError> {
        let mut out = Vec::with_capacity(body.len() + self.attribute.len() + 8);
        let mut added = false;
        for f in fields(body) {
            let f = f?;
            match (f.number, f.value) {
                (field::RESOURCE, Value::Bytes(resource)) if !added => {
                    let mut resource = resource.to_vec();
                    resource.extend_from_slice(&self.attribute);
                    out.extend_from_slice(&wrap(field::RESOURCE, &resource));
                    added = true;
                }
                _ => out.extend_from_slice(&body[f.span]),
            }
        }
        if !added {
            let mut with_resource = wrap(field::RESOURCE, &self.attribute);
            with_resource.extend_from_slice(&out);
            out = with_resource;
        }
        Ok(out)
    }
}

/// Whether a resource block's resource (any of its occurrences) has an environment attribute,
/// whatever its value.
fn states_environment(block: &[u8]) -> Result<bool, WireError> {
    for f in fields(block) {
        let f = f?;
        if let (field::RESOURCE, Value::Bytes(resource)) = (f.number, f.value) {
            for attr in fields(resource) {
                let attr = attr?;
                if let (field::ATTRIBUTE, Value::Bytes(kv)) = (attr.number, attr.value) {
                    let key = key_of(kv)?;
                    if STATED_BY.iter().any(|k| key == Some(k.as_bytes())) {
                        return Ok(true);
                    }
                }
            }
        }
    }
    Ok(false)
}

fn key_of(key_value: &[u8]) -> Result<Option<&[u8]>, WireError> {
    for f in fields(key_value) {
        let f = f?;
        if let (field::KEY, Value::Bytes(key)) = (f.number, f.value) {
            return Ok(Some(key));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{logs_request, string_attribute, traces_request, Resource};
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value;
    use opentelemetry_proto::tonic::resource::v1::Resource as OtlpResource;
    use prost::Message;

    fn environment_of(resource: &Option<OtlpResource>) -> Stated {
        resource
            .iter()
            .flat_map(|r| &r.attributes)
            .filter(|kv| STATED_BY.contains(&kv.key.as_str()))
            .map(|kv| {
                let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => s.clone(),
                    other => format!("{other:?}"),
                };
                (kv.key.clone(), value)
            })
            .collect()
    }

    /// The environment attributes of a resource: key and value.
    type Stated = Vec<(String, String)>;

    fn env(key: &str, value: &str) -> Stated {
        vec![(key.to_owned(), value.to_owned())]
    }

    #[test]
    fn adds_the_environment_where_none_is_stated() {
        let old = "deployment.environment";
        let cases: Vec<(&str, Resource, Stated)> = vec![
            (
                "no environment",
                Resource::service("api", 2),
                env(ATTRIBUTE, "prod"),
            ),
            ("no attributes", Resource::new(1), env(ATTRIBUTE, "prod")),
            (
                "its own environment",
                Resource::service("api", 1).with(ATTRIBUTE, "staging"),
                env(ATTRIBUTE, "staging"),
            ),
            (
                "the older attribute",
                Resource::service("api", 1).with(old, "dev"),
                env(old, "dev"),
            ),
            (
                "a non-string environment",
                Resource::service("api", 1).with_int(ATTRIBUTE, 3),
                env(ATTRIBUTE, "Some(IntValue(3))"),
            ),
        ];
        let environment = Environment::new("prod").unwrap();
        for (name, resource, want) in cases {
            let request = traces_request(std::slice::from_ref(&resource));
            let applied = environment.apply(&request).unwrap();
            let got = ExportTraceServiceRequest::decode(&*applied).unwrap();
            let original = ExportTraceServiceRequest::decode(&*request).unwrap();
            assert_eq!(
                environment_of(&got.resource_spans[0].resource),
                want,
                "{name}"
            );
            assert_eq!(
                got.resource_spans[0].scope_spans, original.resource_spans[0].scope_spans,
                "{name}: the spans are kept"
            );
            let added = want[0].1 == "prod";
            assert_eq!(matches!(applied, Cow::Owned(_)), added, "{name}");
        }
    }

    #[test]
    fn keeps_every_other_attribute_and_block_in_order() {
        let request = logs_request(&[
            Resource::service("a", 2).with(ATTRIBUTE, "staging"),
            Resource::service("b", 3),
            Resource::without_service(1),
        ]);
        let applied = Environment::new("prod").unwrap().apply(&request).unwrap();
        let got = ExportLogsServiceRequest::decode(&*applied).unwrap();
        let mut want = ExportLogsServiceRequest::decode(&*request).unwrap();
        for rl in &mut want.resource_logs[1..] {
            let resource = rl.resource.as_mut().unwrap();
            resource
                .attributes
                .push(string_attribute(ATTRIBUTE, "prod"));
        }
        assert_eq!(got, want);
    }

    #[test]
    fn a_block_without_resource_gets_one() {
        // ResourceSpans with only a scope block: no resource field at all.
        let block = wrap(field::SCOPE_BLOCK, &[]);
        let request = wrap(field::RESOURCE_BLOCK, &block);
        let applied = Environment::new("prod").unwrap().apply(&request).unwrap();
        let got = ExportTraceServiceRequest::decode(&*applied).unwrap();
        assert_eq!(
            environment_of(&got.resource_spans[0].resource),
            env(ATTRIBUTE, "prod")
        );
        assert_eq!(got.resource_spans[0].scope_spans.len(), 1);
    }

    #[test]
    fn nothing_to_add_and_malformed_requests() {
        assert_eq!(Environment::new(""), None);
        let environment = Environment::new("prod").unwrap();
        assert!(matches!(environment.apply(&[]).unwrap(), Cow::Borrowed(_)));
        assert!(environment.apply(&[0x0a, 0x10, 0x01]).is_err());
        let mut request = traces_request(&[Resource::service("a", 1)]);
        request.truncate(request.len() - 1);
        assert!(environment.apply(&request).is_err());
    }
}
