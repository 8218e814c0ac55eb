"""Exceptions become Sentry error events: real exceptions raised by the OpenTelemetry Python SDK
(exceptions_client.py) and the JS SDK (node_client/), recorded on spans and logged, each reach
their service's project as exactly one error event in an envelope, with its type, value, frames,
trace context, release and environment; an exception both recorded on its span and logged in it
is one event; the spans and log records still arrive once each; and under Sentry's answers to
envelopes (an `error` rate limit, 413, 503) every exception still arrives once, with no envelope
sent while the limit holds.

The stand-in checks each event as relay's event processing does: `event_drops` lists events
relay would drop, `event_notes` what it would change in those it keeps; both must stay empty."""

import json
import sys
import time
from pathlib import Path

from conftest import run, run_node_client, wait_until

HERE = Path(__file__).parent
PYTHON_CLIENT = HERE / "exceptions_client.py"
NODE_CLIENT = HERE / "node_client"
# The span each exception kind "span"/"both" was recorded on, by exception type (the clients'
# span names): the event's `transaction`.
SPAN_NAMES = {"ValueError": "checkout", "TimeoutError": "payout", "PaymentError": "charge"}
# The envelope rate limit of the fault test, and how late a request already on the wire may land.
LIMIT_S = 5
IN_FLIGHT_GRACE_MS = 1000


def sentry_config(standin):
    return {
        "url": standin.api,
        "org_slug": standin.org,
        "auth_token": standin.token,
        "errors": {"enabled": True, "from_logs": True},
        "sending_queue": {"enabled": True},
        "retry_on_failure": {"enabled": True, "initial_interval": "100ms", "max_interval": "1s"},
    }


def python_client(collector, service, version, environment):
    out = run([sys.executable, PYTHON_CLIENT, "--endpoint", collector.http_endpoint, "--service", service,
               "--version", version, "--environment", environment])
    return json.loads(out.strip().splitlines()[-1])


def node_client(collector, service, version, environment):
    return run_node_client(NODE_CLIENT, "--endpoint", collector.http_endpoint, "--service", service,
                           "--version", version, "--environment", environment)


def main_exception(event):
    """The exception that was raised: the newest of the chain (values are oldest first)."""
    return event["exception"]["values"][-1]


def wait_for_events(standin, expected):
    """Waits until every project of `expected` ({project: events}) has at least that many error
    events, then a moment for late duplicates. Returns the projects' records."""

    def arrived():
        projects = standin.records()["projects"]
        return all(projects[p]["event_total"] >= n for p, n in expected.items()) and projects

    wait_until("every error event to reach the stand-in", arrived, timeout=90)
    time.sleep(2)
    return standin.records()["projects"]


def assert_otlp_once(record, sent):
    """Every span and log record the client sent arrived once in this project, and nothing else."""
    duplicates = {k: n for k, n in {**record["spans"], **record["logs"]}.items() if n != 1}
    assert not duplicates, f"items received more than once: {duplicates}"
    assert set(record["spans"]) == set(sent["spans"])
    assert set(record["logs"]) == set(sent["logs"])
    assert record["services"] == [sent["service"]]


def assert_one_event_per_exception(record, sent, version, environment, platform):
    events = record["events"]
    assert not record["event_drops"], f"events relay would drop: {record['event_drops']}"
    assert not record["event_notes"], f"what relay would change in the events: {record['event_notes']}"
    assert len(events) == len(sent["exceptions"]), [main_exception(e) for e in events]
    assert len({e["event_id"].replace("-", "") for e in events}) == len(events), "event ids repeat"
    for exception in sent["exceptions"]:
        matching = [e for e in events if (main_exception(e).get("type"), main_exception(e).get("value"))
                    == (exception["type"], exception["message"])]
        assert len(matching) == 1, (exception, [main_exception(e) for e in events])
        event = matching[0]
        raised = main_exception(event)
        # sentry-types leaves out Sentry's defaults (level `error`, platform `other`).
        assert event.get("level", "error") == "error", event
        assert event.get("platform") == platform, event
        assert event["release"] == version, event
        assert event["environment"] == environment, event
        trace = event["contexts"]["trace"]
        assert trace["trace_id"] == exception["trace_id"], (exception, trace)
        assert trace["span_id"] == exception["span_id"], (exception, trace)
        # An exception both recorded and logged makes its event of whichever arrives first;
        # a log record does not name its span.
        if exception["kind"] == "span":
            assert event["transaction"] == SPAN_NAMES[exception["type"]], event
        # Where the exception was found (a "both" one: whichever arrived first).
        assert raised["mechanism"]["type"] in ("otel.span_event", "otel.log_record"), raised
        frames = raised["stacktrace"]["frames"]
        functions = [f.get("function", "") for f in frames]
        assert any(exception["function"] in f for f in functions), (exception, functions)
        # Oldest first: the raising function is the last frame.
        assert exception["function"] in functions[-1], (exception, functions)
        if "cause" in exception:
            types = [v.get("type") for v in event["exception"]["values"]]
            assert exception["cause"] in types[:-1], (exception, types)


