"""Ten services for a minute through the built collector while the stand-in
switches faults on and off: a 5xx burst, a 30 s span limit, an organization-wide
log limit, a deleted-then-recreated project, a 413 threshold, dropped
connections. Afterwards every span and log record must have arrived exactly
once, and no ingest request may have been made for a key and category while
Sentry's limit on it held."""

import subprocess
import threading
import time

from conftest import TELEMETRYGEN, wait_until

SERVICES = [f"svc-{i}" for i in range(10)]
TRACES = 300  # per service, at RATE per second: about a minute
LOGS = 300
RATE = 5
CHILD_SPANS = 1
SPAN_LIMIT_S = 30
LOG_LIMIT_S = 10
# Requests already on the wire when a limit arrives are not "made while it held".
IN_FLIGHT_GRACE_MS = 1000


def generators(endpoint):
    procs = []
    for service in SERVICES:
        common = ["--otlp-insecure", "--otlp-endpoint", endpoint, "--service", service, "--rate", str(RATE)]
        procs.append(subprocess.Popen([TELEMETRYGEN, "traces", *common, "--traces", str(TRACES),
                                       "--child-spans", str(CHILD_SPANS)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        procs.append(subprocess.Popen([TELEMETRYGEN, "logs", *common, "--logs", str(LOGS)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    return procs


def switch_faults(standin, log):
    """The fault schedule, run beside the load."""
    def at(second, what, action):
        time.sleep(max(0.0, start + second - time.monotonic()))
        action()
        log.append((round(time.monotonic() - start, 1), what))

    start = time.monotonic()
    at(5, "503 burst on svc-1", lambda: standin.fault(
        {"target": "ingest", "project": "svc-1", "status": 503, "times": 15}))
    at(8, "30 s span limit on svc-2", lambda: standin.fault(
        {"target": "ingest", "project": "svc-2", "signal": "traces", "status": 429,
         "headers": {"X-Sentry-Rate-Limits": f"{SPAN_LIMIT_S}:span:key:test"}, "times": 1}))
    at(12, "organization log_item limit via svc-3", lambda: standin.fault(
        {"target": "ingest", "project": "svc-3", "signal": "logs", "status": 429,
         "headers": {"X-Sentry-Rate-Limits": f"{LOG_LIMIT_S}:log_item:organization:test"}, "times": 1}))
    at(16, "svc-4 deleted", lambda: standin.control("POST", "projects/svc-4/delete"))
    at(20, "413 above 700 bytes on svc-5", lambda: standin.fault(
        {"target": "ingest", "project": "svc-5", "max_body_bytes": 700}))
    at(25, "connections of svc-6 dropped", lambda: standin.fault(
        {"target": "ingest", "project": "svc-6", "drop_connection": True, "times": 10}))
    at(45, "all faults off", lambda: standin.control("DELETE", "faults"))


def test_ten_services_through_switching_faults_arrive_exactly_once(start_standin, start_collector):
    standin = start_standin("--projects", ",".join(SERVICES))
    collector = start_collector({
        "url": standin.api,
        "org_slug": standin.org,
        "auth_token": standin.token,
        "auto_create_projects": True,
        "sending_queue": {"enabled": True, "queue_size": 100000},
        "retry_on_failure": {"enabled": True, "initial_interval": "200ms", "max_interval": "5s",
                             "max_elapsed_time": "0s"},
    }, batch_timeout="1s")

    log = []
    procs = generators(collector.grpc_endpoint)
    faults = threading.Thread(target=switch_faults, args=(standin, log))
    faults.start()
    for p in procs:
        _, err = p.communicate(timeout=180)
        assert p.returncode == 0, err.decode()
    faults.join()
    print("faults:", log)

    expected_spans = TRACES * (1 + CHILD_SPANS)

    def drained():
        projects = standin.records()["projects"]
        return all(len(projects[s]["spans"]) >= expected_spans and len(projects[s]["logs"]) >= LOGS
                   for s in SERVICES)

    wait_until("the queue to drain into the stand-in", drained, timeout=180, interval=1)
    time.sleep(2)  # a late duplicate would still show
    records = standin.records()

    for service in SERVICES:
        got = records["projects"][service]
        spans, logs = got["spans"], got["logs"]
        print(f"{service}: {len(spans)} distinct spans of {sum(spans.values())} received (sent {expected_spans}), "
              f"{len(logs)} distinct log records of {sum(logs.values())} received (sent {LOGS})")
        assert len(spans) == expected_spans and sum(spans.values()) == expected_spans, service
        assert len(logs) == LOGS and sum(logs.values()) == LOGS, service
        assert got["services"] == [service]
    assert "svc-4" in records["projects_created"], "the deleted project was created again"

    # Limits: no request for the limited key and category while the limit held.
    def requests(project=None, signal=None):
        for name, record in records["projects"].items():
            if project in (None, name):
                for r in record["requests"]:
                    if signal in (None, r["signal"]):
                        yield name, r

    span_limit = next(r for _, r in requests("svc-2", "traces") if r["status"] == 429 and r["fault"])
    during = [r for _, r in requests("svc-2", "traces")
              if span_limit["at_ms"] + IN_FLIGHT_GRACE_MS < r["at_ms"] < span_limit["at_ms"] + SPAN_LIMIT_S * 1000]
    print(f"svc-2 span limit at {span_limit['at_ms']}: {len(during)} traces requests during it")
    assert not during, during

    log_limit = next(r for _, r in requests("svc-3", "logs") if r["status"] == 429 and r["fault"])
    during = [(p, r) for p, r in requests(signal="logs")
              if log_limit["at_ms"] + IN_FLIGHT_GRACE_MS < r["at_ms"] < log_limit["at_ms"] + LOG_LIMIT_S * 1000]
    print(f"organization log limit at {log_limit['at_ms']}: {len(during)} logs requests during it")
    assert not during, during

    statuses = sorted({r["status"] for _, r in requests()}, key=str)
    print("ingest statuses seen:", statuses)
    assert {503, 429, 413, 403, None} <= set(statuses), "every fault was exercised"
