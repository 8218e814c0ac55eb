"""SIGTERM ends the collector within seconds while Sentry accepts connections and never
answers: the exporter tells its core to wind down before exporterhelper drains the queue, so
neither the exports in flight nor each queued batch wait out the export timeout."""

import gzip
import http.server
import re
import subprocess
import threading
import time
import urllib.error

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (ExportMetricsServiceRequest,
                                                                         ExportMetricsServiceResponse)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs

from conftest import collector_config, scrape, projects_value, value, wait_until
from harness import attribute, post
from test_hostile import post_traces, resource_spans

# A clean exit within this bound, as `podman stop` and the image test expect.
EXIT_BOUND_S = 10
# Batches sent: a drain that pushes each queued one for the whole timeout, 10 consumers at a
# time, would take several timeouts.
BATCHES = 40


def terminate(collector):
    """SIGTERM, then the exit code and the seconds it took; fails past EXIT_BOUND_S."""
    began = time.monotonic()
    collector.process.proc.terminate()
    try:
        code = collector.process.proc.wait(EXIT_BOUND_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the collector was still running {EXIT_BOUND_S}s after SIGTERM")
    took = time.monotonic() - began
    print(f"exited with {code} after {took:.1f}s")
    return code, took


def never_answer(standin):
    """Ingest holds every request without answering. Returns a function telling how many
    requests are held now, None when the stand-in cannot say."""
    try:
        standin.fault({"target": "ingest", "hang": True})
        return lambda: standin.records(ids=False).get("requests_hanging")
    except urllib.error.HTTPError:
        # A stand-in without `hang`: a delay far beyond every timeout never answers in time.
        standin.fault({"target": "ingest", "delay_ms": 600000})
        return lambda: None


@pytest.mark.parametrize("timeout", ["5s", None], ids=["timeout-5s", "default-timeout"])
def test_sigterm_exits_soon_while_sentry_never_answers(start_standin, launch_collector, timeout):
    standin = start_standin("--projects", "frontend")
    held = never_answer(standin)
    # Without batching each request is one batch of the queue: BATCHES of them, far more than
    # the queue's 10 consumers, so that exporterhelper's drain at shutdown has many queued
    # batches to push, ten at a time.
    sentry = {"url": standin.api, "org_slug": standin.org, "auth_token": standin.token,
              "sending_queue": {"batch": {"enabled": False}}}
    if timeout:
        sentry["timeout"] = timeout
    config = collector_config(sentry)
    collector = launch_collector(config)
    for i in range(BATCHES):
        post_traces(collector, resource_spans("frontend", 5, first=5 * i))

    def waiting():
        metrics = scrape(collector.metrics_url)
        exporting = projects_value(metrics, "otelcol_exporter_in_flight_requests")
        # The queue's size counts the batches in flight too.
        queued = projects_value(metrics, "otelcol_exporter_queue_size") - exporting
        hanging = held()
        return (exporting >= 1 and queued >= BATCHES - 10 and (hanging is None or hanging >= 1)
                and (exporting, queued, hanging))

    exporting, queued, hanging = wait_until("exports waiting on Sentry and batches queued", waiting, timeout=20)
    print(f"{exporting:.0f} exports in flight, {hanging} requests held by the stand-in, {queued:.0f} batches queued")

    code, took = terminate(collector)
    assert code == 0, collector.process.output()[-3000:]
    assert took < EXIT_BOUND_S


# --- every item accounted for at shutdown ---------------------------------------------------

# Projects whose ingest fails (see FAULTS), and one that works.
HANGING = ("frontend", "backend")
HEALTHY = "payments"
# Requests per project and signal, items per request: 3 projects x 2 signals x 30 x 5 = 900
# items. 30 requests of a project and signal are more than its queue's 10 consumers: at
# SIGTERM, 10 batches of each sick queue are being exported (or wait to be retried) and 20 are
# queued.
REQUESTS = 30
PER_REQUEST = 5
SIGNALS = {"spans": "traces", "log records": "logs"}
# The exporter's lines: "N spans of project P dropped at shutdown: <reason>", and with a
# persistent queue "at least N spans of project P kept in the persistent queue ...".
DROPPED_AT_SHUTDOWN = re.compile(r"(\d+) (spans?|log records?) of project (\S+) dropped at shutdown")
KEPT_AT_SHUTDOWN = re.compile(r"at least (\d+) (spans?|log records?) of project (\S+) kept in the persistent queue")
# exporterhelper's own error lines, shown for comparison (the collector's logger samples them).
EXPORTERHELPER_DROPPED = re.compile(r'Exporting failed\..*"(?:dropped|rejected)_items": (\d+)')


def resource_logs(service, n, first=0):
    """`n` log records of `service`, with distinct uids from `first` on."""
    rl = ResourceLogs()
    rl.resource.attributes.append(attribute("service.name", service))
    scope = rl.scope_logs.add()
    for i in range(first, first + n):
        record = scope.log_records.add()
        record.time_unix_nano = time.time_ns()
        record.body.string_value = f"record {i}"
        record.attributes.append(attribute("log.record.uid", f"{service}-{i}"))
    return rl


class MetricsSink:
    """Takes the collector's own metrics, pushed over OTLP/HTTP (a periodic reader, which
    exports once more when the collector's telemetry shuts down, after every component), and
    keeps the last value of each series of `name`: {frozenset(attributes): value}."""

    def __init__(self, name):
        self.name, self.last = name, {}
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                sink.take(ExportMetricsServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()
                self.wfile.write(ExportMetricsServiceResponse().SerializeToString())

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/metrics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self, request):
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == self.name:
                        for point in metric.sum.data_points:
                            labels = frozenset((a.key, a.value.string_value) for a in point.attributes)
                            self.last[labels] = point.as_int

    def reader(self):
        # Its periodic exports matter less than the last one, at shutdown.
        return {"periodic": {"interval": 60000, "exporter": {"otlp": {"protocol": "http/protobuf", "endpoint": self.url}}}}

    def close(self):
        self.server.shutdown()


# How the sick projects' ingest fails. `hang`: no answer, and nothing kept (a rule with an
# answer waits its delay before answering and records no data): at SIGTERM their exports wait on
# Sentry, cut off by the core within 3 s. `503`: answered at once, so that at SIGTERM their
# batches wait out exporterhelper's backoff, which its shutdown gives up without another export.
FAULTS = {"hang": {"status": 503, "delay_ms": 600000}, "503": {"status": 503}}


@pytest.mark.parametrize("queue", ["memory", "persistent"])
@pytest.mark.parametrize("fault", FAULTS)
def test_every_item_not_sent_at_shutdown_is_logged_with_its_number(start_standin, launch_collector, tmp_path, fault,
                                                                   queue):
    standin = start_standin("--projects", ",".join((*HANGING, HEALTHY)))
    for project in HANGING:
        standin.fault({"target": "ingest", "project": project, **FAULTS[fault]})
    # Without batching, each request is a batch of its own: each of the queue's 10 consumers
    # of a sick project holds one.
    sending_queue = {"enabled": True, "num_consumers": 10, "queue_size": 1000, "batch": {"enabled": False}}
    sentry = {"url": standin.api, "org_slug": standin.org, "auth_token": standin.token, "sending_queue": sending_queue}
    config = collector_config(sentry)
    if queue == "persistent":
        (tmp_path / "storage").mkdir()
        config["extensions"]["file_storage"] = {"directory": str(tmp_path / "storage")}
        config["service"]["extensions"].append("file_storage")
        sending_queue["storage"] = "file_storage"
    sink = MetricsSink("otelcol_exporter_sentry_items_dropped")
    config["service"]["telemetry"] = {"metrics": {"readers": [sink.reader()]}}
    collector = launch_collector(config)

    sent = {signal: 0 for signal in SIGNALS}
    for i in range(REQUESTS):
        for project in (*HANGING, HEALTHY):
            first = PER_REQUEST * i
            post(collector, "/v1/traces", ExportTraceServiceRequest(
                resource_spans=[resource_spans(project, PER_REQUEST, first=first)]))
            post(collector, "/v1/logs", ExportLogsServiceRequest(
                resource_logs=[resource_logs(project, PER_REQUEST, first=first)]))
            sent["spans"] += PER_REQUEST
            sent["log records"] += PER_REQUEST
    assert sum(sent.values()) == 900

    def arrived():
        projects = standin.records(ids=False)["projects"]
        return {"spans": sum(p["span_distinct"] for p in projects.values()),
                "log records": sum(p["log_distinct"] for p in projects.values())}

    healthy = REQUESTS * PER_REQUEST
    wait_until("the healthy project's items to arrive",
               lambda: arrived() == {"spans": healthy, "log records": healthy}, timeout=30)

    def waiting():
        metrics = scrape(collector.metrics_url)
        exporting = projects_value(metrics, "otelcol_exporter_in_flight_requests")
        queued = projects_value(metrics, "otelcol_exporter_queue_size") - exporting
        return exporting >= 10 * len(HANGING) * len(SIGNALS) and (exporting, queued)

    exporting, queued = wait_until("the sick projects' exports to wait on Sentry or to retry", waiting, timeout=30)
    print(f"{fault}, {queue} queue: {exporting:.0f} exports in flight (or waiting to retry), {queued:.0f} batches queued")

    code, _ = terminate(collector)
    time.sleep(0.5)  # the rest of its output, and of its last metrics
    sink.close()
    output = collector.process.lines
    assert code == 0, "\n".join(output[-50:])

    def tally(pattern):
        total, by_project = {signal: 0 for signal in SIGNALS}, {}
        for line in output:
            for m in pattern.finditer(line):
                n, word, project = int(m.group(1)), m.group(2), m.group(3)
                signal = next(s for s in SIGNALS if s.startswith(word.rstrip("s")))
                total[signal] += n
                by_project[(project, signal)] = by_project.get((project, signal), 0) + n
        return total, by_project

    dropped, dropped_by_project = tally(DROPPED_AT_SHUTDOWN)
    kept, kept_by_project = tally(KEPT_AT_SHUTDOWN)
    helper = sum(int(n) for line in output for n in EXPORTERHELPER_DROPPED.findall(line))
    counted = {signal: v for labels, v in sink.last.items() if ("reason", "shutdown") in labels
               for key, signal in labels if key == "signal"}
    got = arrived()
    print(f"sent {sent}, arrived {got}, logged as dropped at shutdown {dropped}, as kept {kept}; "
          f"items_dropped{{reason=shutdown}} at exit {counted}; exporterhelper's lines name {helper} dropped items")
    unsent = {(project, signal): healthy for project in HANGING for signal in SIGNALS}
    for signal in SIGNALS:
        assert got[signal] + dropped[signal] + kept[signal] == sent[signal], (
            f"{signal}: {sent[signal]} sent, {got[signal]} arrived, {dropped[signal]} logged as dropped at shutdown, "
            f"{kept[signal]} as kept, {sent[signal] - got[signal] - dropped[signal] - kept[signal]} unaccounted for")
    if queue == "memory":
        assert dropped_by_project == unsent
        assert counted == {"traces": dropped["spans"], "logs": dropped["log records"], "metrics": 0}
    else:
        # Nothing was restored from before this start: the lower bound is exact.
        assert kept_by_project == unsent
        assert dropped == {signal: 0 for signal in SIGNALS}
        assert counted == {"traces": 0, "logs": 0, "metrics": 0}
