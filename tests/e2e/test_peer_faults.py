"""Peers that close or reset the connection while the core writes to it: the whole
collector must survive (a SIGPIPE on one of the core's threads would kill it, exit 141,
without a log line), report a transport error, and keep the data for a retry."""

import time

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from conftest import value, scrape, wait_until
from test_hostile import post_traces, resource_spans, sentry


def big_spans(service, n=40, attribute_bytes=256 << 10):
    """`n` spans of `service` carrying incompressible-enough attribute values: a body of
    several MiB, still being written when an early answer closes the connection."""
    filler = bytes((i * 7919) % 251 for i in range(attribute_bytes)).hex()[:attribute_bytes]
    return resource_spans(service, n, span_attributes=[KeyValue(key="blob", value=AnyValue(string_value=filler))])


def assert_survives(collector, seconds):
    """The collector is still running and healthy `seconds` from now."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert collector.process.proc.poll() is None, (
            f"the collector died (exit {collector.process.proc.returncode}):\n{collector.process.output()}")
        time.sleep(0.2)
    assert collector.healthy()


def test_https_aimed_at_a_plain_http_server_is_a_transport_error(start_standin, start_collector):
    standin = start_standin()
    plain = standin.api.replace("http://", "https://")
    collector = start_collector(sentry(standin, url=plain))
    post_traces(collector, resource_spans("frontend", 3))
    assert_survives(collector, 5)
    wait_until("the TLS failure to be logged",
               lambda: any("looking up the project failed" in line for line in collector.process.lines), timeout=20)


def test_an_early_answer_that_closes_mid_upload_is_a_transport_error(start_standin, start_collector):
    standin = start_standin("--projects", "frontend")
    # Sentry (or a proxy) refuses the upload by its length and closes with the body unread.
    standin.fault({"target": "ingest", "project": "frontend", "early_answer": True, "status": 413, "times": 3})
    collector = start_collector(sentry(standin, **{"http": {"compression": "none"}}))
    post_traces(collector, big_spans("frontend"))
    assert_survives(collector, 5)
    wait_until("the spans to arrive after the early answers",
               lambda: len(standin.records()["projects"]["frontend"]["spans"]) == 40, timeout=60)


def test_a_reset_mid_upload_is_a_transport_error(start_standin, start_collector):
    standin = start_standin("--projects", "frontend")
    standin.fault({"target": "ingest", "project": "frontend", "reset_mid_upload": True, "times": 2})
    collector = start_collector(sentry(standin, **{"http": {"compression": "none"}}))
    post_traces(collector, big_spans("frontend"))
    assert_survives(collector, 5)
    wait_until("the spans to arrive after the resets",
               lambda: len(standin.records()["projects"]["frontend"]["spans"]) == 40, timeout=60)
    metrics = scrape(collector.metrics_url)
    assert value(metrics, "ingest_requests", status_class="no_answer") >= 2
