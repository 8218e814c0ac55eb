"""An ordinary Sentry incident, as an operator meets it: Sentry's envelope endpoint answers 503
for a while, as it does during an outage of its event ingestion, while a JVM service keeps
sending spans whose exceptions carry 190 KB stack traces. The collector runs in a memory
cgroup of 1.5 GiB with `memory_limiter` as in examples/otel.yaml, as a Kubernetes pod runs it.

It must live through it; what it drops is counted with its reason (the events beyond
`errors.max_retry_mib` while they wait, `retry_queue_full`); every span arrives exactly once;
every exception is accounted for (an event arrived, or its drop was counted); and one minute
after the incident ends, its resident memory is back within 50 MiB of its level before.
tests/e2e/test_memory.py runs it for 30 s, scripts/incident.py for as long as asked.
"""

import threading
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from harness import collector_config, rss_bytes, scrape, value, wait_until
from test_hostile import MIB, attribute, post, resource_spans

SERVICE = "checkout"
TRACE_BYTES = 190 * 1024
RATE = 5  # exceptions a second, under errors.max_per_minute (600)
WARM_UP_S = 15
RECOVERY_S = 60
RSS_SLACK = 50 * MIB
CGROUP_LIMIT = 1536 * MIB
OUTAGE = {"target": "ingest", "signal": "envelope", "status": 503}


def log(message):
    print(f"incident: {message}", flush=True)


def incident_config(standin, **sentry):
    """examples/otel.yaml's pipelines (memory_limiter; traces, logs and metrics) to the sentry
    exporter, whose queue batches."""
    config = collector_config({"url": standin.api, "org_slug": standin.org, "auth_token": standin.token,
                               **sentry}, signals=("traces", "logs", "metrics"))
    config["processors"] = {"memory_limiter": {"check_interval": "1s", "limit_percentage": 80,
                                               "spike_limit_percentage": 20}}
    for pipeline in config["service"]["pipelines"].values():
        pipeline["processors"] = ["memory_limiter"]
    return config


def jvm_stack_trace(n):
    """A JVM stack trace of about TRACE_BYTES, with a cause, as a deep Spring service throws."""
    frames = [f"\tat com.acme.shop.checkout.step{i % 97}.Handler{i}.handle(Handler{i}.java:{40 + i % 300})"
              for i in range(TRACE_BYTES // 72)]
    cause = ["Caused by: java.net.SocketTimeoutException: Read timed out", *frames[:20],
             f"\t... {len(frames) - 20} more"]
    return "\n".join([f"java.lang.IllegalStateException: payment {n} failed", *frames, *cause])


def exception_spans(n):
    spans = resource_spans(SERVICE, 1, first=n, resource_attributes=[attribute("telemetry.sdk.language", "java")])
    event = spans.scope_spans[0].spans[0].events.add()
    event.name = "exception"
    event.time_unix_nano = time.time_ns()
    event.attributes.extend([attribute("exception.type", "java.lang.IllegalStateException"),
                             attribute("exception.message", f"payment {n} failed"),
                             attribute("exception.stacktrace", jvm_stack_trace(n))])
    return spans


class Sender:
    """Posts RATE spans a second, each with its exception, until stopped."""

    def __init__(self, collector):
        self.collector, self.sent = collector, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        start = time.monotonic()
        while not self.stop.is_set():
            post(self.collector, "/v1/traces", ExportTraceServiceRequest(resource_spans=[exception_spans(self.sent)]))
            self.sent += 1
            self.stop.wait(max(0.0, start + self.sent / RATE - time.monotonic()))

    def finish(self):
        self.stop.set()
        self.thread.join()
        return self.sent


def run_incident(standin, collector, incident_s, cgroup=None) -> list:
    """Warm-up, `incident_s` of 503s on envelopes, then the recovery; returns what is wrong."""
    pid = collector.process.proc.pid
    sender = Sender(collector)
    time.sleep(WARM_UP_S)
    before = rss_bytes(pid)
    log(f"RSS before the incident: {before / MIB:.0f} MiB; envelopes answer 503 for {incident_s} s")
    standin.fault(OUTAGE)
    highest = before
    end = time.monotonic() + incident_s
    while time.monotonic() < end:
        time.sleep(min(10, max(0.0, end - time.monotonic())))
        metrics = scrape(collector.metrics_url)
        highest = max(highest, rss_bytes(pid))
        log(f"RSS {rss_bytes(pid) / MIB:.0f} MiB, core heap {value(metrics, 'core_heap_bytes') / MIB:.0f} MiB, "
            f"{value(metrics, 'error_events_retrying'):.0f} events waiting "
            f"({value(metrics, 'error_events_retrying_bytes') / MIB:.1f} MiB), "
            f"{value(metrics, 'error_events_dropped'):.0f} dropped")
    standin.control("DELETE", "faults")
    time.sleep(RECOVERY_S)
    after = rss_bytes(pid)
    sent = sender.finish()
    log(f"RSS {RECOVERY_S} s after the incident: {after / MIB:.0f} MiB (highest during it {highest / MIB:.0f} MiB)")

    problems = []
    if collector.process.proc.poll() is not None:
        return [f"the collector died (exit {collector.process.proc.returncode})"]
    if after > before + RSS_SLACK:
        problems.append(f"RSS {after / MIB:.0f} MiB a minute after the incident, {before / MIB:.0f} MiB before")
    wait_until("every span", lambda: standin.records(ids=False)["projects"][SERVICE]["span_distinct"] == sent,
               timeout=120)

    def accounted():
        metrics = scrape(collector.metrics_url)
        arrived = standin.records(ids=False)["projects"][SERVICE]["event_total"]
        return arrived, value(metrics, "error_events_dropped"), value(metrics, "error_events_retrying")

    wait_until("every exception accounted for", lambda: sum(accounted()[:2]) >= sent and accounted()[2] == 0,
               timeout=120)
    arrived, dropped, _ = accounted()
    metrics = scrape(collector.metrics_url)
    by_reason = {dict(labels).get("reason"): n for (name, labels), n in metrics.items()
                 if name == "otelcol_exporter_sentry_error_events_dropped" and n}
    record = standin.records(ids=False)["projects"][SERVICE]
    log(f"{sent} exceptions: {arrived} events arrived, {dropped:.0f} dropped {by_reason}; "
        f"{record['span_distinct']} spans, {record['span_total']} with duplicates")
    if arrived + dropped != sent:
        problems.append(f"{sent} exceptions, {arrived} events arrived and {dropped:.0f} dropped")
    if set(by_reason) - {"retry_queue_full"}:
        problems.append(f"events dropped for other reasons: {by_reason}")
    if record["span_total"] != sent:
        problems.append(f"{record['span_total']} spans arrived for {sent} sent")
    if cgroup is not None:
        log(f"cgroup: peak {cgroup.peak() / MIB:.0f} MiB of {CGROUP_LIMIT / MIB:.0f} MiB, "
            f"limit reached {cgroup.limit_hits()} times")
        if cgroup.limit_hits():
            problems.append(f"the memory use reached the cgroup's limit {cgroup.limit_hits()} times")
    return problems
