//! OTLP bodies: content encoding, content type, decoding, and what the stand-in records of each
//! item: its id, and for spans and log records the release and environment Sentry would show
//! (`release_environment`: relay's rules). Pure functions; no HTTP here.

use std::collections::BTreeSet;
use std::io::Read;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::release_environment::{self, ReleaseEnvironment};

/// The OTLP signals Sentry ingests, and metrics, which only the stand-in's sink takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Traces,
    Logs,
    Metrics,
}

impl Signal {
    /// What the items of this signal are called in human output.
    pub fn items(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Logs => "log records",
            Signal::Metrics => "metric data points",
        }
    }
}

/// The wire format of a body, from `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Protobuf,
    Json,
}

impl Format {
    /// `application/x-protobuf` or `application/json`, parameters ignored.
    pub fn from_content_type(value: Option<&str>) -> Option<Format> {
        let media = value?.split(';').next()?.trim();
        if media.eq_ignore_ascii_case("application/x-protobuf") {
            Some(Format::Protobuf)
        } else if media.eq_ignore_ascii_case("application/json") {
            Some(Format::Json)
        } else {
            None
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => "application/x-protobuf",
            Format::Json => "application/json",
        }
    }
}

/// A body's `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    Zstd,
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    UnsupportedEncoding(String),
    BadCompression(String),
    TooLarge { limit: usize },
    Decode(String),
}

impl BodyError {
    pub fn status(&self) -> u16 {
        match self {
            BodyError::TooLarge { .. } => 413,
            _ => 400,
        }
    }

    pub fn detail(&self) -> String {
        match self {
            BodyError::UnsupportedEncoding(e) => format!("unsupported content encoding: {e}"),
            BodyError::BadCompression(e) => format!("invalid compressed body: {e}"),
            BodyError::TooLarge { limit } => {
                format!("payload too large: more than {limit} bytes after decompression")
            }
            BodyError::Decode(e) => format!("invalid OTLP payload: {e}"),
        }
    }
}

impl Encoding {
    /// gzip, zstd, identity or no header; anything else is refused.
    pub fn from_header(value: Option<&str>) -> Result<Encoding, BodyError> {
        let v = value.unwrap_or("").trim().to_ascii_lowercase();
        match v.as_str() {
            "" | "identity" => Ok(Encoding::Identity),
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            "zstd" => Ok(Encoding::Zstd),
            _ => Err(BodyError::UnsupportedEncoding(v)),
        }
    }

    /// The decompressed body, at most `limit` bytes.
    pub fn decode(self, body: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
        let out = match self {
            Encoding::Identity => body.to_vec(),
            Encoding::Gzip => read_limited(flate2::read::GzDecoder::new(body), limit)?,
            Encoding::Zstd => {
                let decoder = zstd::stream::read::Decoder::new(body)
                    .map_err(|e| BodyError::BadCompression(e.to_string()))?;
                read_limited(decoder, limit)?
            }
        };
        if out.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        Ok(out)
    }
}

fn read_limited(reader: impl Read, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::BadCompression(e.to_string()))?;
    Ok(out)
}

/// What one request carried: an id per item, in order, and the `service.name`s seen. Metric
/// data points have no id: each is listed by its metric's name.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Items {
    pub ids: Vec<String>,
    pub services: BTreeSet<String>,
    /// For spans and log records, beside `ids`: the release and environment relay stores for
    /// the item (`release_environment::derive`). Empty for metric data points.
    pub sentry: Vec<ReleaseEnvironment>,
}

/// Decodes an export request and lists its items.
///
/// Span id: `hex(trace_id)-hex(span_id)`. Log record id: the string attribute
/// `log.record.uid` when present, else FNV-1a 64 of the record's protobuf encoding, in hex.
pub fn decode(signal: Signal, format: Format, body: &[u8]) -> Result<Items, BodyError> {
    match signal {
        Signal::Traces => {
            let req: ExportTraceServiceRequest = parse(format, body)?;
            let mut items = Items::default();
            for rs in &req.resource_spans {
                add_service(&mut items, rs.resource.as_ref());
                let resource = resource_attributes(rs.resource.as_ref());
                for span in rs.scope_spans.iter().flat_map(|ss| &ss.spans) {
                    items
                        .ids
                        .push(format!("{}-{}", hex(&span.trace_id), hex(&span.span_id)));
                    items
                        .sentry
                        .push(release_environment::derive(resource, &span.attributes));
                }
            }
            Ok(items)
        }
        Signal::Logs => {
            let req: ExportLogsServiceRequest = parse(format, body)?;
            let mut items = Items::default();
            for rl in &req.resource_logs {
                add_service(&mut items, rl.resource.as_ref());
                let resource = resource_attributes(rl.resource.as_ref());
                for record in rl.scope_logs.iter().flat_map(|sl| &sl.log_records) {
                    let id = string_attr(&record.attributes, "log.record.uid")
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("{:016x}", fnv1a64(&record.encode_to_vec())));
                    items.ids.push(id);
                    items
                        .sentry
                        .push(release_environment::derive(resource, &record.attributes));
                }
            }
            Ok(items)
        }
        Signal::Metrics => {
            let req: ExportMetricsServiceRequest = parse(format, body)?;
            let mut items = Items::default();
            for rm in &req.resource_metrics {
                add_service(&mut items, rm.resource.as_ref());
                for metric in rm.scope_metrics.iter().flat_map(|sm| &sm.metrics) {
                    let points = match &metric.data {
                        Some(Data::Gauge(g)) => g.data_points.len(),
                        Some(Data::Sum(s)) => s.data_points.len(),
                        Some(Data::Histogram(h)) => h.data_points.len(),
                        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
                        Some(Data::Summary(s)) => s.data_points.len(),
                        None => 0,
                    };
                    items
                        .ids
                        .extend(std::iter::repeat_n(metric.name.clone(), points));
                }
            }
            Ok(items)
        }
    }
}

