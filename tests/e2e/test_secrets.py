"""The auth token never appears in the collector's output, even at debug level,
through successes, refusals and failures."""

import sys
from pathlib import Path

from conftest import run, wait_until
from test_hostile import post_traces, resource_spans

TOKEN = "sntrys_DISTINCTIVE_token_4f2a9c"
SDK_CLIENT = Path(__file__).with_name("sdk_client.py")


def test_the_token_is_never_printed(start_standin, start_collector, telemetrygen):
    standin = start_standin("--projects", "frontend", "--token", TOKEN)
    # The token is refused once by the management API, and ingest fails once.
    standin.fault([{"target": "mgmt", "path_contains": "/projects/acme/frontend/keys/", "status": 401, "times": 1},
                   {"target": "mgmt", "path_contains": "/project-keys/", "status": 403, "times": 1},
                   {"target": "ingest", "project": "frontend", "status": 503, "times": 1}])
    collector = start_collector({
        "url": standin.api, "org_slug": standin.org, "auth_token": TOKEN, "auto_create_projects": True,
        "retry_on_failure": {"enabled": True, "initial_interval": "100ms"},
    }, log_level="debug")
    run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
         "--service", "frontend", "--traces", 5, "--rate", 1000])
    run([sys.executable, SDK_CLIENT, "--protocol", "http", "--endpoint", collector.http_endpoint,
         "--service", "new-one", "--spans", 5, "--logs", 5])
    wait_until("the spans to arrive",
               lambda: len(standin.records()["projects"].get("new-one", {}).get("spans", {})) == 5
               and len(standin.records()["projects"]["frontend"]["spans"]) == 10, timeout=60)
    output = collector.process.output()
    assert "debug" in output, "debug logging was on"
    assert TOKEN not in output
    assert "DISTINCTIVE" not in output


def test_an_answer_echoing_the_token_is_scrubbed_and_kept_on_one_line(start_standin, start_collector):
    standin = start_standin("--projects", "frontend", "--token", TOKEN)
    # A proxy's error page that echoes the request's headers, raw newlines included.
    echo = f"<html>bad gateway\r\nAuthorization: Bearer {TOKEN}\r\nX-Echoed-Header: forged log line\r\n</html>"
    standin.fault([{"target": "mgmt", "status": 502, "body": echo, "times": 6}])
    collector = start_collector({
        "url": standin.api, "org_slug": standin.org, "auth_token": TOKEN,
        "retry_on_failure": {"enabled": True, "initial_interval": "100ms"},
    }, status_v2=True, log_level="debug")
    post_traces(collector, resource_spans("frontend", 3))
    wait_until("the spans to arrive once the proxy recovers",
               lambda: len(standin.records()["projects"].get("frontend", {}).get("spans", {})) == 3, timeout=60)
    output = collector.process.output()
    assert "bad gateway" in output, "the echoing answer was logged"
    assert TOKEN not in output
    assert "DISTINCTIVE" not in output
    forged = [line for line in collector.process.lines if line.startswith("X-Echoed-Header")]
    assert not forged, f"an echoed body split a log line: {forged}"
