//! Every row of the failure table (docs/design.md): what the job does with one project's data,
//! from Sentry's answers as received (status, rate-limit headers, body) or the management
//! API's, through the same pure code the exporter uses. No HTTP, no sleep.

use std::time::Duration;

use super::replies::{self, endpoint, wall, Reply, KEY};
use super::*;
use crate::endpoint_cache::ResolveError;
use crate::ingest::otlp::partial_success;
use crate::mgmt::{failure, MgmtError, RateLimitHeaders};
use crate::ratelimit::Category;
use crate::resolve::failed;

const OTHER_KEY: &str = "fedcba9876543210fedcba9876543210";
const FRESH_KEY: &str = "00000000000000000000000000000001";

/// A piece of `n` spans; halves split the count.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Spans(u64);

impl Piece for Spans {
    fn items(&self) -> u64 {
        self.0
    }

    fn category(&self) -> Category {
        Category::Spans
    }

    fn halve(&self) -> Option<(Spans, Spans)> {
        (self.0 >= 2).then(|| (Spans(self.0 / 2), Spans(self.0 - self.0 / 2)))
    }
}

/// What the driver brings back to the job, one per action it asked for.
enum Step {
    /// A lookup's result.
    Found(&'static str),
    Missing,
    OrgMissing,
    Pending,
    /// A management API answer other than 2xx (status, `X-Sentry-Rate-Limit-Reset` as
    /// seconds from now).
    Mgmt(u16, Option<u64>),
    Admit(Admission),
    /// An ingest answer: status, `X-Sentry-Rate-Limits`, `Retry-After`, body.
    Http(
        u16,
        Option<&'static str>,
        Option<&'static str>,
        &'static [u8],
    ),
    /// No answer (transport error, timeout).
    NoAnswer(Answer),
}

/// What became of the data.
#[derive(Debug, PartialEq, Eq)]
enum Want {
    Sent(u64, u64),
    Dropped(u64, DropReason),
    Retry(u64, &'static str, Option<u64>),
}

struct Row {
    case: &'static str,
    items: u64,
    /// A limit announced before: (key, `X-Sentry-Rate-Limits`).
    held: Option<(&'static str, &'static str)>,
    steps: Vec<Step>,
    /// The actions the job asked for, in order.
    path: &'static str,
    want: Vec<Want>,
}

fn resolved(step: Step) -> Resolved {
    match step {
        Step::Found(key) => Resolved::Found(endpoint(key)),
        Step::Missing => Resolved::ProjectMissing,
        Step::OrgMissing => Resolved::OrganizationMissing {
            problem: "organization acme not found".into(),
        },
        Step::Pending => Resolved::Pending {
            waited: Duration::from_secs(2),
        },
        Step::Mgmt(status, reset) => {
            let reset = reset.map(|s| (1_700_000_000 + s).to_string());
            let headers = RateLimitHeaders {
                reset: reset.as_deref(),
                retry_after: None,
            };
            let status = reqwest::StatusCode::from_u16(status).unwrap();
            let error: MgmtError = failure(status, &headers, b"", wall());
            failed(ResolveError::Mgmt(error))
        }
        _ => panic!("a lookup was asked for"),
    }
}

fn answer(step: Step, key: &str, limits: &RateLimits, now: Instant) -> Answer {
    match step {
        Step::Http(status, rate_limits, retry_after, body) => {
            let reply = Reply::Http(status, rate_limits, retry_after, body);
            replies::answer(reply, key, Category::Spans, partial_success, limits, now)
        }
        Step::NoAnswer(answer) => answer,
        _ => panic!("a send was asked for"),
    }
}

/// Runs one row's steps; returns the path taken and the outcomes.
fn run(
    case: &str,
    items: u64,
    held: Option<(&str, &str)>,
    steps: Vec<Step>,
) -> (String, Vec<Want>) {
    let now = Instant::now();
    let limits = RateLimits::default();
    if let Some((key, header)) = held {
        replies::announced(&limits, key, header, now);
    }
    let mut steps = steps.into_iter();
    let mut step = || {
        steps
            .next()
            .unwrap_or_else(|| panic!("{case}: out of steps"))
    };
    // Every row's service is a Node.js one: a creation asks for a `node` project.
    let mut job = Job::new(Spans(items)).with_platform("node");
    let (mut event, mut path) = (Event::Start, Vec::new());
    loop {
        event = match job.step(event, now, &limits) {
            Action::LookUp => {
                path.push("look up");
                Event::LookedUp(resolved(step()))
            }
            Action::LookUpAgain { .. } => {
                path.push("look up again");
                Event::LookedUp(resolved(step()))
            }
            Action::RequestCreation { platform } => {
                path.push(match platform {
                    "node" => "create node",
                    _ => panic!("{case}: a creation as {platform}"),
                });
                Event::Admitted(match step() {
                    Step::Admit(admission) => admission,
                    _ => panic!("{case}: a creation was asked for"),
                })
            }
            Action::Send { endpoint, piece } => {
                path.push(if piece.0 == items {
                    "send"
                } else {
                    "send half"
                });
                Event::Answered(answer(step(), &endpoint.public_key, &limits, now))
            }
            Action::Done(outcomes) => {
                let wants = outcomes.into_iter().map(want).collect();
                return (path.join(", "), wants);
            }
        }
    }
}

fn want(outcome: Outcome<Spans>) -> Want {
    match outcome {
        Outcome::Sent {
            items, rejected, ..
        } => Want::Sent(items, rejected),
        Outcome::Dropped { items, reason, .. } => Want::Dropped(items, reason),
        Outcome::Retry {
            items,
            reason,
            delay,
            ..
        } => Want::Retry(items, reason.label(), delay.map(|d| d.as_secs())),
    }
}

const PROJECT_ID_403: &[u8] = br#"{"detail":"event submission rejected with_reason: ProjectId"}"#;
const FEATURE_403: &[u8] =
    br#"{"detail":"event submission rejected with_reason: FeatureDisabled(OurLogsIngestion)"}"#;
/// `partial_success { rejected_spans: 3, error_message: "too old" }`
const PARTIAL: &[u8] = &[
    0x0a, 0x0b, 0x08, 0x03, 0x12, 0x07, b't', b'o', b'o', b' ', b'o', b'l', b'd',
];

fn http(status: u16) -> Step {
    Step::Http(status, None, None, b"")
}

fn rows() -> Vec<Row> {
    use Step::*;
    use Want::*;
    let row = |case, items, steps, path, want| Row {
        case,
        items,
        held: None,
        steps,
        path,
        want,
    };
    let held = |case, key, header| Row {
        case,
        items: 4,
        held: Some((key, header)),
        steps: vec![Found(KEY)],
        path: "look up",
        want: vec![Retry(4, "rate_limited", Some(60))],
    };
    let looked_up = "look up, send";
    vec![
        row(
            "2xx",
            4,
            vec![Found(KEY), http(200)],
            looked_up,
            vec![Sent(4, 0)],
        ),
        row(
            "2xx with partial_success",
            4,
            vec![Found(KEY), Http(200, None, None, PARTIAL)],
            looked_up,
            vec![Sent(4, 3)],
        ),
        row(
            "400: halved until the bad item is alone, only it dropped",
            4,
            vec![
                Found(KEY),
                http(400),
                http(400),
                http(200),
                http(400),
                http(200),
            ],
            "look up, send, send half, send half, send half, send half",
            vec![Sent(1, 0), Dropped(1, DropReason::Rejected), Sent(2, 0)],
        ),
        row(
            "400 of a single item",
            1,
            vec![Found(KEY), http(400)],
            looked_up,
            vec![Dropped(1, DropReason::Rejected)],
        ),
        row(
            "415",
            4,
            vec![Found(KEY), http(415)],
            looked_up,
            vec![Dropped(4, DropReason::Rejected)],
        ),
        row(
            "403 FeatureDisabled",
            4,
            vec![Found(KEY), Http(403, None, None, FEATURE_403)],
            looked_up,
            vec![Dropped(4, DropReason::FeatureDisabled)],
        ),
        row(
            "other 403",
            4,
            vec![Found(KEY), Http(403, None, None, b"forbidden")],
            looked_up,
            vec![Dropped(4, DropReason::Rejected)],
        ),
        row(
            "413: halves sent",
            4,
            vec![Found(KEY), http(413), http(200), http(200)],
            "look up, send, send half, send half",
            vec![Sent(2, 0), Sent(2, 0)],
        ),
        row(
            "413 of a single item",
            1,
            vec![Found(KEY), http(413)],
            looked_up,
            vec![Dropped(1, DropReason::TooLarge)],
        ),
        row(
            "401: fresh key, sent again",
            4,
            vec![Found(KEY), http(401), Found(FRESH_KEY), http(200)],
            "look up, send, look up again, send",
            vec![Sent(4, 0)],
        ),
        row(
            "403 ProjectId: fresh key, sent again",
            4,
            vec![
                Found(KEY),
                Http(403, None, None, PROJECT_ID_403),
                Found(FRESH_KEY),
                http(200),
            ],
            "look up, send, look up again, send",
            vec![Sent(4, 0)],
        ),
        row(
            "401 again after a fresh lookup",
            4,
            vec![Found(KEY), http(401), Found(KEY), http(401)],
            "look up, send, look up again, send",
            vec![Retry(4, "key_refused", None)],
        ),
        row(
            "429 with X-Sentry-Rate-Limits",
            4,
            vec![Found(KEY), Http(429, Some("30:span:key"), None, b"")],
            looked_up,
            vec![Retry(4, "too_many_requests", Some(30))],
        ),
        row(
            "429 with Retry-After seconds",
            4,
            vec![Found(KEY), Http(429, None, Some("12"), b"")],
            looked_up,
            vec![Retry(4, "too_many_requests", Some(12))],
        ),
        row(
            "429 with Retry-After HTTP date",
            4,
            vec![
                Found(KEY),
                Http(429, None, Some("Tue, 14 Nov 2023 22:13:27 GMT"), b""),
            ],
            looked_up,
            vec![Retry(4, "too_many_requests", Some(7))],
        ),
        row(
            "429 with neither",
            4,
            vec![Found(KEY), http(429)],
            looked_up,
            vec![Retry(4, "too_many_requests", Some(60))],
        ),
        row(
            "5xx",
            4,
            vec![Found(KEY), http(503)],
            looked_up,
            vec![Retry(4, "unavailable", None)],
        ),
        row(
            "5xx with Retry-After",
            4,
            vec![Found(KEY), Http(502, None, Some("5"), b"")],
            looked_up,
            vec![Retry(4, "unavailable", Some(5))],
        ),
        row(
            "ingest 404",
            4,
            vec![Found(KEY), http(404)],
            looked_up,
            vec![Retry(4, "unavailable", None)],
        ),
        row(
            "transport error",
            4,
            vec![
                Found(KEY),
                NoAnswer(Answer::Unavailable {
                    reason: "connection refused".into(),
                    delay: None,
                }),
            ],
            looked_up,
            vec![Retry(4, "unavailable", None)],
        ),
        row(
            "timeout",
            4,
            vec![
                Found(KEY),
                NoAnswer(Answer::TimedOut {
                    reason: "no answer".into(),
                }),
            ],
            looked_up,
            vec![Retry(4, "timed_out", Some(10))],
        ),
        held("a limit holding for the key", KEY, "60:span:key"),
        held(
            "a limit holding for the organization",
            OTHER_KEY,
            "60:span:organization",
        ),
        Row {
            held: Some((KEY, "60:log_item;error;trace_metric:key")),
            ..row(
                "a limit on other data does not hold",
                4,
                vec![Found(KEY), http(200)],
                looked_up,
                vec![Sent(4, 0)],
            )
        },
        row(
            "project being created",
            4,
            vec![Missing, Admit(Admission::InProgress)],
            "look up, create node",
            vec![Retry(4, "being_created", Some(1))],
        ),
        row(
            "creation queue full",
            4,
            vec![Missing, Admit(Admission::QueueFull)],
            "look up, create node",
            vec![Retry(4, "creation_queue_full", Some(5))],
        ),
        row(
            "creation failed recently",
            4,
            vec![
                Missing,
                Admit(Admission::FailedRecently {
                    retry_in: Duration::from_secs(20),
                    reason: "500".into(),
                }),
            ],
            "look up, create node",
            vec![Retry(4, "creation_failed", Some(20))],
        ),
        row(
            "404 with auto-create off",
            4,
            vec![Missing, Admit(Admission::Off)],
            "look up, create node",
            vec![Dropped(4, DropReason::ProjectNotFound)],
        ),
        row(
            "404 with max_created_projects reached",
            4,
            vec![Missing, Admit(Admission::LimitReached)],
            "look up, create node",
            vec![Dropped(4, DropReason::ProjectNotFound)],
        ),
        row(
            "organization not found",
            4,
            vec![OrgMissing],
            "look up",
            vec![Retry(4, "organization_missing", Some(30))],
        ),
        row(
            "lookup still running",
            4,
            vec![Pending],
            "look up",
            vec![Retry(4, "lookup_pending", Some(5))],
        ),
        row(
            "management 401",
            4,
            vec![Mgmt(401, None)],
            "look up",
            vec![Retry(4, "lookup_failed", None)],
        ),
        row(
            "management 403",
            4,
            vec![Mgmt(403, None)],
            "look up",
            vec![Retry(4, "lookup_failed", None)],
        ),
        row(
            "management 429",
            4,
            vec![Mgmt(429, Some(40))],
            "look up",
            vec![Retry(4, "lookup_failed", Some(40))],
        ),
        row(
            "management 5xx",
            4,
            vec![Mgmt(502, None)],
            "look up",
            vec![Retry(4, "lookup_failed", None)],
        ),
    ]
}

#[test]
fn every_failure_case_of_one_projects_data() {
    for row in rows() {
        let Row {
            case,
            items,
            held,
            steps,
            path,
            want,
        } = row;
        let (taken, got) = run(case, items, held, steps);
        assert_eq!(taken, path, "{case}: path");
        assert_eq!(got, want, "{case}: outcomes");
    }
}

/// One item of `size`, which a 413 makes 10 smaller, down to 10.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shrinking(u64);

impl Piece for Shrinking {
    fn items(&self) -> u64 {
        1
    }

