"""Only invited clients send (examples/bearer-auth.yaml): both OTLP receivers refuse a request
without the bearer token, or with another one, and nothing of it reaches Sentry; a client with
the token delivers over gRPC and HTTP, exactly once."""

import subprocess
import time
import urllib.error
import urllib.request

from conftest import assert_exactly_once, example_config, run

TOKEN = "invited-clients-only-3f9a1c"
TRACES = 10  # telemetrygen traces; each has one root and CHILD_SPANS children
CHILD_SPANS = 2
SPANS = TRACES * (1 + CHILD_SPANS)
LOGS = 15


def start(start_standin, launch_collector):
    standin = start_standin("--projects", "frontend,backend,payments")
    config = example_config("bearer-auth.yaml")
    config["exporters"]["sentry"].update(url=standin.api, org_slug=standin.org, auth_token=standin.token)
    collector = launch_collector(config, env={"OTELCOL_BEARER_TOKEN": TOKEN})
    return standin, collector


def http_status(collector, headers):
    request = urllib.request.Request(f"http://{collector.http_endpoint}/v1/traces", data=b"", method="POST",
                                     headers={"Content-Type": "application/x-protobuf", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def refused_client(binary, collector, signal, service, http=False, token=None):
    """Runs telemetrygen (whose exit code does not tell a refused export); returns its output."""
    args = [str(binary), signal, "--otlp-insecure", "--service", service, "--rate", "1000"]
    args += ["--otlp-http", "--otlp-endpoint", collector.http_endpoint] if http else \
        ["--otlp-endpoint", collector.grpc_endpoint]
    args += ["--traces", str(TRACES), "--child-spans", str(CHILD_SPANS)] if signal == "traces" else ["--logs", str(LOGS)]
    if token is not None:
        args += ["--otlp-header", f'Authorization="Bearer {token}"']
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    return result.stdout + result.stderr


def test_a_client_without_the_token_is_refused_and_one_with_it_delivers(start_standin, launch_collector,
                                                                       telemetrygen):
    binary = telemetrygen
    standin, collector = start(start_standin, launch_collector)

    # HTTP: refused before the body is read.
    assert http_status(collector, {}) == 401
    assert http_status(collector, {"Authorization": "Bearer not-the-token"}) == 401
    assert http_status(collector, {"Authorization": TOKEN}) == 401
    # gRPC and HTTP through telemetrygen, without the token and with another one.
    for token in (None, "not-the-token"):
        for http in (False, True):
            out = refused_client(binary, collector, "traces", "payments", http=http, token=token)
            print(out[-2000:])
            assert "Unauthenticated" in out or "401" in out, out[-2000:]
            refused_client(binary, collector, "logs", "payments", http=http, token=token)

    # With the token, over gRPC and over HTTP.
    run([binary, "traces", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint, "--service", "frontend",
         "--traces", TRACES, "--child-spans", CHILD_SPANS, "--rate", 1000,
         "--otlp-header", f'Authorization="Bearer {TOKEN}"'])
    run([binary, "logs", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint, "--service", "frontend",
         "--logs", LOGS, "--rate", 1000, "--otlp-header", f'Authorization="Bearer {TOKEN}"'])
    run([binary, "traces", "--otlp-insecure", "--otlp-http", "--otlp-endpoint", collector.http_endpoint,
         "--service", "backend", "--traces", TRACES, "--child-spans", CHILD_SPANS, "--rate", 1000,
         "--otlp-header", f'Authorization="Bearer {TOKEN}"'])
    run([binary, "logs", "--otlp-insecure", "--otlp-http", "--otlp-endpoint", collector.http_endpoint,
         "--service", "backend", "--logs", LOGS, "--rate", 1000, "--otlp-header", f'Authorization="Bearer {TOKEN}"'])

    records = assert_exactly_once(standin, {"frontend": ("frontend", SPANS, LOGS), "backend": ("backend", SPANS, LOGS)})
    # The refused clients' data (service payments) never arrived, nor did any request for it.
    time.sleep(1)
    records = standin.records()["projects"]
    assert not records["payments"]["spans"] and not records["payments"]["logs"], records["payments"]
    assert not records["payments"]["requests"], records["payments"]["requests"]
