//! What arrived: per project, the ids of spans and log records with how often each came and the
//! release and environment Sentry would show for each (`release_environment`: relay's rules;
//! the last arrival of an id counts), the `service.name`s seen, the error events (as relay would
//! store them: `event`) and trace metrics (as received) of envelopes with counts of what was
//! dropped, the events and trace metrics relay would drop (`event_drops`, `trace_metric_drops`,
//! with relay's reason) and what relay would change in those kept (`event_notes`,
//! `trace_metric_notes`), and every ingest request; plus the management request log. Trace
//! metrics beyond [`KEPT_TRACE_METRICS`] per project are counted and their counters summed by
//! name (`counter_sums`), not kept: tests of hundreds of thousands of series.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{json, Value};

use crate::endpoint::Endpoint;
use crate::otlp::Items;
use crate::release_environment::ReleaseEnvironment;
use crate::state::Org;
use crate::triage::Kept;

/// Trace metrics kept as received, per project.
pub const KEPT_TRACE_METRICS: usize = 100_000;

/// One ingest request as answered.
#[derive(Debug, Clone, Serialize)]
pub struct IngestEntry {
    pub seq: u64,
    /// When it was answered, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `traces`, `logs` or `envelope`.
    pub signal: Endpoint,
    /// The project id from the URL, as sent.
    pub project_id: String,
    pub path: String,
    /// `null` when the connection was dropped without an answer.
    pub status: Option<u16>,
    pub items: usize,
    /// Size of the body as sent (compressed).
    pub body_bytes: usize,
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Answered by a fault rule.
    pub fault: bool,
}

/// One management API request as answered.
#[derive(Debug, Clone, Serialize)]
pub struct MgmtEntry {
    pub seq: u64,
    pub method: String,
    /// Raw path and query, exactly as received (not percent-decoded).
    pub path: String,
    pub status: Option<u16>,
    pub fault: bool,
}

#[derive(Debug, Clone, Default)]
struct ProjectRecord {
    id: u64,
    deleted: bool,
    spans: HashMap<String, Seen>,
    logs: HashMap<String, Seen>,
    /// The distinct releases and environments of the spans and log records (`Seen::sentry`).
    release_environments: Table,
    span_total: u64,
    log_total: u64,
    /// Data points that reached the OTLP metrics sink (`ingest`).
    metric_points: u64,
    services: BTreeSet<String>,
    events: Vec<Value>,
    /// The first [`KEPT_TRACE_METRICS`] trace metrics; the others are only counted and summed.
    trace_metrics: Vec<Value>,
    trace_metric_total: u64,
    /// The sum of the values of the `counter` trace metrics, by name.
    counter_sums: BTreeMap<String, f64>,
    /// Envelope items not recorded, by data category, then reason.
    dropped: BTreeMap<&'static str, BTreeMap<&'static str, u64>>,
    /// Events relay would drop after answering 200, with relay's reason (`triage::Kept`).
    event_drops: Vec<Value>,
    /// What relay would change in kept events (`triage::Kept`).
    event_notes: Vec<Value>,
    /// Trace metrics relay would drop after answering 200, with relay's reason (`triage::Kept`).
    trace_metric_drops: Vec<Value>,
    /// What relay would change in kept trace metrics (`triage::Kept`).
    trace_metric_notes: Vec<Value>,
    requests: Vec<IngestEntry>,
}