def test_each_exception_is_one_error_event_in_its_services_project(start_standin, start_collector):
    standin = start_standin("--projects", "checkout,web")
    collector = start_collector(sentry_config(standin))

    python = python_client(collector, "checkout", "1.2.3", "staging")
    node = node_client(collector, "web", "2.0.1", "production")
    # Three exceptions from Python (one of them both recorded and logged), two from Node.
    assert len(python["exceptions"]) == 3 and len(node["exceptions"]) == 2

    def otlp_arrived():
        projects = standin.records()["projects"]
        return all(sum(projects[p]["spans"].values()) >= len(sent["spans"])
                   and sum(projects[p]["logs"].values()) >= len(sent["logs"])
                   for p, sent in (("checkout", python), ("web", node)))

    wait_until("the spans and log records", otlp_arrived, timeout=60)
    records = wait_for_events(standin, {"checkout": 3, "web": 2})
    assert_otlp_once(records["checkout"], python)
    assert_otlp_once(records["web"], node)
    assert_one_event_per_exception(records["checkout"], python, "1.2.3", "staging", "python")
    # telemetry.sdk.language is `nodejs`; relay's platform for it is `node`.
    assert_one_event_per_exception(records["web"], node, "2.0.1", "production", "node")

    # Sentry's filters read release and environment on spans and logs as Relay derives them:
    # the exporter stamps `sentry.release` from `service.version` (Relay maps none).
    for project, sent, version, environment in (("checkout", python, "1.2.3", "staging"),
                                                 ("web", node, "2.0.1", "production")):
        want = {"release": version, "environment": environment}
        for signal in ("span", "log"):
            derived = records[project][f"{signal}_release_environment"]
            ids = sent[f"{signal}s"]
            assert {i: derived.get(i) for i in ids} == {i: want for i in ids}, (project, signal)

    both = next(e for e in python["exceptions"] if e["kind"] == "both")
    same_span = [e for e in records["checkout"]["events"]
                 if e["contexts"]["trace"]["span_id"] == both["span_id"]]
    assert len(same_span) == 1, "recorded on the span and logged in it: one event"
    for project in ("checkout", "web"):
        envelopes = [r for r in records[project]["requests"] if r["signal"] == "envelope"]
        assert envelopes and all(r["status"] == 200 for r in envelopes), envelopes
        assert all(r["items"] == 1 for r in envelopes), "one event per envelope"
        assert all(r["path"].startswith(f"/api/{records[project]['id']}/envelope/") for r in envelopes)


def test_every_exception_arrives_once_through_rate_limits_413_and_503(start_standin, start_collector):
    standin = start_standin("--projects", "checkout")
    # The stand-in's matching rules all act on one request (a rate limit beside a status),
    # so the 413 and the 503s are set once the limit was answered.
    standin.fault({"target": "ingest", "project": "checkout", "signal": "envelope", "times": 1,
                   "rate_limit": {"categories": ["error"], "retry_after": LIMIT_S, "scope": "key"}})
    collector = start_collector(sentry_config(standin))

    python = python_client(collector, "checkout", "1.2.3", "staging")
    wait_until("the error limit", lambda: any(
        r["signal"] == "envelope" and r["status"] == 429
        for r in standin.records()["projects"]["checkout"]["requests"]), timeout=30)
    standin.fault([
        {"target": "ingest", "project": "checkout", "signal": "envelope", "status": 413, "times": 1},
        {"target": "ingest", "project": "checkout", "signal": "envelope", "status": 503, "times": 2},
    ])
    records = wait_for_events(standin, {"checkout": len(python["exceptions"])})
    record = records["checkout"]
    assert_one_event_per_exception(record, python, "1.2.3", "staging", "python")
    wait_until("the spans and log records", lambda: (
        sum(standin.records()["projects"]["checkout"]["spans"].values()) >= len(python["spans"])
        and sum(standin.records()["projects"]["checkout"]["logs"].values()) >= len(python["logs"])), timeout=60)
    assert_otlp_once(standin.records()["projects"]["checkout"], python)

    envelopes = [r for r in record["requests"] if r["signal"] == "envelope"]
    statuses = [r["status"] for r in envelopes]
    print("envelope answers:", [(r["at_ms"], r["status"], r["fault"]) for r in envelopes])
    assert statuses.count(413) == 1 and statuses.count(503) == 2, statuses
    limits = [r for r in envelopes if r["status"] == 429]
    assert len(limits) == 1, statuses
    limit_at = limits[0]["at_ms"]
    during = [r for r in envelopes
              if limit_at + IN_FLIGHT_GRACE_MS < r["at_ms"] < limit_at + LIMIT_S * 1000]
    assert not during, f"envelopes sent while the error limit held: {during}"
