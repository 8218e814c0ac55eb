"""Telemetry crafted by whoever can reach the collector: service names aimed at
the management API's paths, a flood of distinct service names, megabyte-sized
values. The exporter must keep every request inside its own path segment, stay
within bounded memory and time, and count what it drops."""

import re
import time

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs

from conftest import assert_exactly_once, run, scrape, value, wait_until
# The OTLP builders live in harness.py (the fault run's probe uses them); the tests that
# import them from here keep doing so.
from harness import attribute, post, resource_metric, resource_spans, rss_bytes  # noqa: F401

MIB = 1 << 20
# Every management request the exporter may make; a slug is one segment of [a-z0-9_-].
ALLOWED_MGMT_PATHS = re.compile(
    r"^/api/0/(organizations/acme/((projects|project-keys)/)?|projects/acme/[a-z0-9_-]+/keys/"
    r"|organizations/acme/teams/|teams/acme/[a-z0-9_-]+/projects/)"
    r"(\?(cursor|status)=[^/?#&]*(&(cursor|status)=[^/?#&]*)*)?$"
)


def post_traces(collector, *resources):
    post(collector, "/v1/traces", ExportTraceServiceRequest(resource_spans=resources))


def sentry(standin, **settings):
    return {"url": standin.api, "org_slug": standin.org, "auth_token": standin.token,
            "retry_on_failure": {"enabled": True, "initial_interval": "200ms", "max_interval": "1s"}, **settings}


def test_service_names_aimed_at_the_api_stay_one_path_segment(start_standin, start_collector):
    standin = start_standin("--projects", "frontend")
    collector = start_collector(sentry(standin, auto_create_projects=True))
    hostile = [
        "../../../../api/0/organizations/acme/projects",
        "..%2F..%2Fteams%2Facme",
        "frontend/../../admin",
        "svc?cursor=0:100:0&org=evil",
        "svc#fragment",
        "svc\r\nX-Injected: 1",
        "svc\x00null",
        "Ⓔⓥⓘⓛ-ünïcødé",
        "..",
        "%00",
    ]
    post_traces(collector, *[resource_spans(name, 2) for name in hostile])

    # ".." and "%00" leave no usable slug (nothing, and the digits "00"): their spans are dropped.
    # The eight others make eight projects, created on the way.
    usable, unusable = len(hostile) - 2, 2

    def settled():
        records = standin.records()
        return sum(p["span_total"] for p in records["projects"].values()) >= 2 * usable and records

    records = wait_until("the usable names' spans", settled, timeout=30)
    assert len(records["projects_created"]) == usable
    paths = [r["path"] for r in records["mgmt_requests"]]
    outside = [p for p in paths if not ALLOWED_MGMT_PATHS.match(p)]
    assert not outside, f"management requests outside the API's paths: {outside}"
    assert records["unknown_project_requests"] == []
    for slug in records["projects_created"]:
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,49}", slug), slug
    # Each arriving span is in the project made from its own service's name, with its name intact.
    for slug, project in records["projects"].items():
        for service in project["services"]:
            assert service in hostile, (slug, service)
    metrics = scrape(collector.metrics_url)
    assert value(metrics, "items_dropped", signal="traces", reason="invalid_slug") == 2 * unusable


def test_ten_thousand_service_names_in_one_batch_stay_bounded(start_standin, start_collector):
    standin = start_standin("--projects", "frontend", "--quiet")
    created_limit = 20
    collector = start_collector(sentry(standin, auto_create_projects=True, max_created_projects=created_limit,
                                       timeout="60s"))

    heaps, rss = [], []
    for flood in range(3):
        started = time.monotonic()
        post_traces(collector, *[resource_spans(f"flood-{flood}-{i}", 1) for i in range(10_000)])
        dropped = 10_000 * (flood + 1) - created_limit
        metrics = wait_until(
            f"flood {flood}'s spans to be sent or dropped",
            lambda: (m := scrape(collector.metrics_url))
            and value(m, "items_dropped", signal="traces", reason="project_not_found") >= dropped and m,
            timeout=120, interval=1)
        heaps.append(value(metrics, "core_heap_bytes"))
        rss.append(rss_bytes(collector.process.proc.pid))
        print(f"flood {flood}: 10,000 services handled in {time.monotonic() - started:.1f}s, "
              f"core heap {heaps[-1] / MIB:.1f} MiB, RSS {rss[-1] / MIB:.0f} MiB")

    records = wait_until("the created projects' spans", lambda: (r := standin.records())
                         and sum(p["span_total"] for p in r["projects"].values()) >= created_limit and r)
    assert len(records["projects_created"]) == created_limit
    assert sum(p["span_total"] for p in records["projects"].values()) == created_limit
    assert value(metrics, "items_dropped", signal="traces", reason="project_not_found") == 30_000 - created_limit
    # Ten thousand new names more do not mean more memory: the cache of unknown names is pruned.
    assert heaps[2] < 64 * MIB, heaps
    assert heaps[2] < heaps[0] + 8 * MIB, heaps
    # Nor a queue per name: names of no project share one (once, each flood made 10,000
    # queues and took 540 MB more).
    assert rss[2] < rss[0] + 64 * MIB, rss
    # Nor a flood of log: errors list a few projects and count the rest.
    longest = max(len(line) for line in collector.process.lines)
    assert longest < 8192, f"a log line of {longest} characters"


