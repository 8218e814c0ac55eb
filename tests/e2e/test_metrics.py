"""OpenTelemetry metrics reach Sentry as trace metrics, each service's in its own project: from
the Python SDK (metrics_client.py) with cumulative and with delta temporality, exported every
second, a counter's items add up to exactly what was counted (cumulative series sent as deltas,
nothing counted twice across exports), a histogram of 10, 20, 30 and 40 shows in Sentry as the
SDK recorded it: count 4 and sum 100 extrapolated from its distribution items (Σ 1/rate and
Σ value/rate, rate being sentry.client_sample_rate), min 10 and max 40 (Sentry takes those as
they are); a gauge arrives with its value; every item names the service's resource
attributes as Relay names those of its spans and logs (`resource.service.name`).
telemetrygen's sums, gauges and histograms reach their project too. Under Sentry's
answers to envelopes (a `trace_metric` rate limit, then two 503s) the totals still hold exactly,
with no envelope sent while the limit holds.

The stand-in checks each trace metric as relay's processing does: `trace_metric_drops` lists the
items relay would drop, `trace_metric_notes` what it would change in those it keeps; both must
stay empty."""

import json
import subprocess
import sys
import time
from pathlib import Path

from conftest import collector_config, run, wait_until

HERE = Path(__file__).parent
CLIENT = HERE / "metrics_client.py"
SAMPLE_RATE = "sentry.client_sample_rate"
# The envelope rate limit of the fault test, and how late a request already on the wire may land.
LIMIT_S = 5
IN_FLIGHT_GRACE_MS = 1000


def metrics_collector(launch_collector, standin):
    """The collector with traces, logs and metrics pipelines to the sentry exporter."""
    sentry = {
        "url": standin.api,
        "org_slug": standin.org,
        "auth_token": standin.token,
        "sending_queue": {"enabled": True},
        "retry_on_failure": {"enabled": True, "initial_interval": "100ms", "max_interval": "1s"},
    }
    return launch_collector(collector_config(sentry, signals=("traces", "logs", "metrics")))


def client_args(collector, service, temporality, step_seconds=None):
    args = [sys.executable, CLIENT, "--endpoint", collector.http_endpoint, "--service", service,
            "--temporality", temporality]
    if step_seconds is not None:
        args += ["--step-seconds", str(step_seconds)]
    return args


def python_client(collector, service, temporality):
    out = run(client_args(collector, service, temporality))
    return json.loads(out.strip().splitlines()[-1])


def items(record, name, kind):
    return [m for m in record["trace_metrics"] if m.get("name") == name and m.get("type") == kind]


def sample_rate(item):
    return item.get("attributes", {}).get(SAMPLE_RATE, {}).get("value", 1.0)


def totals(record, sent):
    """What Sentry shows of the project's items: the counter's sum; the histogram's count()
    (Σ 1/rate) and sum() (Σ value/rate), extrapolated with each item's sample rate, and its
    min() and max(), which Sentry does not extrapolate; the gauge's values."""
    distribution = items(record, sent["histogram"]["name"], "distribution")
    values = [m["value"] for m in distribution]
    return {
        "counter": sum(m["value"] for m in items(record, sent["counter"]["name"], "counter")),
        "histogram_count": sum(1 / sample_rate(m) for m in distribution),
        "histogram_sum": sum(m["value"] / sample_rate(m) for m in distribution),
        "histogram_min": min(values, default=None),
        "histogram_max": max(values, default=None),
        "gauge": {m["value"] for m in items(record, sent["gauge"]["name"], "gauge")},
    }


def complete(record, sent):
    t = totals(record, sent)
    return (t["counter"] >= sent["counter"]["total"]
            and round(t["histogram_count"], 6) >= sent["histogram"]["count"] and t["gauge"])


def wait_for_metrics(standin, expected):
    """Waits until each project of `expected` ({project: the client's output}) has all of its
    client's metrics, then a moment for late duplicates. Returns the projects' records."""

    def arrived():
        projects = standin.records()["projects"]
        return all(complete(projects[p], sent) for p, sent in expected.items()) and projects

    wait_until("every trace metric to reach the stand-in", arrived, timeout=90)
    time.sleep(2)
    return standin.records()["projects"]


def assert_exact_totals(record, sent):
    assert not record["trace_metric_drops"], f"trace metrics relay would drop: {record['trace_metric_drops']}"
    assert not record["trace_metric_notes"], f"what relay would change: {record['trace_metric_notes']}"
    t = totals(record, sent)
    assert t["counter"] == sent["counter"]["total"], (t, items(record, sent["counter"]["name"], "counter"))
    # Each rate is 1/n for n data points: Σ 1/rate is whole, up to float rounding.
    assert round(t["histogram_count"], 6) == sent["histogram"]["count"], t
    assert abs(t["histogram_sum"] - sent["histogram"]["sum"]) <= 0.01 * sent["histogram"]["sum"], t
    assert (t["histogram_min"], t["histogram_max"]) == (sent["histogram"]["min"], sent["histogram"]["max"]), t
    assert t["gauge"] == {sent["gauge"]["value"]}, t
    for item in record["trace_metrics"]:
        assert 0 < sample_rate(item) <= 1, item
        assert_resource_keys(item, sent["service"])


