"""One request crafted to make the exporter's own payloads explode: a Python traceback whose
frame has a 1 MiB path followed by a thousand `[Previous line repeated 999 more times]` lines
(once 256 copies of the frame per line: a GiB of memory and minutes of CPU), and an exponential
histogram of 4 million buckets (once one trace metric item per bucket, the point's attributes
copied into each: gigabytes). Each must cost the collector little memory and time, and still
become what Sentry can use: one issue with its frames, a bounded number of items whose
extrapolated count is the point's."""

import time
import urllib.request

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from conftest import assert_exactly_once, scrape, value, wait_until
from harness import rss_bytes
from test_hostile import MIB, attribute, post, resource_metric, resource_spans, sentry
from test_metrics import metrics_collector

# The exporter's bound on the items of one histogram point (metrics::items::MAX_BUCKET_ITEMS).
MAX_BUCKET_ITEMS = 160
MAX_RSS = 512 * MIB
# The exporter's shutdown: 3 s for exports in flight, then the core's bounded shutdown, which
# stops at once when nothing is left; podman and most orchestrators wait 10 s.
SHUTDOWN_PROMISE_S = 8


def repeated_frame_traceback():
    path = "/srv/" + "p" * MIB + ".py"
    lines = ["Traceback (most recent call last):", f'  File "{path}", line 2, in recurse', "    recurse()"]
    lines += ["  [Previous line repeated 999 more times]"] * ((int(3.7 * MIB) - len(path)) // 42)
    lines.append("RecursionError: maximum recursion depth exceeded")
    return "\n".join(lines)


def assert_small(collector):
    metrics = scrape(collector.metrics_url)
    rss = rss_bytes(collector.process.proc.pid)
    print(f"core heap {value(metrics, 'core_heap_bytes') / MIB:.1f} MiB, RSS {rss / MIB:.0f} MiB")
    assert rss < MAX_RSS, f"RSS {rss / MIB:.0f} MiB"


def traceback_spans(service, first=0):
    """One span of `service` (id from `first`) holding the repeated-frame traceback as an
    exception event."""
    spans = resource_spans(service, 1, first=first,
                           resource_attributes=[attribute("telemetry.sdk.language", "python")])
    event = spans.scope_spans[0].spans[0].events.add()
    event.name = "exception"
    event.time_unix_nano = time.time_ns()
    event.attributes.extend([attribute("exception.type", "RecursionError"),
                             attribute("exception.message", "maximum recursion depth exceeded"),
                             attribute("exception.stacktrace", repeated_frame_traceback())])
    return spans


def histogram_request(service, buckets):
    """One exponential histogram point of `service` with `buckets` buckets of one each."""
    resource, metric = resource_metric(service, "latency")
    metric.exponential_histogram.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    point = metric.exponential_histogram.data_points.add()
    point.time_unix_nano = time.time_ns()
    point.start_time_unix_nano = point.time_unix_nano - 10**9
    point.scale = 20
    point.positive.offset = 0
    point.positive.bucket_counts.extend([1] * buckets)
    point.count = buckets
    point.attributes.append(attribute("route", "/checkout" * 100))
    return ExportMetricsServiceRequest(resource_metrics=[resource])


def test_a_repeated_frame_traceback_makes_one_issue_at_little_cost(start_standin, start_collector):
    standin = start_standin("--projects", "recursive")
    collector = start_collector(sentry(standin))
    started = time.monotonic()
    post(collector, "/v1/traces", ExportTraceServiceRequest(resource_spans=[traceback_spans("recursive")]))
    record = wait_until("the issue", lambda: (r := standin.records()["projects"]["recursive"])
                        and r["event_total"] == 1 and r["span_total"] == 1 and r, timeout=30)
    print(f"traceback sent and its issue received in {time.monotonic() - started:.1f} s")
    assert not record["event_drops"], record["event_drops"]
    raised = record["events"][0]["exception"]["values"][-1]
    assert raised["type"] == "RecursionError"
    frames = raised["stacktrace"]["frames"]
    # Relay's hard limit, which the exporter keeps itself (the 50 oldest, the 200 newest);
    # the stand-in stores paths as Relay cuts them (256 characters and an allowance of 40).
    assert len(frames) == 250
    assert all(len(f["abs_path"]) <= 296 for f in frames)
    assert_small(collector)


def test_an_exponential_histogram_of_millions_of_buckets_makes_bounded_items(start_standin, launch_collector):
    standin = start_standin("--projects", "buckets")
    collector = metrics_collector(launch_collector, standin)
    buckets = 4_000_000
    request = histogram_request("buckets", buckets)
    print(f"request of {request.ByteSize() / MIB:.1f} MiB")
    post(collector, "/v1/metrics", request)
    record = wait_until("the histogram's items", lambda: (r := standin.records()["projects"]["buckets"])
                        and r["trace_metric_total"] > 0 and r, timeout=60)
    time.sleep(1)
    record = standin.records()["projects"]["buckets"]
    items = [m for m in record["trace_metrics"] if m.get("name") == "latency"]
    assert 0 < len(items) <= MAX_BUCKET_ITEMS
    extrapolated = sum(1 / m["attributes"]["sentry.client_sample_rate"]["value"] for m in items)
    assert round(extrapolated) == buckets
    assert_small(collector)


def test_sigterm_while_hostile_payloads_are_exported_exits_within_the_grace(start_standin, launch_collector):
    """The collector is stopped while it exports hostile payloads to a Sentry that never
    answers them: it exits cleanly within the shutdown's promise (a 3 s grace for exports in
    flight, then the core's own bounded shutdown), not after the exports' timeouts."""
    standin = start_standin("--projects", "recursive,buckets")
    standin.fault({"target": "ingest", "hang": True})
    collector = metrics_collector(launch_collector, standin)
    for n in range(3):
        post(collector, "/v1/traces", ExportTraceServiceRequest(resource_spans=[traceback_spans("recursive", n)]))
        post(collector, "/v1/metrics", histogram_request("buckets", 1_000_000))
    wait_until("exports held by the hanging ingest", lambda: standin.records()["requests_hanging"] >= 2, timeout=30)
    started = time.monotonic()
    collector.process.proc.terminate()
    code = collector.process.proc.wait(timeout=30)
    took = time.monotonic() - started
    print(f"exit {code} {took:.1f} s after SIGTERM")
    assert code == 0
    assert took < SHUTDOWN_PROMISE_S, f"took {took:.1f} s"


def test_a_span_with_invalid_utf8_costs_nothing_of_its_batch(start_standin, start_collector):
    """One span among 1,000 of its service with a string attribute that is not UTF-8 (the
    collector accepts it; Relay refuses a whole request holding one): the string is repaired
    (U+FFFD) and counted, and all 1,000 spans arrive, once."""
    project, spans = "utf8-svc", 1000
    standin = start_standin("--projects", project)
    collector = start_collector(sentry(standin))
    placeholder = b"BAD-UTF8"
    resource = resource_spans(project, spans)
    resource.scope_spans[0].spans[500].attributes.append(attribute("note", placeholder.decode()))
    body = ExportTraceServiceRequest(resource_spans=[resource]).SerializeToString()
    assert body.count(placeholder) == 1
    body = body.replace(placeholder, b"BAD\xff\xfe\x80\xc3(")
    request = urllib.request.Request(f"http://{collector.http_endpoint}/v1/traces", data=body,
                                     headers={"Content-Type": "application/x-protobuf"}, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200

    records = assert_exactly_once(standin, {project: (project, spans, 0)})
    statuses = [r["status"] for r in records[project]["requests"]]
    assert 400 not in statuses, statuses
    assert value(scrape(collector.metrics_url), "strings_repaired", signal="traces") == 1
