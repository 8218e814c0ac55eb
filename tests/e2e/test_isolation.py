"""One sick project costs the others nothing: while `sick`'s project lookup, OTLP ingest or
envelope endpoint hangs, `healthy`, whose data shares every batch with `sick`'s, gets at least
99 % of its spans, log records and metric points within 2 s of sending them, with the default
queue; once `sick` recovers, its data arrives exactly once (with `file_storage` too, across a
restart of the collector). Each project has its own queue, consumers and retries."""

import signal
import time

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs

from conftest import collector_config, wait_until
from test_hostile import attribute, post, post_traces, resource_metric, resource_spans, sentry

TICKS, TICK = 100, 0.2  # 20 s of steady sending
ON_TIME = 2.0
# Answers after the exporter's timeouts (10 s), recording nothing: a hanging endpoint.
HANG = {"status": 503, "delay_ms": 600_000}
# Counters of the stand-in's records, per signal, and the ones that count distinct items.
COUNTS = {"spans": "span_distinct", "logs": "log_total", "metrics": "trace_metric_total"}

# The signals of `sick` each fault holds back.
HELD = {"lookup": ["spans", "logs", "metrics"], "otlp_ingest": ["spans", "logs"], "envelopes": ["metrics"]}
FAULTS = {
    # `sick` is a new service: its project does not exist yet, and its lookup, the first step
    # to creating it, hangs.
    "lookup": [{"target": "mgmt", "path_contains": "/projects/acme/sick/keys/", "hang": True}],
    "otlp_ingest": [{"target": "ingest", "project": "sick", "signal": s, **HANG} for s in ("traces", "logs")],
    "envelopes": [{"target": "ingest", "project": "sick", "signal": "envelope", **HANG}],
}


def config(standin, **settings):
    """Traces, logs and metrics through `batch` (so each batch holds both services) to the
    sentry exporter, default queue; short timeouts and retries so that the test ends soon."""
    return collector_config(sentry(standin, timeout="10s", http={"timeout": "10s"}, **settings),
                            signals=("traces", "logs", "metrics"))


def logs(service, tick):
    resource = ResourceLogs()
    resource.resource.attributes.append(attribute("service.name", service))
    record = resource.scope_logs.add().log_records.add()
    record.time_unix_nano = time.time_ns()
    record.body.string_value = f"tick {tick}"
    return resource


def metrics(service, tick):
    resource, metric = resource_metric(service, "queue.depth")
    point = metric.gauge.data_points.add()
    point.time_unix_nano = time.time_ns()
    point.as_int = tick
    return resource


def counts(standin, project):
    record = standin.records()["projects"].get(project) or {}
    return {signal: record.get(key, 0) for signal, key in COUNTS.items()}


def send_steadily(collector, standin):
    """Sends one span, log record and metric point of each service every TICK, and polls what
    arrived for `healthy` meanwhile. Returns when each tick was sent and when `healthy`'s
    counts were seen, as [(time, counts)]."""
    sent, seen = [], []
    start = time.monotonic()
    for tick in range(TICKS):
        post_traces(collector, resource_spans("healthy", 1, first=tick), resource_spans("sick", 1, first=tick))
        post(collector, "/v1/logs", ExportLogsServiceRequest(resource_logs=[logs("healthy", tick), logs("sick", tick)]))
        post(collector, "/v1/metrics",
             ExportMetricsServiceRequest(resource_metrics=[metrics("healthy", tick), metrics("sick", tick)]))
        sent.append(time.monotonic())
        while time.monotonic() < start + (tick + 1) * TICK:
            seen.append((time.monotonic(), counts(standin, "healthy")))
            time.sleep(0.05)
    end = time.monotonic() + ON_TIME
    while time.monotonic() < end:
        seen.append((time.monotonic(), counts(standin, "healthy")))
        time.sleep(0.05)
    return sent, seen


def late_ticks(sent, seen):
    """Per signal, the ticks whose item of `healthy` had not arrived ON_TIME after it was sent."""
    late = {}
    for name in COUNTS:
        late[name] = [i for i, at in enumerate(sent)
                      if not any(t <= at + ON_TIME and c[name] >= i + 1 for t, c in seen)]
    return late


def assert_healthy_on_time(sent, seen):
    late = late_ticks(sent, seen)
    print({name: len(ticks) for name, ticks in late.items()})
    for name, ticks in late.items():
        assert len(ticks) <= TICKS // 100, f"{len(ticks)} of {TICKS} {name} of healthy late: ticks {ticks}"


def assert_sick_exactly_once(standin):
    wanted = {name: TICKS for name in COUNTS}
    try:
        wait_until("every item of sick to arrive", lambda: counts(standin, "sick") == wanted, timeout=90)
    finally:
        print("sick:", counts(standin, "sick"))
    time.sleep(2)
    record = standin.records()["projects"]["sick"]
    assert counts(standin, "sick") == wanted
    assert record["span_total"] == TICKS, "a span arrived twice"
    assert all(n == 1 for n in record["spans"].values())


@pytest.mark.parametrize("fault", FAULTS)
def test_a_sick_project_costs_the_others_nothing(fault, start_standin, launch_collector):
    new_sick = fault == "lookup"
    standin = start_standin("--projects", "healthy" if new_sick else "healthy,sick")
    standin.fault(FAULTS[fault])
    collector = launch_collector(config(standin, auto_create_projects=new_sick))
    sent, seen = send_steadily(collector, standin)
    assert_healthy_on_time(sent, seen)
    arrived = counts(standin, "sick")
    assert all(arrived[name] == 0 for name in HELD[fault]), f"the fault let data of sick through: {arrived}"
    standin.control("DELETE", "faults")
    assert_sick_exactly_once(standin)


def test_a_sick_projects_queue_survives_a_restart(tmp_path, start_standin, launch_collector):
    standin = start_standin("--projects", "healthy,sick")
    standin.fault(FAULTS["otlp_ingest"])

    def persistent():
        cfg = config(standin, sending_queue={"storage": "file_storage"})
        cfg["extensions"]["file_storage"] = {"directory": str(tmp_path)}
        cfg["service"]["extensions"].append("file_storage")
        return cfg

    first = launch_collector(persistent())
    sent, seen = send_steadily(first, standin)
    assert_healthy_on_time(sent, seen)
    first.process.proc.send_signal(signal.SIGTERM)
    assert first.process.proc.wait(timeout=15) == 0
    arrived = counts(standin, "sick")
    assert arrived["spans"] == arrived["logs"] == 0, arrived

    standin.control("DELETE", "faults")
    launch_collector(persistent())
    # Only the signals whose ingest hung were queued on disk; metrics went out meanwhile.
    assert_sick_exactly_once(standin)
