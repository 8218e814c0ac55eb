"""Component status through health_check v2: a recoverable error while Sentry
cannot be reached, OK once it can, and the data queued meanwhile arrives."""

import json
import time

from conftest import free_port, run, wait_until


def sentry_status(collector):
    """The status string of our exporter in the traces pipeline, from /status?verbose."""
    document = collector.status() or {}
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            if "status" in node and path and path[-1] == "exporter:sentry":
                found.append(node["status"])
            for key, child in (node.get("components") or {}).items():
                walk(child, path + [key])

    walk(document, [])
    return found[0] if found else None


def test_status_is_a_recoverable_error_until_sentry_is_reachable(start_standin, start_collector, telemetrygen):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    collector = start_collector({
        "url": url, "org_slug": "acme", "auth_token": "standin-token",
        "retry_on_failure": {"enabled": True, "initial_interval": "200ms", "max_interval": "1s",
                             "max_elapsed_time": "0s"},
    }, status_v2=True)
    run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
         "--service", "frontend", "--traces", 20, "--rate", 1000])

    wait_until("a recoverable error", lambda: sentry_status(collector) == "StatusRecoverableError", timeout=30)
    print(json.dumps(collector.status(), indent=1)[:2000])

    standin = start_standin("--listen", f"127.0.0.1:{port}", "--projects", "frontend")
    wait_until("the queued spans to arrive",
               lambda: len(standin.records()["projects"]["frontend"]["spans"]) == 40, timeout=60)
    wait_until("status OK", lambda: sentry_status(collector) == "StatusOK", timeout=30)
    assert sum(standin.records()["projects"]["frontend"]["spans"].values()) == 40


def test_a_revoked_token_holds_the_status_while_ingest_works(start_standin, start_collector):
    from test_hostile import post_traces, resource_spans
    standin = start_standin("--projects", "frontend")
    collector = start_collector({
        "url": standin.api, "org_slug": standin.org, "auth_token": standin.token,
        "retry_on_failure": {"enabled": True, "initial_interval": "5s", "max_interval": "5s"},
    }, status_v2=True)
    wait_until("the preload", lambda: standin.records()["mgmt_requests"], timeout=20)
    time.sleep(1)
    # The token is revoked: the management API refuses it (the lookup of the new service
    # `newcomer` shows it); the known project's ingest key still works, and succeeds often.
    standin.fault({"target": "mgmt", "status": 401})
    post_traces(collector, resource_spans("newcomer", 2))
    samples = []
    for n in range(48):
        post_traces(collector, resource_spans("frontend", 2, first=2 * n))
        time.sleep(0.25)
        if n % 4 == 3:
            samples.append(sentry_status(collector))
    assert len(standin.records()["projects"]["frontend"]["spans"]) == 96, "ingest kept working"
    assert samples[1:] == ["StatusRecoverableError"] * 11, samples