def test_megabyte_values_and_names_pass_through(start_standin, start_collector):
    standin = start_standin("--projects", "frontend")
    collector = start_collector(sentry(standin, auto_create_projects=True))
    big = "x" * MIB
    post_traces(collector,
                resource_spans("frontend", 3, span_attributes=[attribute("payload", big)],
                               resource_attributes=[attribute("host.note", big)]),
                resource_spans("b" * MIB, 2))
    logs = ResourceLogs()
    logs.resource.attributes.append(attribute("service.name", "frontend"))
    record = logs.scope_logs.add().log_records.add()
    record.body.string_value = big
    record.attributes.append(attribute("log.record.uid", "big-log"))
    post(collector, "/v1/logs", ExportLogsServiceRequest(resource_logs=[logs]))

    long_slug = "b" * 50  # a slug is cut to 50 characters
    records = wait_until("every item", lambda: (r := standin.records()["projects"])
                         and r.get("frontend", {}).get("span_total") == 3 and r["frontend"]["log_total"] == 1
                         and r.get(long_slug, {}).get("span_total") == 2 and r)
    assert records["frontend"]["logs"] == {"big-log": 1}


def test_hostile_management_answers_are_cut_off_with_clear_errors(start_standin, start_collector, telemetrygen):
    standin = start_standin("--projects", "frontend,backend")
    # Before the collector starts: lists whose Link header never ends, a 1 GiB answer to
    # one project's key lookup, and a slow loris answering the other's a byte at a time.
    for rule in ({"target": "mgmt", "path_contains": "/organizations/acme/projects/", "endless_link": True},
                 {"target": "mgmt", "path_contains": "/project-keys/", "endless_link": True},
                 {"target": "mgmt", "path_contains": "/projects/acme/frontend/keys/", "body_bytes": 1 << 30},
                 {"target": "mgmt", "path_contains": "/projects/acme/backend/keys/", "body_bytes": 1 << 20,
                  "trickle_ms": 100}):
        standin.fault(rule)
    # http.timeout under the 2 s an export waits for a lookup, so that an export sees the
    # slow loris's lookup fail ("timed out") instead of handing its data back before.
    collector = start_collector(sentry(standin, http={"timeout": "1s"}))
    for service in ("frontend", "backend"):
        run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
             "--service", service, "--traces", 20, "--rate", 1000])

    expected_errors = ("management API list did not end after 500 pages",
                       "management API answer larger than 4 MiB",
                       "timed out")
    wait_until("each hostile answer's error in the log", lambda: all(
        error in collector.process.output() for error in expected_errors), timeout=60)
    metrics = scrape(collector.metrics_url)
    with open(f"/proc/{collector.process.proc.pid}/status") as status:
        rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
    print(f"while under attack: core heap {value(metrics, 'core_heap_bytes') / MIB:.1f} MiB, RSS {rss / MIB:.0f} MiB")
    assert value(metrics, "core_heap_bytes") < 64 * MIB
    assert rss < 512 * MIB
    assert value(metrics, "items_dropped", signal="traces", reason="project_not_found") == 0
    assert standin.records()["projects"]["frontend"]["span_total"] == 0

    # Nothing was lost meanwhile: once the API behaves, everything arrives.
    standin.control("DELETE", "faults")
    assert_exactly_once(standin, {"frontend": ("frontend", 40, 0), "backend": ("backend", 40, 0)})
