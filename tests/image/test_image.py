"""The collector image, run the way users run it: podman, host network, the
image's own default config with only the environment set, against the stand-in.
Needs the image built (`make image-test` builds it first)."""

import json
import os
import shlex
import socket
import subprocess
import time

import pytest

from conftest import Collector, Process, assert_exactly_once, run, scrape, value, wait_until

PODMAN = shlex.split(os.environ.get("PODMAN", "podman"))
IMAGE = os.environ.get("IMAGE", "otelcol-sentry:latest")
# The fixed ports of the image's default config (OTLP gRPC, OTLP HTTP, health_check, metrics).
PORTS = (4317, 4318, 13133, 8888)
TRACES, CHILD_SPANS, LOGS = 30, 2, 40


def podman(*args, timeout=60):
    result = subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(f"podman {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


def assert_ports_free():
    for port in PORTS:
        with socket.socket() as s:
            # As the collector binds: a port left in TIME_WAIT by an earlier run is free.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError as error:
                pytest.fail(f"port {port}, which the image's default config uses, is busy: {error}")


def test_image_is_laid_out_like_the_contrib_image():
    config = json.loads(podman("image", "inspect", IMAGE))[0]["Config"]
    assert config["User"] == "10001"
    assert config["Entrypoint"] == ["/otelcol-sentry"]
    assert config["Cmd"] == ["--config", "/etc/otelcol-contrib/config.yaml"]
    assert set(config["ExposedPorts"]) == {f"{port}/tcp" for port in PORTS}


def test_image_exports_traces_and_logs_then_stops_cleanly(start_standin, telemetrygen):
    standin = start_standin("--projects", "telemetrygen")
    assert_ports_free()
    name = f"otelcol-sentry-test-{os.getpid()}"
    container = Process("container", [
        *PODMAN, "run", "--rm", "--name", name, "--network=host",
        "-e", f"SENTRY_URL={standin.api}",
        "-e", f"SENTRY_ORG_SLUG={standin.org}",
        "-e", f"SENTRY_AUTH_TOKEN={standin.token}",
        # Host network: listen on loopback only, not on every interface of the machine.
        "-e", "OTELCOL_LISTEN_HOST=127.0.0.1",
        IMAGE,
    ])
    collector = Collector(container, *PORTS)
    try:
        wait_until("the container to be healthy",
                   lambda: collector.healthy() or container.proc.poll() is not None, timeout=60)
        assert container.proc.poll() is None, f"the container exited:\n{container.output()}"

        run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
             "--traces", TRACES, "--child-spans", CHILD_SPANS, "--rate", 1000])
        run([telemetrygen, "logs", "--otlp-insecure", "--otlp-http", "--otlp-endpoint", collector.http_endpoint,
             "--logs", LOGS, "--rate", 1000])
        assert_exactly_once(standin, {"telemetrygen": ("telemetrygen", TRACES * (1 + CHILD_SPANS), LOGS)})
        # The exporter's own metrics are served on the default config's metrics port.
        assert value(scrape(collector.metrics_url), "items_sent", signal="traces") == TRACES * (1 + CHILD_SPANS)

        started = time.monotonic()
        podman("stop", "--time", "10", name, timeout=30)
        code = container.proc.wait(timeout=15)
        stopped_after = time.monotonic() - started
        print(f"podman stop took {stopped_after:.1f}s, exit code {code}")
        # `podman stop` kills after 10 s; a clean stop is the collector's own exit 0 before that.
        assert code == 0, container.output()
        assert stopped_after < 10
        assert "Shutdown complete" in container.output()
    finally:
        subprocess.run([*PODMAN, "rm", "--force", "--ignore", name], capture_output=True, timeout=60)
        container.stop()
        print(f"--- container output ---\n{container.output()}")
