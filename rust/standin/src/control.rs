//! The control API under `/_standin/` (main listener, no auth): read what arrived, reset,
//! switch faults on and off, delete projects, revoke keys.
//!
//! | request | does |
//! | --- | --- |
//! | `GET health` | `{"status":"ok"}` |
//! | `GET records[?ids=false]` | what arrived, per project (`ids=false`: the counts only); `requests_hanging`: requests a `hang` rule holds now |
//! | `POST reset` | forgets the records |
//! | `GET faults`, `POST faults`, `DELETE faults` | lists, adds (one rule or an array), clears |
//! | `POST projects/{slug}/delete`, `POST keys/{slug}/revoke` | as Sentry's UI would |
//! | `GET projects/{slug}/features`, `POST projects/{slug}/features` | a project's features; switches them (`{"organizations:tracemetrics-ingestion": false}`) |
//!
//! Features are on for every project (created ones too) until switched off; without
//! `organizations:tracemetrics-ingestion` the envelope endpoint answers 200 and drops trace
//! metrics, counted under `dropped.trace_metric.feature_disabled` in the records.
//!
//! Fault rules (see `faults`): `target` (`ingest`/`mgmt`), matchers `project`, `signal`,
//! `method`, `path_contains`, `max_body_bytes`; effects `status`, `body`, `headers`, `delay_ms`,
//! `drop_connection`, the hostile answers `body_bytes` (a streamed filler of that size),
//! `trickle_ms` (the body one byte per interval) and `endless_link` (mgmt lists that never
//! end), and the broken connections `early_answer` (answer before the body, then close),
//! `reset_mid_upload` (TCP RST partway through the body) and `hang` (never answer); `times`
//! limits how often a rule fires; `rate_limit` (`{"categories": ["error"], "retry_after": 60,
//! "scope": "key"}`) drops items of those categories and answers 429 as relay does.

use serde_json::{json, Value};

use crate::app::App;
use crate::faults::Rule;
use crate::reply::Reply;
use crate::state::{Feature, Project};
use crate::uri;

pub const PREFIX: &str = "/_standin/";

pub fn handle(app: &App, method: &str, path: &str, query: Option<&str>, body: &[u8]) -> Reply {
    let Some(raw) = uri::segments_after(path, PREFIX) else {
        return Reply::not_found();
    };
    let Some(segs) = raw
        .iter()
        .map(|s| uri::decode_segment(s))
        .collect::<Option<Vec<String>>>()
    else {
        return Reply::not_found();
    };
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    match (method, segs.as_slice()) {
        ("GET", ["health"]) => Reply::json(200, &json!({ "status": "ok" })),
        ("GET", ["records"]) => {
            let ids = uri::query_param(query, "ids").as_deref() != Some("false");
            let mut records = app.lock().records.to_json(ids);
            records["requests_hanging"] = app.requests_hanging().into();
            Reply::json(200, &records)
        }
        ("POST", ["reset"]) => {
            let mut guard = app.lock();
            let state = &mut *guard;
            state.records.reset(&state.org);
            Reply::json(200, &json!({ "reset": true }))
        }
        ("GET", ["faults"]) => rules_reply(app),
        ("POST", ["faults"]) => add_faults(app, body),
        ("DELETE", ["faults"]) => {
            app.lock().faults.clear();
            rules_reply(app)
        }
        ("POST", ["projects", slug, "delete"]) => delete_project(app, slug),
        ("POST", ["keys", slug, "revoke"]) => revoke_keys(app, slug),
        ("GET", ["projects", slug, "features"]) => match app.lock().org.project(slug) {
            Some(p) if p.slug == *slug => Reply::json(200, &features(p)),
            _ => Reply::not_found(),
        },
        ("POST", ["projects", slug, "features"]) => set_features(app, slug, body),
        (_, ["health" | "records" | "reset" | "faults"])
        | (_, ["projects", _, "delete" | "features"] | ["keys", _, "revoke"]) => {
            Reply::method_not_allowed(method)
        }
        _ => Reply::not_found(),
    }
}

fn rules_reply(app: &App) -> Reply {
    Reply::json(200, &json!({ "rules": app.lock().faults.rules() }))
}

/// One rule object or an array of them; all are validated before any is added.
fn add_faults(app: &App, body: &[u8]) -> Reply {
    let parsed: Result<Vec<Rule>, serde_json::Error> = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => items.into_iter().map(serde_json::from_value).collect(),
        Ok(one) => serde_json::from_value(one).map(|r| vec![r]),
        Err(e) => Err(e),
    };
    let rules = match parsed {
        Ok(r) => r,
        Err(e) => return Reply::detail(400, &format!("invalid fault rule: {e}")),
    };
    if let Err(e) = app.lock().faults.add(rules) {
        return Reply::detail(400, &format!("invalid fault rule: {e}"));
    }
    rules_reply(app)
}

fn delete_project(app: &App, slug: &str) -> Reply {
    let mut guard = app.lock();
    let state = &mut *guard;
    let Some(project) = state.org.delete_project(slug) else {
        return Reply::not_found();
    };
    state.records.project_deleted(slug);
    drop(guard);
    app.say(&format!("deleted project {slug} (id {})", project.id));
    Reply::json(200, &json!({ "deleted": slug, "id": project.id }))
}

fn revoke_keys(app: &App, slug: &str) -> Reply {
    let Some((revoked, key)) = app.lock().org.rotate_keys(slug) else {
        return Reply::not_found();
    };
    app.say(&format!("revoked the keys of {slug}; new key {key}"));
    Reply::json(
        200,
        &json!({ "project": slug, "revoked": revoked, "key": key }),
    )
}

/// `{"project": slug, "features": {"organizations:tracemetrics-ingestion": true}}`.
fn features(p: &Project) -> Value {
    let map: serde_json::Map<String, Value> = Feature::ALL
        .iter()
        .map(|&f| (f.name().to_string(), p.has_feature(f).into()))
        .collect();
    json!({ "project": p.slug, "features": map })
}

/// A JSON object of feature names and booleans; all are checked before any is switched.
fn set_features(app: &App, slug: &str, body: &[u8]) -> Reply {
    let switches: Result<Vec<(Feature, bool)>, String> =
        match serde_json::from_slice::<serde_json::Map<String, Value>>(body) {
            Ok(map) => map
                .iter()
                .map(
                    |(name, on)| match (Feature::from_name(name), on.as_bool()) {
                        (Some(f), Some(on)) => Ok((f, on)),
                        (None, _) => Err(format!("unknown feature {name:?}")),
                        (_, None) => Err(format!("{name:?} must be true or false")),
                    },
                )
                .collect(),
            Err(e) => Err(format!(
                "expected an object of feature names and booleans: {e}"
            )),
        };
    let switches = match switches {
        Ok(s) => s,
        Err(e) => return Reply::detail(400, &e),
    };
    let mut guard = app.lock();
    for (feature, on) in switches {
        if guard.org.set_feature(slug, feature, on).is_none() {
            return Reply::not_found();
        }
    }
    let reply = guard.org.project(slug).map(features);
    drop(guard);
    match reply {
        Some(v) => {
            app.say(&format!("features of {slug}: {}", v["features"]));
            Reply::json(200, &v)
        }
        None => Reply::not_found(),
    }
}
