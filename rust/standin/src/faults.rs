//! Faults switched on at run time: rules matched in order against each ingest or management
//! request, before normal handling. A rule can answer with a status, delay, add headers, drop
//! the connection or answer 413 above a body size; `times` limits how often it fires.
//!
//! Hostile answers, for clients that must bound what they read and how long they wait:
//!
//! - `body_bytes: N` answers (`status`, default 200, `application/json`) with a body of `N`
//!   bytes, `[` then spaces, made while it is sent: `N` may be 1 GiB or more, the stand-in's
//!   memory stays flat. It excludes `body`.
//! - `trickle_ms: M` sends status and headers at once, then the body (`body`, `body_bytes` or
//!   the default detail) one byte every `M` ms, stopping when the client hangs up; `status`
//!   defaults to 200.
//! - `endless_link: true` (mgmt only, list endpoints) leaves the answer to the normal handler,
//!   but its `Link` header always says `rel="next"; results="true"` with a new cursor (the next
//!   page number): pages past the end are empty and never the last.
//!
//! For example `{"target":"mgmt","path_contains":"/projects/","body_bytes":1073741824}`,
//! `{"target":"ingest","body":"{}","trickle_ms":1000}` or
//! `{"target":"mgmt","endless_link":true}`.

use std::collections::BTreeMap;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::otlp::Signal;
use crate::reply::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Ingest,
    Mgmt,
}

/// One rule, as posted to `POST /_standin/faults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub target: Target,
    /// Ingest only: the project's slug or id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Ingest only: `traces` or `logs` (per-category limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<Signal>,
    /// HTTP method, case-insensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Substring of the raw path and query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_contains: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub drop_connection: bool,
    /// Matches only bodies larger than this (as sent, compressed); answers `status` or 413.
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
    /// How many more requests the rule fires for; absent: until cleared.
    #[serde(default)]
    pub times: Option<u32>,
    /// Answers with this many filler bytes (`[` then spaces), streamed; status default 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<u64>,
    /// Sends the answer's body one byte every this many milliseconds; status default 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trickle_ms: Option<u64>,
    /// Mgmt only: list answers always link to a next page with results, with a new cursor.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub endless_link: bool,
}

/// The facts about a request that rules match on.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub target: Target,
    pub method: &'a str,
    pub path_and_query: &'a str,
    /// Ingest: project id from the URL.
    pub project_id: Option<&'a str>,
    /// Ingest: the slug of that project, when it exists.
    pub project_slug: Option<&'a str>,
    pub signal: Option<Signal>,
    pub body_bytes: usize,
}

/// What the matching rules decided.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    pub delay: Duration,
    /// Added to the answer, whichever it is.
    pub headers: Vec<(String, String)>,
    /// Normal mgmt list answers link to one more page, always.
    pub endless_link: bool,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Action {
    /// Handle the request normally.
    #[default]
    Continue,
    Answer(Reply),
    Drop,
}