def assert_resource_keys(item, service):
    """The resource's attributes under `resource.<key>`, as Relay converts OTLP spans and logs,
    none under their bare key."""
    attributes = item.get("attributes", {})
    assert attributes.get("resource.service.name") == {"type": "string", "value": service}, attributes
    assert attributes.get("resource.telemetry.sdk.language", {}).get("value") == "python", attributes
    bare = {"service.name", "telemetry.sdk.language", "telemetry.sdk.name"} & attributes.keys()
    assert not bare, f"bare resource keys {bare}: {attributes}"


def assert_envelopes(record):
    envelopes = [r for r in record["requests"] if r["signal"] == "envelope"]
    assert envelopes, "trace metrics came in envelopes"
    assert all(r["path"].startswith(f"/api/{record['id']}/envelope/") for r in envelopes), envelopes
    return envelopes


def test_metrics_are_trace_metrics_in_their_services_project(start_standin, launch_collector, telemetrygen):
    standin = start_standin("--projects", "metrics-cumulative,metrics-delta,metrics-telemetrygen")
    collector = metrics_collector(launch_collector, standin)

    cumulative = python_client(collector, "metrics-cumulative", "cumulative")
    delta = python_client(collector, "metrics-delta", "delta")
    for metric_type in ("Sum", "Gauge", "Histogram"):
        run([telemetrygen, "metrics", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
             "--metrics", "3", "--rate", "10", "--metric-type", metric_type, "--service", "metrics-telemetrygen"])

    records = wait_for_metrics(standin, {"metrics-cumulative": cumulative, "metrics-delta": delta})
    assert_exact_totals(records["metrics-cumulative"], cumulative)
    assert_exact_totals(records["metrics-delta"], delta)
    for project in ("metrics-cumulative", "metrics-delta"):
        envelopes = assert_envelopes(records[project])
        assert all(r["status"] == 200 for r in envelopes), envelopes

    wait_until("telemetrygen's trace metrics", lambda: standin.records()["projects"]["metrics-telemetrygen"]
               ["trace_metric_total"] > 0, timeout=60)
    generated = standin.records()["projects"]["metrics-telemetrygen"]
    assert not generated["trace_metric_drops"], generated["trace_metric_drops"]
    assert {m["type"] for m in generated["trace_metrics"]} <= {"counter", "gauge", "distribution"}
    assert "gauge" in {m["type"] for m in generated["trace_metrics"]}, generated["trace_metrics"]
    assert_envelopes(generated)
    python_names = {"orders.placed", "checkout.duration", "queue.depth"}
    assert not python_names & {m.get("name") for m in generated["trace_metrics"]}, "no other service's items"
    # Nothing arrived anywhere else.
    others = {slug: p["trace_metric_total"] for slug, p in standin.records(ids=False)["projects"].items()
              if not slug.startswith("metrics-")}
    assert not any(others.values()), others


def test_totals_hold_through_a_rate_limit_and_503s(start_standin, launch_collector):
    standin = start_standin("--projects", "metrics-faults")
    # The stand-in's matching rules all act on one request (a rate limit beside a status),
    # so the 503s are set once the limit was answered.
    standin.fault({"target": "ingest", "project": "metrics-faults", "signal": "envelope", "times": 1,
                   "rate_limit": {"categories": ["trace_metric"], "retry_after": LIMIT_S, "scope": "key"}})
    collector = metrics_collector(launch_collector, standin)

    # Long steps: the client still exports once the limit has ended, into the 503s.
    client = subprocess.Popen(client_args(collector, "metrics-faults", "cumulative", step_seconds=LIMIT_S + 2),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until("the trace_metric limit", lambda: any(
            r["signal"] == "envelope" and r["status"] == 429
            for r in standin.records()["projects"]["metrics-faults"]["requests"]), timeout=30)
        standin.fault({"target": "ingest", "project": "metrics-faults", "signal": "envelope", "status": 503,
                       "times": 2})
        out, err = client.communicate(timeout=60)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert client.returncode == 0, err
    sent = json.loads(out.strip().splitlines()[-1])

    record = wait_for_metrics(standin, {"metrics-faults": sent})["metrics-faults"]
    assert_exact_totals(record, sent)
    envelopes = assert_envelopes(record)
    statuses = [r["status"] for r in envelopes]
    print("envelope answers:", [(r["at_ms"], r["status"], r["fault"]) for r in envelopes])
    assert statuses.count(429) == 1 and statuses.count(503) == 2, statuses
    limit_at = next(r["at_ms"] for r in envelopes if r["status"] == 429)
    during = [r for r in envelopes if limit_at + IN_FLIGHT_GRACE_MS < r["at_ms"] < limit_at + LIMIT_S * 1000]
    assert not during, f"envelopes sent while the trace_metric limit held: {during}"
