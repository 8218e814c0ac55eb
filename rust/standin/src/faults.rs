//! Faults switched on at run time: rules matched in order against each ingest or management
//! request, before normal handling. A rule can answer with a status, delay, add headers, drop
//! the connection or answer 413 above a body size; `times` limits how often it fires.
//!
//! Slow answers: `delay_ms` in a rule that gives no answer of its own lets the request be
//! handled as usual first (ingest data is recorded as accepted, a project is created), then
//! waits before the answer goes out, as a Sentry that did the work but answers late: a client
//! that gives up meanwhile leaves its data recorded, and its retry shows as a duplicate. A
//! rule with an answer (`status`, `drop_connection`, ...) waits `delay_ms` first, then
//! answers, and records no data.
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
//! Broken connections, for clients that must survive a server that stops listening:
//!
//! - `early_answer: true` answers `status` (default 413; `body`, `headers` and `delay_ms` as
//!   usual) as soon as the request head has arrived, without reading the body, with
//!   `Connection: close`, and closes the connection: a client still writing a large body gets
//!   EPIPE or ECONNRESET, as from a relay that refuses an upload by its `Content-Length`.
//! - `reset_mid_upload: true` reads part of the body (half of its `Content-Length`, at most
//!   64 KiB; 64 KiB without a length), then resets the connection (TCP RST): no answer.
//! - `hang: true` never answers and holds the request until the client hangs up. On ingest the
//!   request is handled first (its data recorded as accepted, as by a Sentry that stored it but
//!   whose answer is lost); on mgmt it is only held. A held request costs no memory once its
//!   client has gone; `GET /_standin/records` counts those still held (`requests_hanging`).
//!
//! `early_answer` and `reset_mid_upload` act on the request head, before the body is read, so
//! their rules are matched first, on their own (the first matching one fires; other rules'
//! delays and headers do not apply), and their `max_body_bytes` compares with the announced
//! `Content-Length` (a request without one never matches it). No request of theirs records
//! data; the request log shows them with their status (`null` for a reset).
//!
//! Rate limits: `rate_limit: {"categories": [...], "retry_after": 60, "scope": "key"}` (see
//! `quota`) answers as relay does when a quota is exhausted: on the envelope endpoint the items
//! of those categories (`error`, `trace_metric`, `trace_metric_byte`, ...; none listed: all)
//! are dropped, the others kept, and the answer is 429 with `Retry-After` and
//! `X-Sentry-Rate-Limits` if anything was limited; on the OTLP endpoints a request of a limited
//! category (`span`; `log_item`, `log_byte`) is answered 429. The request is checked (key,
//! body) first, as relay does.
//!
//! Ingest rules match OTLP and envelope requests alike; `signal` (`traces`, `logs`,
//! `envelope`, or `metrics`, the metrics sink) narrows them to one endpoint.
//!
//! For example `{"target":"mgmt","path_contains":"/projects/","body_bytes":1073741824}`,
//! `{"target":"ingest","body":"{}","trickle_ms":1000}`,
//! `{"target":"mgmt","endless_link":true}`,
//! `{"target":"ingest","project":"frontend","early_answer":true,"status":503,"times":2}`,
//! `{"target":"ingest","signal":"logs","reset_mid_upload":true,"times":1}`,
//! `{"target":"ingest","signal":"envelope","rate_limit":{"categories":["error"]}}` or
//! `{"target":"mgmt","path_contains":"/projects/acme/slow-svc/keys/","hang":true}`.

use std::collections::BTreeMap;
use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::endpoint::Endpoint;
use crate::quota::RateLimit;
use crate::reply::Reply;

/// How much of the body `reset_mid_upload` reads at most before the reset.
pub const RESET_AFTER_BYTES: usize = 64 << 10;

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
    /// Ingest only: `traces`, `logs` or `envelope`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<Endpoint>,
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
    /// Answers (status default 413) before reading the body, then closes the connection.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub early_answer: bool,
    /// Reads part of the body, then resets the connection without an answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset_mid_upload: bool,
    /// Never answers; ingest requests are handled (recorded) first.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hang: bool,
    /// Ingest only: a quota exhausted for these data categories (see `quota`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
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
    pub signal: Option<Endpoint>,
    /// The body's size as sent; before the body is read, its `Content-Length` (0 without).
    pub body_bytes: usize,
}