impl ProjectRecord {
    fn add(&mut self, arrived: Arrived<'_>) {
        match arrived {
            Arrived::Otlp(Endpoint::Metrics, items) => {
                self.metric_points += items.ids.len() as u64;
                self.services.extend(items.services.iter().cloned());
            }
            Arrived::Otlp(Endpoint::Logs, items) => {
                let table = &mut self.release_environments;
                count_ids(&mut self.logs, &mut self.log_total, table, items);
                self.services.extend(items.services.iter().cloned());
            }
            Arrived::Otlp(_, items) => {
                let table = &mut self.release_environments;
                count_ids(&mut self.spans, &mut self.span_total, table, items);
                self.services.extend(items.services.iter().cloned());
            }
            Arrived::Envelope(kept) => {
                self.events.extend(kept.events.iter().cloned());
                for item in &kept.trace_metrics {
                    self.add_trace_metric(item);
                }
                self.event_drops.extend(kept.event_drops.iter().cloned());
                self.event_notes.extend(kept.event_notes.iter().cloned());
                self.trace_metric_drops
                    .extend(kept.trace_metric_drops.iter().cloned());
                self.trace_metric_notes
                    .extend(kept.trace_metric_notes.iter().cloned());
                for ((category, reason), n) in &kept.dropped {
                    *self
                        .dropped
                        .entry(category)
                        .or_default()
                        .entry(reason.as_str())
                        .or_insert(0) += n;
                }
            }
        }
    }

    fn add_trace_metric(&mut self, item: &Value) {
        self.trace_metric_total += 1;
        if let (Some("counter"), Some(name), Some(value)) = (
            item["type"].as_str(),
            item["name"].as_str(),
            item["value"].as_f64(),
        ) {
            *self.counter_sums.entry(name.to_owned()).or_insert(0.0) += value;
        }
        if self.trace_metrics.len() < KEPT_TRACE_METRICS {
            self.trace_metrics.push(item.clone());
        }
    }

    /// The running total of what `endpoint` brings.
    fn total(&self, endpoint: Endpoint) -> u64 {
        match endpoint {
            Endpoint::Traces => self.span_total,
            Endpoint::Logs => self.log_total,
            Endpoint::Metrics => self.metric_points,
            Endpoint::Envelope => self.events.len() as u64 + self.trace_metric_total,
        }
    }
}

/// One span or log record id: how often it came, and what Sentry would show as its release and
/// environment (0: neither; else 1 + its index in `ProjectRecord::release_environments`).
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    count: u64,
    sentry: u32,
}

/// The distinct releases and environments of a project's spans and log records.
#[derive(Debug, Clone, Default)]
struct Table {
    entries: Vec<ReleaseEnvironment>,
    /// Each entry's JSON text, to its position.
    index: HashMap<String, u32>,
}

impl Table {
    /// `Seen::sentry` of `s`: 0 for neither, else 1 + its entry (added when new).
    fn number(&mut self, s: &ReleaseEnvironment) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let key = serde_json::to_string(s).unwrap_or_default();
        if let Some(&at) = self.index.get(&key) {
            return at + 1;
        }
        self.entries.push(s.clone());
        let at = self.entries.len() as u32 - 1;
        self.index.insert(key, at);
        at + 1
    }

    fn get(&self, number: u32) -> Option<&ReleaseEnvironment> {
        self.entries.get((number as usize).checked_sub(1)?)
    }
}

fn count_ids(
    counts: &mut HashMap<String, Seen>,
    total: &mut u64,
    table: &mut Table,
    items: &Items,
) {
    for (i, id) in items.ids.iter().enumerate() {
        let sentry = items.sentry.get(i).map_or(0, |s| table.number(s));
        let seen = counts.entry(id.clone()).or_default();
        seen.count += 1;
        seen.sentry = sentry;
    }
    *total += items.ids.len() as u64;
}

