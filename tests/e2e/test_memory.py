"""Memory the collector can see and bound: the collector runs in a 1.5 GiB memory cgroup with
`memory_limiter` as in examples/otel.yaml, as a Kubernetes pod runs it, and lives through one
hostile request of each kind and through an envelope outage; and the core takes no new export
while its own heap, which memory_limiter does not see, is over `core_memory_limit_mib`."""

import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from conftest import scrape, value, wait_until
from incident import CGROUP_LIMIT, OUTAGE, SERVICE, Sender, incident_config, run_incident
from test_hostile import MIB, post
from test_hostile_payloads import histogram_request, traceback_spans

INCIDENT_S = 30


def test_hostile_payloads_in_a_memory_cgroup(memory_cgroup, start_standin, launch_collector):
    cgroup = memory_cgroup(CGROUP_LIMIT)
    standin = start_standin("--projects", "recursive,buckets")
    collector = launch_collector(incident_config(standin), cgroup=cgroup)
    for n in range(3):
        post(collector, "/v1/traces", ExportTraceServiceRequest(resource_spans=[traceback_spans("recursive", n)]))
        post(collector, "/v1/metrics", histogram_request("buckets", 4_000_000))
    wait_until("three issues and three histograms", lambda: (p := standin.records(ids=False)["projects"])
               and p["recursive"]["event_total"] == 3 and p["buckets"]["trace_metric_total"] >= 3, timeout=60)
    print(f"peak {cgroup.peak() / MIB:.0f} MiB of {CGROUP_LIMIT / MIB:.0f} MiB")
    assert collector.process.proc.poll() is None
    assert cgroup.limit_hits() == 0, "the memory use reached the cgroup's limit"


def test_an_envelope_outage_in_a_memory_cgroup(memory_cgroup, start_standin, launch_collector):
    cgroup = memory_cgroup(CGROUP_LIMIT)
    standin = start_standin("--projects", SERVICE)
    collector = launch_collector(incident_config(standin), cgroup=cgroup)
    problems = run_incident(standin, collector, INCIDENT_S, cgroup)
    assert not problems, problems


def test_no_export_starts_while_the_cores_heap_is_over_its_limit(start_standin, launch_collector):
    """Error events Sentry refuses wait in the core (up to errors.max_retry_mib); with the
    core's heap limited to 8 MiB, they soon fill it: exports then wait in their queue (counted),
    and resume once Sentry takes the events again. Nothing is lost."""
    standin = start_standin("--projects", SERVICE)
    collector = launch_collector(incident_config(standin, core_memory_limit_mib=8))
    assert value(scrape(collector.metrics_url), "core_memory_limit_bytes") == 8 * MIB
    standin.fault(OUTAGE)
    sender = Sender(collector)
    wait_until("exports to wait for the core's memory",
               lambda: value(scrape(collector.metrics_url), "exports_refused_for_memory") > 0, timeout=120)
    metrics = scrape(collector.metrics_url)
    print(f"core heap {value(metrics, 'core_heap_bytes') / MIB:.1f} MiB, "
          f"{value(metrics, 'error_events_retrying_bytes') / MIB:.1f} MiB of events waiting")
    assert value(metrics, "core_heap_bytes") >= 8 * MIB
    time.sleep(3)
    held = standin.records(ids=False)["projects"][SERVICE]["span_distinct"]
    assert held < sender.sent, "spans kept going out while the core's heap was full"
    assert any("over its limit" in line for line in collector.process.lines)
    standin.control("DELETE", "faults")
    sent = sender.finish()
    wait_until("every span and every event", lambda: (r := standin.records(ids=False)["projects"][SERVICE])
               and r["span_distinct"] == sent and r["event_total"] == sent, timeout=120)
    record = standin.records(ids=False)["projects"][SERVICE]
    assert record["span_total"] == sent, "a span arrived twice"