impl Rule {
    pub fn validate(&self) -> Result<(), String> {
        if self.target == Target::Mgmt && (self.project.is_some() || self.signal.is_some()) {
            return Err(
                "`project` and `signal` apply to ingest rules only; use `path_contains` for mgmt"
                    .into(),
            );
        }
        if let Some(s) = self.status {
            if !(200..=599).contains(&s) {
                return Err(format!("`status` {s} is not between 200 and 599"));
            }
        }
        if self.times == Some(0) {
            return Err("`times` must be at least 1 (leave it out for a rule that stays)".into());
        }
        if self.drop_connection && self.status.is_some() {
            return Err("`drop_connection` and `status` exclude each other".into());
        }
        if self.body_bytes.is_some() && self.body.is_some() {
            return Err("`body_bytes` and `body` exclude each other".into());
        }
        if self.drop_connection && (self.body_bytes.is_some() || self.trickle_ms.is_some()) {
            return Err(
                "`drop_connection` excludes `body_bytes` and `trickle_ms`: there is no answer"
                    .into(),
            );
        }
        if self.trickle_ms == Some(0) {
            return Err("`trickle_ms` must be at least 1".into());
        }
        if self.endless_link {
            if self.target != Target::Mgmt {
                return Err("`endless_link` applies to mgmt rules only".into());
            }
            if self.answers() {
                return Err("`endless_link` shapes the normal answer: it excludes `status`, `drop_connection`, `max_body_bytes`, `body_bytes` and `trickle_ms`".into());
            }
        }
        for (name, value) in &self.headers {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("header name {name:?} is not valid"))?;
            HeaderValue::from_str(value)
                .map_err(|_| format!("header value {value:?} of {name:?} is not valid"))?;
        }
        let does_something = self.answers()
            || self.delay_ms.is_some()
            || self.endless_link
            || !self.headers.is_empty();
        if !does_something {
            return Err("the rule does nothing: give `status`, `delay_ms`, `drop_connection`, `max_body_bytes`, `body_bytes`, `trickle_ms`, `endless_link` or `headers`".into());
        }
        Ok(())
    }

    /// Whether the rule answers in place of the handler (or drops the connection).
    fn answers(&self) -> bool {
        self.drop_connection
            || self.status.is_some()
            || self.max_body_bytes.is_some()
            || self.body_bytes.is_some()
            || self.trickle_ms.is_some()
    }

    fn matches(&self, req: &Request<'_>) -> bool {
        self.target == req.target
            && self
                .project
                .as_deref()
                .is_none_or(|p| Some(p) == req.project_slug || Some(p) == req.project_id)
            && self.signal.is_none_or(|s| Some(s) == req.signal)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(req.method))
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| req.path_and_query.contains(p))
            && self
                .max_body_bytes
                .is_none_or(|max| req.body_bytes as u64 > max)
    }

    /// The answer that ends matching, if the rule gives one.
    fn action(&self) -> Option<Action> {
        if self.drop_connection {
            return Some(Action::Drop);
        }
        let hostile = self.body_bytes.is_some() || self.trickle_ms.is_some();
        let status = self
            .status
            .or(self.max_body_bytes.map(|_| 413))
            .or(hostile.then_some(200))?;
        let mut reply = match &self.body {
            _ if self.body_bytes.is_some() => Reply {
                filler: self.body_bytes,
                ..Reply::new(status, "application/json", Vec::new())
            },
            Some(body) => {
                let is_json = serde_json::from_str::<serde_json::Value>(body).is_ok();
                let ct = if is_json {
                    "application/json"
                } else {
                    "text/plain"
                };
                Reply::new(status, ct, body.clone().into_bytes())
            }
            None if status == 413 => Reply::detail(413, "request too large"),
            None => Reply::json(
                status,
                &json!({ "detail": format!("fault injected by sentry-standin (status {status})") }),
            ),
        };
        reply.trickle = self.trickle_ms.map(Duration::from_millis);
        Some(Action::Answer(reply))
    }
}

#[derive(Debug, Clone, Default)]
pub struct Faults {
    rules: Vec<Rule>,
}

