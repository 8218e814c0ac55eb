"""The exporter's own metrics, scraped from the running collector's telemetry
endpoint, agree with what the stand-in saw."""

import sys
import time
from pathlib import Path

from conftest import collector_config, run, scrape, value, wait_until

SDK_CLIENT = Path(__file__).with_name("sdk_client.py")
def test_metrics_match_what_sentry_saw(start_standin, start_collector, telemetrygen):
    standin = start_standin("--projects", "frontend")
    collector = start_collector({
        "url": standin.api, "org_slug": standin.org, "auth_token": standin.token,
        "auto_create_projects": True,
        "retry_on_failure": {"enabled": True, "initial_interval": "100ms"},
    })
    # A span limit on frontend's first batch; its second batch comes while the limit holds.
    standin.fault({"target": "ingest", "project": "frontend", "signal": "traces", "status": 429,
                   "headers": {"X-Sentry-Rate-Limits": "5:span:key:test"}, "times": 1})
    def frontend_traces(traces):
        run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
             "--service", "frontend", "--traces", traces, "--rate", 1000])

    frontend_traces(10)
    wait_until("the 429", lambda: any(
        r["status"] == 429 for r in standin.records()["projects"]["frontend"]["requests"]))
    frontend_traces(50)
    run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
         "--service", "brand-new", "--traces", 10, "--rate", 1000])
    unnamed = 15
    run([sys.executable, SDK_CLIENT, "--protocol", "grpc", "--endpoint", collector.grpc_endpoint,
         "--service", "", "--spans", unnamed, "--logs", 0])

    def settled():
        projects = standin.records()["projects"]
        return (sum(projects.get("frontend", {}).get("spans", {}).values()) >= 120
                and sum(projects.get("brand-new", {}).get("spans", {}).values()) >= 20)

    wait_until("every span to arrive", settled, timeout=60)
    time.sleep(1)
    records = standin.records()
    metrics = wait_until("the metrics to catch up",
                         lambda: (m := scrape(collector.metrics_url))
                         and value(m, "items_sent", signal="traces") >= 140 and m)

    received = sum(sum(p["spans"].values()) for p in records["projects"].values())
    answers = [r["status"] for p in records["projects"].values() for r in p["requests"]]
    print({k: v for k, v in metrics.items() if v})
    assert value(metrics, "items_sent", signal="traces") == received == 140
    assert value(metrics, "items_dropped", signal="traces", reason="missing_attribute") == unnamed
    assert value(metrics, "items_rate_limited", signal="traces") > 0
    assert value(metrics, "ingest_requests", status_class="429") == answers.count(429) == 1
    assert value(metrics, "ingest_requests", status_class="2xx") == answers.count(200)
    assert value(metrics, "projects_created") == len(records["projects_created"]) == 1
    assert value(metrics, "management_calls", endpoint="create_project", result="ok") == 1
    assert value(metrics, "projects_cached") == 2
    # The Rust core's heap, which Go's runtime metrics cannot see: the cache, the runtime,
    # and every request it built are in there.
    assert value(metrics, "core_heap_bytes") > 0
    assert value(metrics, "core_allocations") > value(metrics, "items_sent", signal="traces")
    assert value(metrics, "core_allocated_bytes") > value(metrics, "core_heap_bytes")


def test_two_sentry_exporters_count_apart(start_standin, launch_collector, telemetrygen):
    """Two `sentry` exporters (as examples/kubernetes-gateway.yaml has) each have a core: each
    core's counts carry its exporter's id."""
    standin = start_standin("--projects", "frontend")
    sentry = {"url": standin.api, "org_slug": standin.org, "auth_token": standin.token}
    config = collector_config(sentry)
    config["exporters"]["sentry/logs"] = dict(sentry)
    config["service"]["pipelines"]["logs"]["exporters"] = ["sentry/logs"]
    collector = launch_collector(config)
    for signal, count in (("traces", "--traces"), ("logs", "--logs")):
        run([telemetrygen, signal, "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
             "--service", "frontend", count, 10, "--rate", 1000])
    metrics = wait_until("both exporters to count what they sent",
                         lambda: (m := scrape(collector.metrics_url))
                         and value(m, "items_sent", exporter="sentry/logs", signal="logs") >= 10
                         and value(m, "items_sent", exporter="sentry", signal="traces") >= 20 and m)
    assert value(metrics, "items_sent", exporter="sentry", signal="traces") == 20
    assert value(metrics, "items_sent", exporter="sentry/logs", signal="logs") == 10
    assert value(metrics, "items_sent", exporter="sentry", signal="logs") == 0
    assert value(metrics, "items_sent", exporter="sentry/logs", signal="traces") == 0
    assert value(metrics, "projects_cached", exporter="sentry") == 1
    assert value(metrics, "projects_cached", exporter="sentry/logs") == 1