    fn category(&self) -> Category {
        Category::Errors
    }

    fn halve(&self) -> Option<(Shrinking, Shrinking)> {
        None
    }

    fn shrink(&self) -> Option<Shrinking> {
        (self.0 > 10).then(|| Shrinking(self.0 - 10))
    }
}

#[test]
fn a_single_item_too_large_is_sent_smaller_until_it_cannot_shrink() {
    let now = Instant::now();
    let limits = RateLimits::default();
    let too_large = || Event::Answered(Answer::TooLarge);
    let mut job = Job::new(Shrinking(30));
    assert_eq!(job.step(Event::Start, now, &limits), Action::LookUp);
    let found = Event::LookedUp(Resolved::Found(endpoint(KEY)));
    let sent = |action: Action<'_, Shrinking>| match action {
        Action::Send { piece, .. } => piece.0,
        other => panic!("{other:?}"),
    };
    assert_eq!(sent(job.step(found, now, &limits)), 30);
    assert_eq!(sent(job.step(too_large(), now, &limits)), 20);
    assert_eq!(sent(job.step(too_large(), now, &limits)), 10);
    let Action::Done(outcomes) = job.step(too_large(), now, &limits) else {
        panic!("done")
    };
    assert!(matches!(
        outcomes[..],
        [Outcome::Dropped {
            items: 1,
            reason: DropReason::TooLarge,
            ..
        }]
    ));
}

#[test]
fn a_job_of_a_service_without_a_known_language_creates_an_other_project() {
    let now = Instant::now();
    let limits = RateLimits::default();
    let mut job = Job::new(Spans(1));
    assert_eq!(job.step(Event::Start, now, &limits), Action::LookUp);
    let missing = Event::LookedUp(Resolved::ProjectMissing);
    assert_eq!(
        job.step(missing, now, &limits),
        Action::RequestCreation { platform: "other" }
    );
}

/// Runs `job` against an ingest that answers each piece with `answer`; returns the sizes of
/// the pieces sent and the outcomes.
fn drive(mut job: Job<Spans>, answer: impl Fn(&Spans) -> Answer) -> (Vec<u64>, Vec<Want>) {
    let (now, limits) = (Instant::now(), RateLimits::default());
    let (mut event, mut sent) = (Event::Start, Vec::new());
    loop {
        event = match job.step(event, now, &limits) {
            Action::LookUp => Event::LookedUp(Resolved::Found(endpoint(KEY))),
            Action::Send { piece, .. } => {
                sent.push(piece.0);
                Event::Answered(answer(piece))
            }
            Action::Done(outcomes) => return (sent, outcomes.into_iter().map(want).collect()),
            other => panic!("{other:?}"),
        }
    }
}

fn unavailable() -> Answer {
    Answer::Unavailable {
        reason: "503".into(),
        delay: None,
    }
}

#[test]
fn an_in_order_job_sends_nothing_after_a_piece_to_retry() {
    use Want::*;
    let pieces = || vec![Spans(2), Spans(3), Spans(4)];
    let second_fails = |piece: &Spans| match piece.0 {
        3 => unavailable(),
        _ => Answer::Accepted {
            rejected: 0,
            message: String::new(),
        },
    };
    let retried = |items| Retry(items, "unavailable", None);
    assert_eq!(
        drive(Job::in_order(pieces()), second_fails),
        (vec![2, 3], vec![Sent(2, 0), retried(3), retried(4)])
    );
    assert_eq!(
        drive(Job::of(pieces(), false), second_fails),
        (vec![2, 3, 4], vec![Sent(2, 0), retried(3), Sent(4, 0)]),
        "pieces of spans are independent"
    );
}

#[test]
fn an_ingest_refusing_everything_with_400_costs_a_bounded_number_of_requests() {
    let refused = |_: &Spans| Answer::Rejected {
        status: 400,
        message: "bad".into(),
        reason: DropReason::Rejected,
    };
    let (sent, outcomes) = drive(Job::new(Spans(10_000)), refused);
    assert_eq!(sent.len() as u32, 1 + 2 * MAX_REJECTED_HALVINGS);
    let dropped: u64 = outcomes
        .iter()
        .map(|outcome| match outcome {
            Want::Dropped(items, DropReason::Rejected) => *items,
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(dropped, 10_000);
}