/// What a request left to record.
#[derive(Debug, Clone, Copy)]
pub enum Arrived<'a> {
    /// The items of an accepted OTLP request to this endpoint.
    Otlp(Endpoint, &'a Items),
    /// What an envelope kept and dropped (also when answered 429).
    Envelope(&'a Kept),
}

#[derive(Debug, Clone, Default)]
pub struct Records {
    projects: BTreeMap<String, ProjectRecord>,
    unknown_project_requests: Vec<IngestEntry>,
    mgmt_requests: Vec<MgmtEntry>,
    projects_created: Vec<String>,
    /// The `platform` each created project was asked for (`null` when the request had none).
    created_platforms: BTreeMap<String, Option<String>>,
    seq: u64,
}

impl Records {
    /// Empty records for every project of `org`.
    pub fn new(org: &Org) -> Records {
        let mut r = Records::default();
        r.reset(org);
        r
    }

    /// Clears everything that arrived; keeps an empty record per existing project.
    pub fn reset(&mut self, org: &Org) {
        *self = Records {
            seq: self.seq,
            ..Records::default()
        };
        for p in org.projects() {
            self.project_added(&p.slug, p.id);
        }
    }

    pub fn project_added(&mut self, slug: &str, id: u64) {
        let rec = self.projects.entry(slug.to_string()).or_default();
        rec.id = id;
        rec.deleted = false;
    }

    /// A project created through the management API.
    pub fn project_created(&mut self, slug: &str, id: u64, platform: Option<&str>) {
        self.project_added(slug, id);
        self.projects_created.push(slug.to_string());
        self.created_platforms
            .insert(slug.to_string(), platform.map(str::to_string));
    }

    /// Keeps what the project received, marked deleted.
    pub fn project_deleted(&mut self, slug: &str) {
        if let Some(rec) = self.projects.get_mut(slug) {
            rec.deleted = true;
        }
    }

    /// The slug of a project id, also of a deleted project.
    pub fn slug_for_id(&self, id: u64) -> Option<&str> {
        self.projects
            .iter()
            .find(|(_, r)| r.id == id)
            .map(|(slug, _)| slug.as_str())
    }

    /// Logs an ingest request under `slug` (or as for an unknown project) and records what it
    /// left. Returns the project's running total for the request's endpoint.
    pub fn add_ingest(
        &mut self,
        slug: Option<&str>,
        mut entry: IngestEntry,
        arrived: Option<Arrived<'_>>,
    ) -> u64 {
        self.seq += 1;
        entry.seq = self.seq;
        let Some(rec) = slug.and_then(|s| self.projects.get_mut(s)) else {
            self.unknown_project_requests.push(entry);
            return 0;
        };
        let endpoint = entry.signal;
        if let Some(arrived) = arrived {
            rec.add(arrived);
        }
        rec.requests.push(entry);
        rec.total(endpoint)
    }

    pub fn add_mgmt(&mut self, method: &str, path: &str, status: Option<u16>, fault: bool) {
        self.seq += 1;
        self.mgmt_requests.push(MgmtEntry {
            seq: self.seq,
            method: method.to_string(),
            path: path.to_string(),
            status,
            fault,
        });
    }

    /// The `GET /_standin/records` document; `ids: false` gives the counts only (no per-id
    /// counts, items, drop notes or request log: cheap to poll).
    pub fn to_json(&self, ids: bool) -> Value {
        let projects: serde_json::Map<String, Value> = self
            .projects
            .iter()
            .map(|(slug, r)| {
                let mut v = json!({
                    "id": r.id,
                    "deleted": r.deleted,
                    "span_total": r.span_total,
                    "span_distinct": r.spans.len(),
                    "log_total": r.log_total,
                    "log_distinct": r.logs.len(),
                    "metric_points": r.metric_points,
                    "services": r.services,
                    "event_total": r.events.len(),
                    "trace_metric_total": r.trace_metric_total,
                    "counter_sums": r.counter_sums,
                    "dropped": r.dropped,
                    "request_total": r.requests.len(),
                });
                if ids {
                    v["event_drops"] = json!(r.event_drops);
                    v["event_notes"] = json!(r.event_notes);
                    v["trace_metric_drops"] = json!(r.trace_metric_drops);
                    v["trace_metric_notes"] = json!(r.trace_metric_notes);
                    v["requests"] = json!(r.requests);
                    v["spans"] = json!(sorted(&r.spans));
                    v["logs"] = json!(sorted(&r.logs));
                    let table = &r.release_environments;
                    v["span_release_environment"] = json!(release_environments(&r.spans, table));
                    v["log_release_environment"] = json!(release_environments(&r.logs, table));
                    v["events"] = json!(r.events);
                    v["trace_metrics"] = json!(r.trace_metrics);
                }
                (slug.clone(), v)
            })
            .collect();
        json!({
            "projects": projects,
            "unknown_project_requests": self.unknown_project_requests,
            "mgmt_requests": self.mgmt_requests,
            "projects_created": self.projects_created,
            "created_platforms": self.created_platforms,
        })
    }
}

fn sorted(counts: &HashMap<String, Seen>) -> BTreeMap<&str, u64> {
    counts.iter().map(|(k, v)| (k.as_str(), v.count)).collect()
}

/// Per id with a release or environment, what Sentry would show (`{"release", "environment"}`,
/// `null` for the one it has not).
fn release_environments<'a>(
    counts: &'a HashMap<String, Seen>,
    table: &'a Table,
) -> BTreeMap<&'a str, &'a ReleaseEnvironment> {
    counts
        .iter()
        .filter_map(|(id, seen)| Some((id.as_str(), table.get(seen.sentry)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::DropReason;

    fn entry(signal: Endpoint, items: usize) -> IngestEntry {
        IngestEntry {
            at_ms: 0,
            seq: 0,
            signal,
            project_id: "1".into(),
            path: "/api/1/integration/otlp/v1/traces".into(),
            status: Some(200),
            items,
            body_bytes: 10,
            headers: BTreeMap::new(),
            detail: None,
            fault: false,
        }
    }

    #[test]
    fn counts_only_accepted_items_and_keeps_deleted_projects() {
        let org = Org::new("acme", "t", &["a".into(), "b".into()]).expect("org");
        let mut r = Records::new(&org);
        let items = Items {
            ids: vec!["x".into(), "y".into(), "x".into()],
            services: ["svc".to_string()].into(),
            ..Items::default()
        };
        assert_eq!(
            r.add_ingest(
                Some("a"),
                entry(Endpoint::Traces, 3),
                Some(Arrived::Otlp(Endpoint::Traces, &items))
            ),
            3
        );
        assert_eq!(r.add_ingest(Some("a"), entry(Endpoint::Traces, 3), None), 3);
        let points = Items {
            ids: vec!["queue.depth".into(), "queue.depth".into()],
            services: ["svc".to_string()].into(),
            ..Items::default()
        };
        assert_eq!(
            r.add_ingest(
                Some("a"),
                entry(Endpoint::Metrics, 2),
                Some(Arrived::Otlp(Endpoint::Metrics, &points))
            ),
            2
        );
        r.add_ingest(None, entry(Endpoint::Logs, 0), None);
        r.project_deleted("a");
        assert_eq!(r.slug_for_id(1), Some("a"));
        let v = r.to_json(true);
        assert_eq!(v["projects"]["a"]["spans"]["x"], 2);
        assert_eq!(v["projects"]["a"]["span_distinct"], 2);
        assert_eq!(v["projects"]["a"]["metric_points"], 2);
        assert_eq!(v["projects"]["a"]["deleted"], true);
        assert_eq!(
            v["projects"]["a"]["requests"].as_array().map(Vec::len),
            Some(3)
        );
        assert_eq!(v["projects"]["a"]["services"][0], "svc");
        assert_eq!(v["projects"]["b"]["span_total"], 0);
        assert_eq!(v["unknown_project_requests"][0]["seq"], 4);
        assert!(r.to_json(false)["projects"]["a"].get("spans").is_none());
        let mut kept = Kept::default();
        kept.events.push(json!({"message": "m"}));
        kept.trace_metrics.push(json!({"name": "n"}));
        kept.dropped
            .insert(("trace_metric", DropReason::FeatureDisabled), 2);
        kept.dropped.insert(("error", DropReason::Invalid), 1);
        kept.event_drops
            .push(json!({"reason": "invalid_json", "event_id": null}));
        kept.event_notes
            .push(json!({"event_id": "e", "notes": [{"path": "level", "problem": "p"}]}));
        kept.trace_metric_drops
            .push(json!({"reason": "too_large", "problem": "p", "name": "big"}));
        kept.trace_metric_notes
            .push(json!({"name": "n", "notes": [{"path": "unit", "problem": "p"}]}));
        let arrived = Some(Arrived::Envelope(&kept));
        assert_eq!(
            r.add_ingest(Some("b"), entry(Endpoint::Envelope, 2), arrived),
            2
        );
        let b = &r.to_json(true)["projects"]["b"];
        assert_eq!(
            (b["event_total"].clone(), b["trace_metric_total"].clone()),
            (json!(1), json!(1))
        );
        assert_eq!(b["events"][0]["message"], "m");
        assert_eq!(b["trace_metrics"][0]["name"], "n");
        assert_eq!(b["dropped"]["trace_metric"]["feature_disabled"], 2);
        assert_eq!(b["dropped"]["error"]["invalid"], 1);
        assert_eq!(b["event_drops"][0]["reason"], "invalid_json");
        assert_eq!(b["event_notes"][0]["notes"][0]["path"], "level");
        assert_eq!(b["trace_metric_drops"][0]["reason"], "too_large");
        assert_eq!(b["trace_metric_notes"][0]["notes"][0]["path"], "unit");
        assert!(r.to_json(false)["projects"]["b"].get("events").is_none());
        r.reset(&org);
        let v = r.to_json(true);
        assert_eq!(v["projects"]["a"]["span_total"], 0);
        assert_eq!(v["projects"]["a"]["deleted"], false);
    }

    /// Each span and log record id shows what Sentry would: its last arrival's release and
    /// environment (`release_environment`), ids with neither left out; equal pairs share one
    /// table entry.
    #[test]
    fn release_and_environment_per_id() {
        let org = Org::new("acme", "t", &["a".into()]).expect("org");
        let mut r = Records::new(&org);
        let pair = |release: Option<&str>, environment: Option<&str>| ReleaseEnvironment {
            release: release.map(|s| json!(s)),
            environment: environment.map(|s| json!(s)),
        };
        let spans = Items {
            ids: vec!["s1".into(), "s2".into(), "s3".into(), "s1".into()],
            sentry: vec![
                pair(None, Some("prod")),
                pair(Some("1.4.2"), Some("prod")),
                pair(None, None),
                pair(Some("1.4.2"), Some("prod")),
            ],
            ..Items::default()
        };
        let logs = Items {
            ids: vec!["l1".into()],
            sentry: vec![pair(None, Some("prod"))],
            ..Items::default()
        };
        r.add_ingest(
            Some("a"),
            entry(Endpoint::Traces, 4),
            Some(Arrived::Otlp(Endpoint::Traces, &spans)),
        );
        r.add_ingest(
            Some("a"),
            entry(Endpoint::Logs, 1),
            Some(Arrived::Otlp(Endpoint::Logs, &logs)),
        );
        let a = &r.to_json(true)["projects"]["a"];
        assert_eq!(
            a["span_release_environment"],
            json!({
                "s1": {"release": "1.4.2", "environment": "prod"},
                "s2": {"release": "1.4.2", "environment": "prod"},
            })
        );
        assert_eq!(
            a["log_release_environment"],
            json!({"l1": {"release": null, "environment": "prod"}})
        );
        assert_eq!(a["spans"]["s1"], 2);
        let rec = r.projects.get("a").expect("a");
        assert_eq!(
            rec.release_environments.entries.len(),
            2,
            "one entry per distinct pair"
        );
        assert!(r.to_json(false)["projects"]["a"]
            .get("span_release_environment")
            .is_none());
    }
}
