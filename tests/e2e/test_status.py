"""Component status through health_check v2: a recoverable error while Sentry
cannot be reached, OK once it can, and the data queued meanwhile arrives."""

import json

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
