"""Fixtures for the end-to-end tests: the Sentry stand-in, the built collector
(with a config written per test), and the OTLP clients that feed it."""

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
STANDIN = ROOT / "target" / "release" / "sentry-standin"
# OTELCOL_SENTRY: another build of the collector, e.g. the AddressSanitizer one of `make e2e-asan`.
COLLECTOR = Path(os.environ.get("OTELCOL_SENTRY", ROOT / "_build" / "otelcol-sentry"))
TELEMETRYGEN = ROOT / ".tools" / "bin" / "telemetrygen"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url, method="GET", body=None, headers=None, context=None):
    """A JSON call; `context` is the TLS context of an https URL."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        raw = response.read()
        return json.loads(raw) if raw else None


def wait_until(what, predicate, timeout=60.0, interval=0.2):
    """Polls `predicate` until it returns a truthy value; fails naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Process:
    """A child process whose output is kept (and shown when a test fails)."""

    def __init__(self, name, args, env=None):
        self.name = name
        self.lines = []
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self._first_line = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._first_line.set()
        self._first_line.set()

    def first_line(self, timeout=20):
        if not self._first_line.wait(timeout) or not self.lines:
            pytest.fail(f"{self.name} printed nothing: exit code {self.proc.poll()}")
        return self.lines[0]

    def output(self):
        return "\n".join(self.lines)

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class Standin:
    """The local Sentry stand-in and its control API (over HTTPS, trusting only its own
    CA, when it was started with --tls-dir)."""

    def __init__(self, process):
        self.process = process
        banner = json.loads(process.first_line())
        self.api = banner["api"]
        self.ingest = banner["ingest"]
        self.org = banner["org"]
        self.token = banner["token"]
        self.ca_file = banner.get("ca_file")
        self._tls = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None

    def _call(self, path, **kwargs):
        return http_json(f"{self.api}{path}", context=self._tls, **kwargs)

    def records(self, ids=True):
        """What arrived; without `ids`, the counts but not every item's id."""
        return self._call("/_standin/records" + ("" if ids else "?ids=false"))

    def fault(self, rule):
        return self._call("/_standin/faults", method="POST", body=rule)

    def control(self, method, path):
        return self._call(f"/_standin/{path}", method=method)

    def project_keys(self, slug):
        return self._call(f"/api/0/projects/{self.org}/{slug}/keys/",
                          headers={"Authorization": f"Bearer {self.token}"})


def assert_exactly_once(standin, expected):
    """Waits until every project of `expected` ({project: (service, spans, logs)})
    has all its items, then checks each arrived exactly once, only from its
    service, with the project's key and a gzip body. Returns the records."""

    def arrived():
        projects = standin.records()["projects"]
        return all(
            p in projects
            and sum(projects[p]["spans"].values()) >= spans
            and sum(projects[p]["logs"].values()) >= logs
            for p, (_, spans, logs) in expected.items()
        ) and projects

    wait_until("every item to reach the stand-in", arrived, timeout=60)
    # A duplicate sent late by a retry would still show up: give it a moment.
    time.sleep(1)
    records = standin.records()["projects"]
    for project, (service, spans, logs) in expected.items():
        got = records[project]
        print(f"{project}: {len(got['spans'])} distinct spans of {sum(got['spans'].values())} received, "
              f"{len(got['logs'])} distinct log records of {sum(got['logs'].values())} received")
        assert len(got["spans"]) == spans, project
        assert len(got["logs"]) == logs, project
        duplicates = {k: n for k, n in {**got["spans"], **got["logs"]}.items() if n != 1}
        assert not duplicates, f"{project} received items more than once: {duplicates}"
        assert got["services"] == [service], project

        key = next(k for k in standin.project_keys(project) if k["isActive"])["public"]
        accepted = [r for r in got["requests"] if r["status"] == 200]
        assert accepted, project
        for request in accepted:
            assert f"sentry_key={key}" in request["headers"]["x-sentry-auth"], request
            assert request["headers"]["content-encoding"] == "gzip", request
            assert request["headers"]["content-type"] == "application/x-protobuf", request
    return records


@pytest.fixture
def start_standin():
    started = []

    def start(*args):
        if not STANDIN.exists():
            pytest.fail(f"{STANDIN} is missing: run `make build`")
        process = Process("stand-in", [str(STANDIN), *args])
        started.append(process)
        return Standin(process)

    yield start
    for process in started:
        code = process.stop()
        # pytest shows this only when the test failed.
        print(f"--- stand-in output (exit {code}) ---\n{process.output()}")