/// The empty success answer, encoded like the request.
pub fn empty_response(signal: Signal, format: Format) -> Vec<u8> {
    match format {
        Format::Json => b"{}".to_vec(),
        Format::Protobuf => match signal {
            Signal::Traces => ExportTraceServiceResponse::default().encode_to_vec(),
            Signal::Logs => ExportLogsServiceResponse::default().encode_to_vec(),
            Signal::Metrics => ExportMetricsServiceResponse::default().encode_to_vec(),
        },
    }
}

fn parse<T>(format: Format, body: &[u8]) -> Result<T, BodyError>
where
    T: Message + Default + for<'de> Deserialize<'de>,
{
    match format {
        Format::Protobuf => T::decode(body).map_err(|e| BodyError::Decode(e.to_string())),
        Format::Json => serde_json::from_slice(body).map_err(|e| BodyError::Decode(e.to_string())),
    }
}

fn add_service(items: &mut Items, resource: Option<&Resource>) {
    if let Some(name) = resource.and_then(|r| string_attr(&r.attributes, "service.name")) {
        items.services.insert(name.to_string());
    }
}

fn resource_attributes(resource: Option<&Resource>) -> &[KeyValue] {
    resource.map_or(&[], |r| r.attributes.as_slice())
}

fn string_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
}

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// FNV-1a, 64 bit: stable across Rust versions, so tests can compute the same ids.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry_exporter_core::testdata::{self, Resource as Otlp};
    use std::io::Write;

    #[test]
    fn content_type_and_encoding() {
        assert_eq!(
            Format::from_content_type(Some("application/json; charset=utf-8")),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_content_type(Some("Application/X-Protobuf")),
            Some(Format::Protobuf)
        );
        assert_eq!(Format::from_content_type(Some("text/plain")), None);
        assert_eq!(Format::from_content_type(None), None);
        assert_eq!(Encoding::from_header(None), Ok(Encoding::Identity));
        assert_eq!(Encoding::from_header(Some("GZIP")), Ok(Encoding::Gzip));
        assert_eq!(Encoding::from_header(Some("zstd")), Ok(Encoding::Zstd));
        assert!(matches!(
            Encoding::from_header(Some("br")),
            Err(BodyError::UnsupportedEncoding(_))
        ));
    }

    #[test]
    fn span_ids_from_protobuf_gzip_and_zstd() {
        let raw = testdata::traces_request(&[Otlp::service("checkout", 2)
            .trace(0xab)
            .ids_from(0x0102_0304_0506_0708)]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&raw).expect("gzip");
        let gz = gz.finish().expect("gzip");
        let zs = zstd::encode_all(raw.as_slice(), 3).expect("zstd");
        for (enc, body) in [
            (Encoding::Identity, raw.clone()),
            (Encoding::Gzip, gz),
            (Encoding::Zstd, zs),
        ] {
            let plain = enc.decode(&body, 1 << 20).expect("decompress");
            let items = decode(Signal::Traces, Format::Protobuf, &plain).expect("decode");
            assert_eq!(
                items.ids,
                [
                    format!("{}-0102030405060708", "ab".repeat(16)),
                    format!("{}-0102030405060709", "ab".repeat(16)),
                ]
            );
            assert_eq!(items.services.into_iter().collect::<Vec<_>>(), ["checkout"]);
        }
    }

    #[test]
    fn json_traces_use_hex_ids() {
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
            "scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x","kind":1}]}]}]}"#;
        let items = decode(Signal::Traces, Format::Json, body).expect("decode");
        assert_eq!(
            items.ids,
            ["5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174"]
        );
    }

    #[test]
    fn log_ids_prefer_uid_attribute() {
        // A record with a uid, then one without (time 7), of resources without a service.
        let req = testdata::logs(&[
            Otlp::new(1).ids_from(1).log_uids(),
            Otlp::new(1).ids_from(7),
        ]);
        let plain = &req.resource_logs[1].scope_logs[0].log_records[0];
        let expected_hash = format!("{:016x}", fnv1a64(&plain.encode_to_vec()));
        let items = decode(Signal::Logs, Format::Protobuf, &req.encode_to_vec()).expect("decode");
        assert_eq!(items.ids, ["uid-1".to_string(), expected_hash]);
        assert!(items.services.is_empty());
    }

    #[test]
    fn metric_data_points_are_counted_by_name() {
        use opentelemetry_proto::tonic::common::v1::AnyValue;
        use opentelemetry_proto::tonic::metrics::v1::{
            Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
            ScopeMetrics,
        };
        let metric = |name: &str, data| Metric {
            name: name.into(),
            data,
            ..Default::default()
        };
        let service = KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue("api".into())),
            }),
            ..Default::default()
        };
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![service],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![
                        metric(
                            "queue.depth",
                            Some(Data::Gauge(Gauge {
                                data_points: vec![NumberDataPoint::default(); 2],
                            })),
                        ),
                        metric(
                            "latency",
                            Some(Data::Histogram(Histogram {
                                data_points: vec![HistogramDataPoint::default()],
                                aggregation_temporality: 2,
                            })),
                        ),
                        metric("empty", None),
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let items =
            decode(Signal::Metrics, Format::Protobuf, &req.encode_to_vec()).expect("decode");
        assert_eq!(items.ids, ["queue.depth", "queue.depth", "latency"]);
        assert_eq!(items.services.into_iter().collect::<Vec<_>>(), ["api"]);
        assert!(empty_response(Signal::Metrics, Format::Protobuf).is_empty());
    }

    #[test]
    fn garbage_and_bombs_are_refused() {
        assert!(matches!(
            decode(Signal::Traces, Format::Protobuf, b"\xff\xff\xff"),
            Err(BodyError::Decode(_))
        ));
        assert!(matches!(
            decode(Signal::Logs, Format::Json, b"{"),
            Err(BodyError::Decode(_))
        ));
        assert!(matches!(
            Encoding::Gzip.decode(b"not gzip", 100),
            Err(BodyError::BadCompression(_))
        ));
        assert!(matches!(
            Encoding::Zstd.decode(b"not zstd", 100),
            Err(BodyError::BadCompression(_))
        ));
        let big = zstd::encode_all(vec![0u8; 1000].as_slice(), 3).expect("zstd");
        assert_eq!(
            Encoding::Zstd.decode(&big, 100),
            Err(BodyError::TooLarge { limit: 100 })
        );
    }

    fn text(value: &Option<serde_json::Value>) -> Option<&str> {
        value.as_ref().and_then(serde_json::Value::as_str)
    }

    /// Per span and log record, the release and environment relay would store (`release_environment`), from
    /// protobuf and JSON bodies alike.
    #[test]
    fn release_and_environment_per_item() {
        let mut req = testdata::traces(&[
            Otlp::service("checkout", 2)
                .with("service.version", "1.4.2")
                .with("deployment.environment.name", "prod"),
            Otlp::service("billing", 1),
        ]);
        req.resource_spans[0].scope_spans[0].spans[1]
            .attributes
            .push(testdata::string_attribute("sentry.release", "1.4.2"));
        let items = decode(Signal::Traces, Format::Protobuf, &req.encode_to_vec()).expect("decode");
        let got: Vec<(Option<&str>, Option<&str>)> = items
            .sentry
            .iter()
            .map(|s| (text(&s.release), text(&s.environment)))
            .collect();
        assert_eq!(items.ids.len(), got.len());
        assert_eq!(
            got,
            [
                (None, Some("prod")),
                (Some("1.4.2"), Some("prod")),
                (None, None)
            ]
        );
        let body = br#"{"resourceLogs":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"api"}},
            {"key":"deployment.environment","value":{"stringValue":"staging"}}]},
            "scopeLogs":[{"logRecords":[{"timeUnixNano":"1","body":{"stringValue":"x"},
            "attributes":[{"key":"sentry.release","value":{"stringValue":"2.0"}}]}]}]}]}"#;
        let items = decode(Signal::Logs, Format::Json, body).expect("decode");
        assert_eq!(items.sentry.len(), 1);
        assert_eq!(items.sentry[0].release, Some(serde_json::json!("2.0")));
        assert_eq!(
            items.sentry[0].environment,
            Some(serde_json::json!("staging"))
        );
    }

    #[test]
    fn empty_responses() {
        assert_eq!(empty_response(Signal::Logs, Format::Json), b"{}");
        assert!(empty_response(Signal::Traces, Format::Protobuf).is_empty());
    }
}