/// What the matching rules decided.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Before a fault's answer; after the normal answer was made (a slow answer).
    pub delay: Duration,
    /// Added to the answer, whichever it is.
    pub headers: Vec<(String, String)>,
    /// Normal mgmt list answers link to one more page, always.
    pub endless_link: bool,
    /// Quotas the ingest handler applies to the request's items.
    pub rate_limits: Vec<RateLimit>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Action {
    /// Handle the request normally.
    #[default]
    Continue,
    Answer(Reply),
    Drop,
    /// Handle an ingest request normally (a mgmt request not at all), then never answer.
    Hang,
}

/// What a rule that acts on the request head decided, before the body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadFault {
    /// Answer this (headers included) after `delay`, leave the body unread, close.
    AnswerEarly { reply: Reply, delay: Duration },
    /// Read part of the body, then reset the connection.
    ResetMidUpload,
}

/// `Err` naming the first of `others` that is set alongside `name`.
fn excludes(name: &str, others: &[(&str, bool)]) -> Result<(), String> {
    match others.iter().find(|(_, set)| *set) {
        Some((other, _)) => Err(format!("`{name}` and `{other}` exclude each other")),
        None => Ok(()),
    }
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
        self.validate_broken_connections()?;
        self.validate_rate_limit()?;
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
            || self.rate_limit.is_some()
            || !self.headers.is_empty();
        if !does_something {
            return Err("the rule does nothing: give `status`, `delay_ms`, `drop_connection`, `max_body_bytes`, `body_bytes`, `trickle_ms`, `endless_link`, `early_answer`, `reset_mid_upload`, `hang`, `rate_limit` or `headers`".into());
        }
        Ok(())
    }

    /// `early_answer`, `reset_mid_upload` and `hang` each exclude what they cannot do.
    fn validate_broken_connections(&self) -> Result<(), String> {
        let no_answer = [
            ("drop_connection", self.drop_connection),
            ("body_bytes", self.body_bytes.is_some()),
            ("trickle_ms", self.trickle_ms.is_some()),
            ("endless_link", self.endless_link),
        ];
        let no_own_answer = [
            ("status", self.status.is_some()),
            ("body", self.body.is_some()),
            ("headers", !self.headers.is_empty()),
            ("delay_ms", self.delay_ms.is_some()),
        ];
        if self.early_answer {
            excludes("early_answer", &no_answer)?;
            excludes(
                "early_answer",
                &[("reset_mid_upload", self.reset_mid_upload)],
            )?;
            excludes("early_answer", &[("hang", self.hang)])?;
        }
        if self.reset_mid_upload {
            excludes("reset_mid_upload", &no_answer)?;
            excludes("reset_mid_upload", &no_own_answer)?;
            excludes("reset_mid_upload", &[("hang", self.hang)])?;
        }
        if self.hang {
            excludes("hang", &no_answer)?;
            excludes("hang", &no_own_answer)?;
            excludes("hang", &[("max_body_bytes", self.max_body_bytes.is_some())])?;
        }
        Ok(())
    }

    /// `rate_limit` applies to ingest, and leaves the answer to the handler.
    fn validate_rate_limit(&self) -> Result<(), String> {
        let Some(limit) = &self.rate_limit else {
            return Ok(());
        };
        if self.target != Target::Ingest {
            return Err("`rate_limit` applies to ingest rules only".into());
        }
        if self.answers() || self.body.is_some() {
            return Err("`rate_limit` leaves the answer to relay's checks: it excludes `status`, `body`, `drop_connection`, `max_body_bytes`, `body_bytes`, `trickle_ms`, `early_answer`, `reset_mid_upload` and `hang`".into());
        }
        limit.validate()
    }

    /// Whether the rule answers in place of the handler (or drops the connection).
    fn answers(&self) -> bool {
        self.drop_connection
            || self.status.is_some()
            || self.max_body_bytes.is_some()
            || self.body_bytes.is_some()
            || self.trickle_ms.is_some()
            || self.acts_on_head()
            || self.hang
    }

    /// Whether the rule fires when the request head arrives, before the body is read.
    fn acts_on_head(&self) -> bool {
        self.early_answer || self.reset_mid_upload
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
        if self.hang {
            return Some(Action::Hang);
        }
        let hostile = self.body_bytes.is_some() || self.trickle_ms.is_some();
        let status = self
            .status
            .or(self.max_body_bytes.map(|_| 413))
            .or(hostile.then_some(200))?;
        Some(Action::Answer(self.reply(status)))
    }

    /// What a head rule does; `None` for the others.
    fn head_fault(&self) -> Option<HeadFault> {
        if self.reset_mid_upload {
            return Some(HeadFault::ResetMidUpload);
        }
        if !self.early_answer {
            return None;
        }
        let mut reply = self.reply(self.status.unwrap_or(413));
        for (name, value) in &self.headers {
            reply.set_header(name, value);
        }
        let delay = Duration::from_millis(self.delay_ms.unwrap_or(0));
        Some(HeadFault::AnswerEarly { reply, delay })
    }

    /// The rule's answer with `status`: its `body`, filler or a default detail.
    fn reply(&self, status: u16) -> Reply {
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
        reply
    }

    /// Uses one of the rule's `times`; true when none is left.
    fn use_once(&mut self) -> bool {
        match self.times.as_mut() {
            Some(t) => {
                *t -= 1;
                *t == 0
            }
            None => false,
        }
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

    /// Applies the rules that act on the request head (`early_answer`, `reset_mid_upload`),
    /// in order: the first that matches fires and uses one of its `times`.
    pub fn evaluate_head(&mut self, req: &Request<'_>) -> Option<HeadFault> {
        let i = self
            .rules
            .iter()
            .position(|r| r.acts_on_head() && r.matches(req))?;
        let fault = self.rules[i].head_fault();
        if self.rules[i].use_once() {
            self.rules.remove(i);
        }
        fault
    }

    /// Applies the other rules in order: every matching rule adds its delay and headers and
    /// uses one of its `times`; the first one that answers (status, 413, drop, hang) ends the
    /// walk.
    pub fn evaluate(&mut self, req: &Request<'_>) -> Verdict {
        let mut verdict = Verdict::default();
        let mut i = 0;
        while i < self.rules.len() {
            let rule = &mut self.rules[i];
            if rule.acts_on_head() || !rule.matches(req) {
                i += 1;
                continue;
            }
            verdict.delay += Duration::from_millis(rule.delay_ms.unwrap_or(0));
            verdict
                .headers
                .extend(rule.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
            verdict.endless_link |= rule.endless_link;
            verdict.rate_limits.extend(rule.rate_limit.clone());
            let action = rule.action();
            if rule.use_once() {
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

    fn ingest(project: &str, signal: Endpoint, body_bytes: usize) -> Request<'_> {
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
        let req = ingest("frontend", Endpoint::Traces, 10);
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
            status(&f.evaluate(&ingest("frontend", Endpoint::Traces, 1000))),
            None
        );
        assert_eq!(
            status(&f.evaluate(&ingest("frontend", Endpoint::Logs, 1))),
            Some(429)
        );
        assert_eq!(
            status(&f.evaluate(&ingest("payments", Endpoint::Traces, 100))),
            None
        );
        assert_eq!(
            status(&f.evaluate(&ingest("payments", Endpoint::Traces, 101))),
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
            json!({"target":"ingest","early_answer":true,"drop_connection":true}),
            json!({"target":"ingest","early_answer":true,"trickle_ms":5}),
            json!({"target":"ingest","early_answer":true,"hang":true}),
            json!({"target":"ingest","reset_mid_upload":true,"status":500}),
            json!({"target":"ingest","reset_mid_upload":true,"early_answer":true}),
            json!({"target":"ingest","reset_mid_upload":true,"delay_ms":5}),
            json!({"target":"ingest","hang":true,"status":200}),
            json!({"target":"ingest","hang":true,"delay_ms":5}),
            json!({"target":"ingest","hang":true,"max_body_bytes":5}),
            json!({"target":"mgmt","hang":true,"endless_link":true}),
            json!({"target":"ingest","hang":false}),
            json!({"target":"mgmt","rate_limit":{}}),
            json!({"target":"ingest","rate_limit":{},"status":429}),
            json!({"target":"ingest","rate_limit":{},"hang":true}),
            json!({"target":"ingest","rate_limit":{"categories":["errors"]}}),
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
        let r = answer(f.evaluate(&ingest("frontend", Endpoint::Logs, 1)));
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
        let r = answer(f.evaluate(&ingest("frontend", Endpoint::Traces, 1)));
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        assert_eq!(r.trickle, Some(Duration::from_millis(250)));
        let r = answer(f.evaluate(&ingest("frontend", Endpoint::Logs, 1)));
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

    #[test]
    fn head_rules_fire_first_and_alone() {
        let mut f = Faults::default();
        f.add(vec![
            rule(json!({"target":"ingest","delay_ms":50,"headers":{"x-a":"1"}})),
            rule(
                json!({"target":"ingest","project":"frontend","early_answer":true,"times":1,
                "headers":{"Retry-After":"3"}}),
            ),
            rule(json!({"target":"ingest","early_answer":true,"status":503,"max_body_bytes":1000})),
            rule(json!({"target":"ingest","signal":"logs","reset_mid_upload":true})),
        ])
        .expect("add");
        let Some(HeadFault::AnswerEarly { reply, delay }) =
            f.evaluate_head(&ingest("frontend", Endpoint::Traces, 10))
        else {
            panic!("no early answer");
        };
        assert_eq!((reply.status, delay), (413, Duration::ZERO));
        assert!(reply.headers.contains(&("retry-after".into(), "3".into())));
        assert!(!reply.headers.iter().any(|(n, _)| n == "x-a"));
        assert_eq!(f.rules().len(), 3, "times used up");
        assert_eq!(
            f.evaluate_head(&ingest("frontend", Endpoint::Traces, 10)),
            None
        );
        let big = f.evaluate_head(&ingest("frontend", Endpoint::Traces, 1001));
        assert!(matches!(big, Some(HeadFault::AnswerEarly { reply, .. }) if reply.status == 503));
        assert_eq!(
            f.evaluate_head(&ingest("payments", Endpoint::Logs, 1)),
            Some(HeadFault::ResetMidUpload)
        );
        // The body-time walk passes over head rules.
        let v = f.evaluate(&ingest("payments", Endpoint::Logs, 5000));
        assert_eq!(
            (v.action, v.delay),
            (Action::Continue, Duration::from_millis(50))
        );
    }

    #[test]
    fn hang_ends_the_walk_and_shows_as_posted() {
        let mut f = Faults::default();
        f.add(vec![
            rule(json!({"target":"mgmt","path_contains":"/keys/","hang":true,"times":1})),
            rule(json!({"target":"mgmt","status":500})),
        ])
        .expect("add");
        let mut keys = mgmt_list();
        keys.path_and_query = "/api/0/projects/acme/slow-svc/keys/";
        assert_eq!(f.evaluate(&keys).action, Action::Hang);
        assert_eq!(status(&f.evaluate(&keys)), Some(500));
        let shown = serde_json::to_value(f.rules()).expect("json");
        assert!(shown[0].get("hang").is_none(), "false flags are left out");
    }

    #[test]
    fn rate_limits_collect_and_leave_the_answer_to_the_handler() {
        let mut f = Faults::default();
        f.add(vec![
            rule(json!({"target":"ingest","signal":"envelope","rate_limit":{"categories":["error"]},"times":1})),
            rule(json!({"target":"ingest","rate_limit":{"retry_after":5},"headers":{"x-a":"1"}})),
        ])
        .expect("add");
        let v = f.evaluate(&ingest("frontend", Endpoint::Envelope, 1));
        assert_eq!(v.action, Action::Continue);
        assert_eq!(v.rate_limits.len(), 2);
        assert_eq!(v.rate_limits[0].categories, ["error"]);
        let v = f.evaluate(&ingest("frontend", Endpoint::Envelope, 1));
        assert_eq!(v.rate_limits.len(), 1, "times used up");
        assert_eq!(
            f.evaluate(&ingest("frontend", Endpoint::Traces, 1))
                .rate_limits
                .len(),
            1
        );
        let shown = serde_json::to_value(f.rules()).expect("json");
        assert_eq!(shown[0]["rate_limit"]["retry_after"], 5);
    }
}