class Collector:
    def __init__(self, process, grpc, http, health, metrics):
        self.process = process
        self.status_url = f"http://127.0.0.1:{health}/status?verbose"
        self.grpc_endpoint = f"127.0.0.1:{grpc}"
        self.http_endpoint = f"127.0.0.1:{http}"
        self.health_url = f"http://127.0.0.1:{health}/"
        self.metrics_url = f"http://127.0.0.1:{metrics}/metrics"

    def healthy(self):
        try:
            with urllib.request.urlopen(self.health_url, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def status(self):
        """The health_check v2 status document (200 or 503 alike), None when unreachable."""
        try:
            with urllib.request.urlopen(self.status_url, timeout=2) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            return json.loads(error.read())
        except OSError:
            return None


def listen_on(config: dict, grpc, http, health, metrics, log_level="info") -> dict:
    """Points a config's OTLP receiver, health_check and own metrics at the given
    loopback ports (in place), so several collectors can run side by side."""
    protocols = config["receivers"]["otlp"]["protocols"]
    protocols["grpc"]["endpoint"] = f"127.0.0.1:{grpc}"
    protocols["http"]["endpoint"] = f"127.0.0.1:{http}"
    health_check = config["extensions"]["health_check"]
    (health_check["http"] if "http" in health_check else health_check)["endpoint"] = f"127.0.0.1:{health}"
    config["service"]["telemetry"] = {
        "logs": {"level": log_level},
        "metrics": {"readers": [{"pull": {"exporter": {"prometheus": {"host": "127.0.0.1", "port": metrics}}}}]},
    }
    return config


def collector_config(sentry: dict, batch_timeout="200ms", status_v2=False) -> dict:
    """OTLP in, `batch`, traces and logs to the sentry exporter configured by `sentry`."""
    health_check = {"endpoint": ""}
    if status_v2:
        health_check = {
            "http": {"endpoint": "", "status": {"enabled": True, "path": "/status"}},
            "component_health": {"include_recoverable_errors": True, "recovery_duration": "1s"},
        }
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {}, "http": {}}}},
        "processors": {"batch": {"timeout": batch_timeout}},
        "exporters": {"sentry": sentry},
        "extensions": {"health_check": health_check},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {
                signal: {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["sentry"]}
                for signal in ("traces", "logs")
            },
        },
    }


def example_config(name: str) -> dict:
    """A config of examples/, as users get it (listen addresses to be set by `listen_on`)."""
    return yaml.safe_load((ROOT / "examples" / name).read_text())


@pytest.fixture
def launch_collector(tmp_path):
    """Starts the built collector with a whole config, on free loopback ports, and
    waits until it is up. Stopped (and its output shown on failure) after the test."""
    started = []

    def launch(config: dict, env=None, status_v2=False, log_level="info") -> Collector:
        if not COLLECTOR.exists():
            pytest.fail(f"{COLLECTOR} is missing: run `make build`")
        ports = [free_port() for _ in range(4)]
        config_path = tmp_path / f"otel-{len(started)}.yaml"
        config_path.write_text(yaml.safe_dump(listen_on(config, *ports, log_level=log_level)))
        args = [str(COLLECTOR), "--config", str(config_path)]
        if status_v2:
            args.append("--feature-gates=+extension.healthcheck.useComponentStatus")
        process = Process(f"collector {len(started)}", args, env=env)
        started.append(process)
        collector = Collector(process, *ports)
        ready = collector.status if status_v2 else collector.healthy
        wait_until("the collector to be up", lambda: ready() or process.proc.poll() is not None, timeout=30)
        if process.proc.poll() is not None:
            pytest.fail(f"the collector exited with {process.proc.returncode}:\n{process.output()}")
        return collector

    yield launch
    unclean = []
    for process in started:
        running = process.proc.poll() is None
        code = process.stop()
        print(f"--- {process.name} output (exit {code}) ---\n{process.output()}")
        # Stopped by SIGTERM here (not killed by the test): a clean shutdown exits 0, and a
        # sanitizer build reports leaks by exiting otherwise.
        if running and code != 0:
            unclean.append(f"{process.name} exited with {code}")
    assert not unclean, unclean


@pytest.fixture
def start_collector(launch_collector):
    """Starts the collector of `collector_config` with the given sentry exporter settings."""

    def start(sentry_config: dict, batch_timeout="200ms", status_v2=False, log_level="info"):
        return launch_collector(collector_config(sentry_config, batch_timeout, status_v2),
                                status_v2=status_v2, log_level=log_level)

    return start


METRIC_PREFIX = "otelcol_exporter_sentry_"


def scrape(url):
    """Every metric at a collector's metrics URL: {(name, frozenset(labels)): value}, names
    without a `_total` suffix."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    metrics = {}
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][\w:]*?)(?:_total)?(?:\{(.*)\})? (\S+)$", line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            metrics[(m.group(1), labels)] = float(m.group(3))
    return metrics


def value(metrics, name, **labels):
    """The sum of the series of `name` that carry `labels` (0 when none). A name without the
    `otelcol_` prefix is one of the sentry exporter's own (otelcol_exporter_sentry_...)."""
    full = name if name.startswith("otelcol_") else METRIC_PREFIX + name
    wanted = set(labels.items())
    return sum(v for (n, series), v in metrics.items() if n == full and wanted <= series)


def run(args, timeout=120, env=None):
    """Runs a client to completion; fails the test with its output if it fails."""
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        pytest.fail(f"{args[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


@pytest.fixture
def telemetrygen():
    if not TELEMETRYGEN.exists() and not shutil.which("telemetrygen"):
        pytest.fail("telemetrygen is missing: run `make tools`")
    return TELEMETRYGEN