impl Faults {
    /// Appends rules after validating all of them; none is added if one is invalid.
    pub fn add(&mut self, rules: Vec<Rule>) -> Result<(), String> {
        for (i, r) in rules.iter().enumerate() {
            r.validate().map_err(|e| format!("rule {i}: {e}"))?;
        }
        self.rules.extend(rules);
        Ok(())
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The rules still in force, `times` counting down.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Applies the rules in order: every matching rule adds its delay and headers and uses one
    /// of its `times`; the first one that answers (status, 413, drop) ends the walk.
    pub fn evaluate(&mut self, req: &Request<'_>) -> Verdict {
        let mut verdict = Verdict::default();
        let mut i = 0;
        while i < self.rules.len() {
            let rule = &mut self.rules[i];
            if !rule.matches(req) {
                i += 1;
                continue;
            }
            verdict.delay += Duration::from_millis(rule.delay_ms.unwrap_or(0));
            verdict
                .headers
                .extend(rule.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
            verdict.endless_link |= rule.endless_link;
            let action = rule.action();
            let used_up = match rule.times.as_mut() {
                Some(t) => {
                    *t -= 1;
                    *t == 0
                }
                None => false,
            };
            if used_up {
                self.rules.remove(i);
            } else {
                i += 1;
            }
            if let Some(action) = action {
                verdict.action = action;
                break;
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(v: serde_json::Value) -> Rule {
        serde_json::from_value(v).expect("rule")
    }

    fn ingest(project: &str, signal: Signal, body_bytes: usize) -> Request<'_> {
        Request {
            target: Target::Ingest,
            method: "POST",
            path_and_query: "/api/1/integration/otlp/v1/traces",
            project_id: Some("1"),
            project_slug: Some(project),
            signal: Some(signal),
            body_bytes,
        }
    }

    fn status(v: &Verdict) -> Option<u16> {
        match &v.action {
            Action::Answer(r) => Some(r.status),
            _ => None,
        }
    }

    #[test]
    fn times_count_down_and_rule_disappears() {
        let mut f = Faults::default();
        f.add(vec![rule(
            json!({"target":"ingest","project":"frontend","status":503,"times":2,
            "headers":{"Retry-After":"2"}}),
        )])
        .expect("add");
        let req = ingest("frontend", Signal::Traces, 10);
        let v = f.evaluate(&req);
        assert_eq!(status(&v), Some(503));
        assert_eq!(v.headers, [("Retry-After".to_string(), "2".to_string())]);
        assert_eq!(f.rules()[0].times, Some(1));
        assert_eq!(status(&f.evaluate(&req)), Some(503));
        assert!(f.rules().is_empty());
        assert_eq!(f.evaluate(&req), Verdict::default());
    }

    #[test]
    fn filters_by_project_signal_and_size() {
        let mut f = Faults::default();
        f.add(vec![
            rule(json!({"target":"ingest","signal":"logs","status":429})),
            rule(json!({"target":"ingest","project":"payments","max_body_bytes":100})),
        ])
        .expect("add");
        assert_eq!(
            status(&f.evaluate(&ingest("frontend", Signal::Traces, 1000))),
            None
        );
        assert_eq!(
            status(&f.evaluate(&ingest("frontend", Signal::Logs, 1))),
            Some(429)
        );
        assert_eq!(
            status(&f.evaluate(&ingest("payments", Signal::Traces, 100))),
            None
        );
        assert_eq!(
            status(&f.evaluate(&ingest("payments", Signal::Traces, 101))),
            Some(413)
        );
    }

    #[test]
    fn delays_accumulate_until_an_answer() {
        let mut f = Faults::default();
        f.add(vec![
            rule(json!({"target":"mgmt","delay_ms":5,"headers":{"x-a":"1"}})),
            rule(json!({"target":"mgmt","method":"post","path_contains":"/projects/","drop_connection":true,"times":1})),
            rule(json!({"target":"mgmt","delay_ms":7})),
        ])
        .expect("add");
        let mut req = Request {
            target: Target::Mgmt,
            method: "POST",
            path_and_query: "/api/0/teams/acme/backend/projects/",
            project_id: None,
            project_slug: None,
            signal: None,
            body_bytes: 0,
        };
        let v = f.evaluate(&req);
        assert_eq!(v.action, Action::Drop);
        assert_eq!(v.delay, Duration::from_millis(5));
        let v = f.evaluate(&req);
        assert_eq!(v.action, Action::Continue);
        assert_eq!(v.delay, Duration::from_millis(12));
        req.target = Target::Ingest;
        assert_eq!(f.evaluate(&req), Verdict::default());
    }

    #[test]
    fn invalid_rules_are_refused_whole() {
        let mut f = Faults::default();
        for bad in [
            json!({"target":"mgmt","project":"x","status":500}),
            json!({"target":"ingest","status":99}),
            json!({"target":"ingest","status":500,"times":0}),
            json!({"target":"ingest"}),
            json!({"target":"ingest","status":500,"drop_connection":true}),
            json!({"target":"ingest","headers":{"bad name":"x"}}),
            json!({"target":"ingest","body_bytes":10,"body":"x"}),
            json!({"target":"ingest","body_bytes":10,"drop_connection":true}),
            json!({"target":"ingest","trickle_ms":0,"body":"x"}),
            json!({"target":"ingest","trickle_ms":5,"drop_connection":true}),
            json!({"target":"ingest","endless_link":true}),
            json!({"target":"mgmt","endless_link":true,"status":500}),
            json!({"target":"mgmt","endless_link":true,"body_bytes":5}),
            json!({"target":"mgmt","endless_link":false}),
        ] {
            let r = rule(bad.clone());
            assert!(f.add(vec![r]).is_err(), "{bad}");
        }
        assert!(serde_json::from_value::<Rule>(json!({"target":"ingest","stauts":500})).is_err());
        assert!(serde_json::from_value::<Rule>(json!({"target":"other","status":500})).is_err());
        assert!(f.rules().is_empty());
    }

    fn mgmt_list() -> Request<'static> {
        Request {
            target: Target::Mgmt,
            method: "GET",
            path_and_query: "/api/0/organizations/acme/projects/",
            project_id: None,
            project_slug: None,
            signal: None,
            body_bytes: 0,
        }
    }

    fn answer(v: Verdict) -> Reply {
        match v.action {
            Action::Answer(r) => r,
            other => panic!("no answer: {other:?}"),
        }
    }

    #[test]
    fn body_bytes_answers_a_json_filler_of_that_size() {
        let mut f = Faults::default();
        f.add(vec![
            rule(json!({"target":"mgmt","body_bytes":1_073_741_824u64,"times":1})),
            rule(json!({"target":"ingest","status":429,"body_bytes":7})),
        ])
        .expect("add");
        let r = answer(f.evaluate(&mgmt_list()));
        assert_eq!(r.status, 200);
        assert_eq!(r.filler, Some(1 << 30));
        assert!(r.body.is_empty(), "the filler is never held whole");
        assert_eq!(r.trickle, None);
        assert!(r
            .headers
            .contains(&("content-type".into(), "application/json".into())));
        let r = answer(f.evaluate(&ingest("frontend", Signal::Logs, 1)));
        assert_eq!((r.status, r.filler), (429, Some(7)));
        // Shown back as posted.
        let shown = serde_json::to_value(f.rules()).expect("json");
        assert_eq!(shown[0]["body_bytes"], 7);
        assert!(shown[0].get("trickle_ms").is_none());
        assert!(shown[0].get("endless_link").is_none());
    }

    #[test]
    fn trickle_ms_slows_any_body_and_defaults_to_200() {
        let mut f = Faults::default();
        f.add(vec![
            rule(json!({"target":"ingest","signal":"traces","body":"{}","trickle_ms":250})),
            rule(json!({"target":"ingest","body_bytes":3,"trickle_ms":5})),
            rule(json!({"target":"mgmt","status":503,"trickle_ms":1})),
        ])
        .expect("add");
        let r = answer(f.evaluate(&ingest("frontend", Signal::Traces, 1)));
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        assert_eq!(r.trickle, Some(Duration::from_millis(250)));
        let r = answer(f.evaluate(&ingest("frontend", Signal::Logs, 1)));
        assert_eq!(
            (r.filler, r.trickle),
            (Some(3), Some(Duration::from_millis(5)))
        );
        let r = answer(f.evaluate(&mgmt_list()));
        assert_eq!(r.status, 503);
        assert!(String::from_utf8_lossy(&r.body).contains("fault injected"));
        assert_eq!(r.trickle, Some(Duration::from_millis(1)));
    }

    #[test]
    fn endless_link_lets_the_handler_answer_and_marks_the_verdict() {
        let mut f = Faults::default();
        f.add(vec![rule(
            json!({"target":"mgmt","path_contains":"/projects/","endless_link":true,"times":2}),
        )])
        .expect("add");
        let v = f.evaluate(&mgmt_list());
        assert_eq!(v.action, Action::Continue);
        assert!(v.endless_link);
        let mut other = mgmt_list();
        other.path_and_query = "/api/0/organizations/acme/teams/";
        assert!(!f.evaluate(&other).endless_link);
        assert!(f.evaluate(&mgmt_list()).endless_link);
        assert!(!f.evaluate(&mgmt_list()).endless_link, "times used up");
    }
}
