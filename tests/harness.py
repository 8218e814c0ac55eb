"""The harness the end-to-end tests (through tests/conftest.py), scripts/soak.py and
bench/run.py share: the Sentry stand-in and its control API, the built collector with a config
written per run, OTLP load from telemetrygen, the collector's own metrics, and the fault run.

The fault run (`fault_run`) is the one test of the collector under load while the stand-in
switches faults: `make test` runs it for a minute (tests/e2e/test_faults.py), `make soak` for
$SOAK_SECONDS (scripts/soak.py). Twelve services send traces and logs at a steady rate; every
minute the stand-in answers 503s, a span rate limit, an organization-wide log limit, 413s above
a size (after and before the body is read), dropped connections, slow answers (some past the
exporter's timeout, with the data kept), management API errors, 503s before the body is read,
connection resets mid-upload and ingest requests that are never answered; a project is deleted
(and must be created again). One project's OTLP ingest and another's envelope endpoint hang for
a few seconds of each minute, and a new service starts sending while the first lookup of its
project hangs.
Then it runs clean for the rest of the minute. Beside the load, a probe (`Probe`) sends a span,
a log record and a metric point of a healthy service every 0.2 s, and the same of the project
whose envelopes hang, and watches what arrives. Every 5 s the collector's resident
memory (VmRSS) and the Rust core's heap are sampled. The checks, `delivery_problems`,
`limit_problems` and `probe_problems`:

- every span and log record the collector accepted (its receiver's own count) arrived at least
  once, each in its service's project;
- the items that arrived more than once (per signal, each extra copy counted) are at most what
  the exporter itself counted as maybe delivered (`items_maybe_delivered_total`: items of
  requests that timed out or were cut off after being sent, which Sentry may already hold), and
  only in the projects whose faults keep the data of unanswered requests: every other project
  got each item exactly once;
- no ingest request was made for a key and category while Sentry's limit on it held;
- every kind of answer was exercised, and the deleted project was created again;
- RSS stays flat after warm-up: its highest value in the last third of the run at most 10 %
  (and 8 MiB) above its highest value in the first third after warm-up;
- the healthy probe's spans, log records and metric points each arrived within 2 s of being
  sent for at least 99 % of the ticks (its log records sent while the organization's log limit
  held are left out: Sentry refuses every project's then), and every one exactly once; the
  metric points of the project whose envelopes hang, exactly once.
"""

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

import yaml
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import ResourceMetrics
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans

ROOT = Path(__file__).resolve().parent.parent
STANDIN = ROOT / "target" / "release" / "sentry-standin"
# OTELCOL_SENTRY: another build of the collector, e.g. the AddressSanitizer one of `make e2e-asan`.
COLLECTOR = Path(os.environ.get("OTELCOL_SENTRY", ROOT / "_build" / "otelcol-sentry"))
TELEMETRYGEN = ROOT / ".tools" / "bin" / "telemetrygen"
MIB = 1 << 20


class HarnessFailure(AssertionError):
    """A run that cannot go on: a process that did not start, a wait that timed out."""


def fail(message):
    raise HarnessFailure(message)


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
            fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def run(args, timeout=120, env=None):
    """Runs a client to completion; fails with its output if it fails."""
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if result.returncode != 0:
        fail(f"{args[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


class Process:
    """A child process whose output is kept (and shown when a test fails)."""

    def __init__(self, name, args, env=None, cgroup=None):
        self.name = name
        self.lines = []
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
            preexec_fn=cgroup.enter if cgroup else None,
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
            fail(f"{self.name} printed nothing: exit code {self.proc.poll()}")
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


# --- the stand-in ---------------------------------------------------------------------------

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


def start_standin(args, started):
    """Starts the stand-in with `args`; its process goes to `started` (to be stopped by the
    caller) before its banner is read."""
    if not STANDIN.exists():
        fail(f"{STANDIN} is missing: run `make build`")
    process = Process("stand-in", [str(STANDIN), *args])
    started.append(process)
    return Standin(process)


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


# --- the collector --------------------------------------------------------------------------

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
    loopback ports (in place), so several collectors can run side by side. Periodic metric
    readers the config lists already (say, a push to the test) are kept after the Prometheus one."""
    protocols = config["receivers"]["otlp"]["protocols"]
    protocols["grpc"]["endpoint"] = f"127.0.0.1:{grpc}"
    protocols["http"]["endpoint"] = f"127.0.0.1:{http}"
    health_check = config["extensions"]["health_check"]
    (health_check["http"] if "http" in health_check else health_check)["endpoint"] = f"127.0.0.1:{health}"
    readers = ((config["service"].get("telemetry") or {}).get("metrics") or {}).get("readers") or []
    # Pull readers (an example's Prometheus port) would collide between collectors.
    readers = [reader for reader in readers if "periodic" in reader]
    config["service"]["telemetry"] = {
        "logs": {"level": log_level},
        "metrics": {"readers": [{"pull": {"exporter": {"prometheus": {"host": "127.0.0.1", "port": metrics}}}},
                                *readers]},
    }
    return config


def collector_config(sentry: dict, batch_timeout="200ms", status_v2=False, signals=("traces", "logs")) -> dict:
    """OTLP in, the `signals` (traces and logs unless told) to the sentry exporter configured by
    `sentry`, whose queue batches (its default; unless `sending_queue.batch.enabled` is false)
    and flushes after `batch_timeout`: no `batch` processor, as in examples/otel.yaml."""
    health_check = {"endpoint": ""}
    if status_v2:
        health_check = {
            "http": {"endpoint": "", "status": {"enabled": True, "path": "/status"}},
            "component_health": {"include_recoverable_errors": True, "recovery_duration": "1s"},
        }
    batch = sentry.setdefault("sending_queue", {}).setdefault("batch", {})
    if batch.get("enabled", True):
        batch.setdefault("flush_timeout", batch_timeout)
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {}, "http": {}}}},
        "exporters": {"sentry": sentry},
        "extensions": {"health_check": health_check},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {signal: {"receivers": ["otlp"], "exporters": ["sentry"]} for signal in signals},
        },
    }


def validate(config, directory: Path, env=None):
    """`otelcol-sentry validate` on `config` (a dict, YAML text, or the path of a file; the first
    two are written to `directory`). With `env`, the collector sees only it and PATH."""
    if isinstance(config, Path):
        path = config
    else:
        path = directory / "otel.yaml"
        path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    if env is not None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    return subprocess.run([str(COLLECTOR), "validate", "--config", str(path)], capture_output=True,
                          text=True, timeout=60, env=env)


def example_config(name: str) -> dict:
    """A config of examples/, as users get it (listen addresses to be set by `listen_on`)."""
    return yaml.safe_load((ROOT / "examples" / name).read_text())


def start_collector(config: dict, config_path: Path, started, name="collector", env=None, status_v2=False,
                    log_level="info", cgroup=None) -> Collector:
    """Starts the built collector with a whole config (written to `config_path`), on free
    loopback ports, and waits until it is up; in `cgroup` (a MemoryCgroup) from its start when
    given. Its process goes to `started` (to be stopped by the caller) as soon as it runs."""
    if not COLLECTOR.exists():
        fail(f"{COLLECTOR} is missing: run `make build`")
    ports = [free_port() for _ in range(4)]
    config_path.write_text(yaml.safe_dump(listen_on(config, *ports, log_level=log_level)))
    args = [str(COLLECTOR), "--config", str(config_path)]
    if status_v2:
        args.append("--feature-gates=+extension.healthcheck.useComponentStatus")
    process = Process(name, args, env=env, cgroup=cgroup)
    started.append(process)
    collector = Collector(process, *ports)
    ready = collector.status if status_v2 else collector.healthy
    wait_until("the collector to be up", lambda: ready() or process.proc.poll() is not None, timeout=30)
    if process.proc.poll() is not None:
        fail(f"the collector exited with {process.proc.returncode}:\n{process.output()}")
    return collector


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class MemoryCgroup:
    """A memory cgroup of `limit` bytes below this process's own (cgroup v2 when its memory
    controller is there, else v1), as a Kubernetes pod's memory limit: a process started with
    `enter` as its preexec_fn runs in it from its first instruction, so the collector's
    memory_limiter and the core read its limit. `None` from `make` when this machine lets no
    memory cgroup be made."""

    def __init__(self, path: Path, v2: bool):
        self.path, self.v2 = path, v2

    @staticmethod
    def make(name, limit):
        own = [line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().splitlines()]
        v2_path = next((path for _, controllers, path in own if controllers == ""), None)
        v1_path = next((path for _, controllers, path in own if "memory" in controllers.split(",")), None)
        v2_root = next((Path(root) for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")
                        if "memory" in _read(Path(root) / "cgroup.controllers").split()), None)
        try:
            if v2_root is not None and v2_path is not None:
                cgroup = MemoryCgroup(v2_root / v2_path.lstrip("/") / name, True)
                cgroup.path.mkdir(exist_ok=True)
                (cgroup.path / "memory.max").write_text(str(limit))
            elif v1_path is not None:
                cgroup = MemoryCgroup(Path("/sys/fs/cgroup/memory") / v1_path.lstrip("/") / name, False)
                cgroup.path.mkdir(exist_ok=True)
                (cgroup.path / "memory.limit_in_bytes").write_text(str(limit))
            else:
                return None
        except OSError:
            return None
        return cgroup

    def enter(self):
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def limit_hits(self):
        """How often the memory use reached the limit."""
        if self.v2:
            events = dict(line.split() for line in (self.path / "memory.events").read_text().splitlines())
            return int(events["max"])
        return int((self.path / "memory.failcnt").read_text())

    def peak(self):
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        return int((self.path / name).read_text())

    def remove(self):
        try:
            self.path.rmdir()
        except OSError:
            pass


# --- telemetry ------------------------------------------------------------------------------

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


def projects_value(metrics, name, exporter="sentry"):
    """The sum of `name` over the exporters of `exporter`'s projects: each project has its own
    exporterhelper exporter (queue, retries), named `sentry/<project>`."""
    prefix = exporter + "/"
    return sum(v for (n, series), v in metrics.items()
               if n == name and any(k == "exporter" and e.startswith(prefix) for k, e in series))


def rss_bytes(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# --- OTLP requests made here ----------------------------------------------------------------

def attribute(key, text):
    return KeyValue(key=key, value=AnyValue(string_value=text))


def resource_spans(service, n, span_attributes=(), resource_attributes=(), first=0):
    """`n` spans of `service`, with distinct ids from `first` on (the stand-in counts spans by id)."""
    rs = ResourceSpans()
    rs.resource.attributes.extend([attribute("service.name", service), *resource_attributes])
    scope = rs.scope_spans.add()
    for i in range(first, first + n):
        span = scope.spans.add()
        span.trace_id = (hash(service) & (2**64 - 1)).to_bytes(8, "big") + i.to_bytes(8, "big")
        span.span_id = (i + 1).to_bytes(8, "big")
        span.name = "hostile"
        span.start_time_unix_nano = time.time_ns()
        span.end_time_unix_nano = span.start_time_unix_nano + 1000
        span.attributes.extend(span_attributes)
    return rs


def resource_metric(service, name):
    """A resource of `service` holding one metric named `name`, to fill in: (resource, metric)."""
    resource = ResourceMetrics()
    resource.resource.attributes.append(attribute("service.name", service))
    metric = resource.scope_metrics.add().metrics.add()
    metric.name = name
    return resource, metric


def post(collector, path, message):
    """Posts one OTLP/HTTP protobuf request to the collector; fails unless it answers 200."""
    request = urllib.request.Request(f"http://{collector.http_endpoint}{path}", data=message.SerializeToString(),
                                     headers={"Content-Type": "application/x-protobuf"}, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200


# --- load -----------------------------------------------------------------------------------

def telemetrygen_path():
    if TELEMETRYGEN.exists():
        return TELEMETRYGEN
    found = shutil.which("telemetrygen")
    if not found:
        fail("telemetrygen is missing: run `make tools`")
    return Path(found)


def load(endpoint, services, rate, seconds, child_spans=1):
    """telemetrygen traces (1 + `child_spans` spans each) and logs at `rate` per second for
    each service, for `seconds`: the processes, to be passed to `wait_for`."""
    telemetrygen = telemetrygen_path()
    procs = []
    for service in services:
        common = ["--otlp-insecure", "--otlp-endpoint", endpoint, "--service", service, "--rate", str(rate),
                  "--duration", f"{seconds}s"]
        procs.append(subprocess.Popen([telemetrygen, "traces", *common, "--child-spans", str(child_spans)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        procs.append(subprocess.Popen([telemetrygen, "logs", *common],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    return procs


def wait_for(procs, timeout):
    for proc in procs:
        _, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            fail(f"telemetrygen failed: {err.decode()}")


# --- the fault run --------------------------------------------------------------------------

SERVICES = [f"svc-{i}" for i in range(12)]
RATE = 10  # telemetrygen --rate of each service's traces and logs
CHILD_SPANS = 1
SAMPLE_SECONDS = 5
WARM_UP_SECONDS = 30
MIN_SECONDS = 2 * WARM_UP_SECONDS
HTTP_TIMEOUT = "5s"  # the exporter's http.timeout: hung and slow requests give up after it
SPAN_LIMIT_S = 20  # from second 6: its held data is sent before the RSS samples that count
LOG_LIMIT_S = 10
# Requests already on the wire when a limit arrives are not "made while it held".
IN_FLIGHT_GRACE_MS = 1000
DELETED = "svc-4"
# The projects whose faults keep the data of requests they never answer in time (a Sentry that
# stored it but whose answer was late or lost): the only ones where an item may arrive twice.
DATA_KEPT = {"svc-8", "svc-9"}
# A service that first sends at NEW_SERVICE_SECOND of each minute, for NEW_SERVICE_SECONDS,
# while the lookup of its project hangs once.
NEW_SERVICE_SECOND = 45
NEW_SERVICE_SECONDS = 10
# The probe's healthy service, and the project whose envelope endpoint hangs.
PROBE = "probe"
SICK_ENVELOPES = "svc-6"
PROBE_TICK = 0.2
ON_TIME = 2.0
# (second within each minute, what, action): a fault rule, a control call (method, path) or
# None to clear every fault; `{org}` and `{new}` in a rule's path_contains are the organization
# and that minute's new service.
FAULT_CYCLE = [
    (3, "503s on svc-1", {"target": "ingest", "project": "svc-1", "status": 503, "times": 20}),
    (6, f"{SPAN_LIMIT_S} s span limit on svc-2's key",
     {"target": "ingest", "project": "svc-2", "signal": "traces", "status": 429,
      "headers": {"X-Sentry-Rate-Limits": f"{SPAN_LIMIT_S}:span:key:test"}, "times": 1}),
    (9, f"{LOG_LIMIT_S} s organization log_item limit, answered to svc-3",
     {"target": "ingest", "project": "svc-3", "signal": "logs", "status": 429,
      "headers": {"X-Sentry-Rate-Limits": f"{LOG_LIMIT_S}:log_item:organization:test"}, "times": 1}),
    (12, f"{DELETED} deleted (to be created again)", ("POST", f"projects/{DELETED}/delete")),
    # Until the faults go off; no single item is that large, so the halves get through.
    (14, "413s above 700 bytes on svc-5", {"target": "ingest", "project": "svc-5", "max_body_bytes": 700}),
    (16, "dropped connections on svc-6", {"target": "ingest", "project": "svc-6", "drop_connection": True,
                                          "times": 10}),
    (20, "2 s answers on svc-7", {"target": "ingest", "project": "svc-7", "delay_ms": 2000, "times": 5}),
    (22, "answers after the exporter's timeout on svc-9 (data kept)",
     {"target": "ingest", "project": "svc-9", "delay_ms": 7000, "times": 2}),
    (25, "management API 500s", {"target": "mgmt", "status": 500, "times": 10}),
    (28, "503s before the body is read on svc-10", {"target": "ingest", "project": "svc-10",
                                                     "early_answer": True, "status": 503, "times": 5}),
    # 413 only above 2 KiB (by Content-Length, as relay refuses uploads): the exporter halves
    # a refused request, and no single item is that large, so nothing is dropped.
    (29, "413s before the body is read on svc-11, for bodies over 2 KiB",
     {"target": "ingest", "project": "svc-11", "early_answer": True, "max_body_bytes": 2048, "times": 3}),
    (31, "connection resets mid-upload on svc-0", {"target": "ingest", "project": "svc-0",
                                                    "reset_mid_upload": True, "times": 5}),
    (33, "never-answered requests on svc-8 (data kept)", {"target": "ingest", "project": "svc-8", "hang": True,
                                                           "times": 3}),
    # One project whose ingest hangs, keeping nothing, until the faults go off: every other
    # project's data keeps flowing (one queue per project).
    (34, "svc-7's ingest accepts and never answers in time (nothing kept)",
     {"target": "ingest", "project": "svc-7", "status": 503, "delay_ms": 60_000}),
    # The same for one project's envelope endpoint (the probe sends its metric points).
    (35, f"{SICK_ENVELOPES}'s envelope endpoint accepts and never answers in time (nothing kept)",
     {"target": "ingest", "project": SICK_ENVELOPES, "signal": "envelope", "status": 503, "delay_ms": 60_000}),
    (40, "faults off", None),
    # After the others are off, so that no management API 500 comes before the hang.
    (NEW_SERVICE_SECOND, "a hanging project lookup for the new service {new}",
     {"target": "mgmt", "path_contains": "/projects/{org}/{new}/keys/", "hang": True, "times": 1}),
]
# Answers the run must have seen (None: a connection dropped or reset without one).
STATUSES_EXERCISED = {503, 429, 413, 403, None}
MAYBE_DELIVERED = "items_maybe_delivered"  # otelcol_exporter_sentry_items_maybe_delivered_total
# signal label of the exporter's metrics -> (the records' per-id counts, what an item is)
SIGNALS = {"traces": ("spans", "spans"), "logs": ("logs", "log records")}


def fault_run_sentry(standin) -> dict:
    """The sentry exporter's settings of the fault run."""
    return {
        "url": standin.api, "org_slug": standin.org, "auth_token": standin.token,
        "auto_create_projects": True,
        "http": {"timeout": HTTP_TIMEOUT},
        "sending_queue": {"enabled": True, "queue_size": 100_000},
        "retry_on_failure": {"enabled": True, "initial_interval": "200ms", "max_interval": "5s",
                             "max_elapsed_time": "0s"},
    }


def fault_run_config(standin) -> dict:
    """The collector config of the fault run (listen addresses to be set by `listen_on`)."""
    return collector_config(fault_run_sentry(standin), batch_timeout="1s", signals=("traces", "logs", "metrics"))


FAULT_RUN_STANDIN_ARGS = ["--projects", ",".join([*SERVICES, PROBE]), "--quiet"]
FAULT_RUN_LOG_LEVEL = "warn"


def log(message):
    print(f"fault run: {message}", flush=True)


def new_service(minute):
    return f"svc-new-{minute // 60}"


def switch_faults(standin, endpoint, seconds, stop, late_procs):
    """Switches the faults of FAULT_CYCLE every minute; starts each minute's new service (its
    telemetrygen processes go to `late_procs`) when it can send for its whole time."""
    start = time.monotonic()
    for minute in range(0, seconds, 60):
        new = new_service(minute)
        for second, what, action in FAULT_CYCLE:
            at = start + minute + second
            if at > start + seconds or stop.wait(max(0.0, at - time.monotonic())):
                standin.control("DELETE", "faults")
                return
            if action is None:
                standin.control("DELETE", "faults")
            elif isinstance(action, tuple):
                standin.control(*action)
            else:
                path = action.get("path_contains")
                standin.fault(action if path is None else
                              {**action, "path_contains": path.format(org=standin.org, new=new)})
            log(f"{round(time.monotonic() - start)} s: {what.format(new=new)}")
            if second == NEW_SERVICE_SECOND and minute + second + NEW_SERVICE_SECONDS <= seconds:
                late_procs.extend(load(endpoint, [new], RATE, NEW_SERVICE_SECONDS, CHILD_SPANS))
                log(f"{round(time.monotonic() - start)} s: {new} starts sending for {NEW_SERVICE_SECONDS} s")
    standin.control("DELETE", "faults")


def accepted(collector):
    """Spans and log records the collector's OTLP receiver accepted: what must arrive."""
    metrics = scrape(collector.metrics_url)
    return {"traces": value(metrics, "otelcol_receiver_accepted_spans"),
            "logs": value(metrics, "otelcol_receiver_accepted_log_records")}


def received(standin):
    """Items that arrived in every project, duplicates included."""
    projects = standin.records(ids=False)["projects"]
    return sum(p.get("span_total", 0) + p.get("log_total", 0) for p in projects.values())


def distinct_received(standin):
    """Distinct items that arrived in every project: duplicates do not count towards the
    drain."""
    projects = standin.records(ids=False)["projects"]
    return sum(p.get("span_distinct", 0) + p.get("log_distinct", 0) for p in projects.values())


def sample(collector, standin, started, samples, stop):
    """Every SAMPLE_SECONDS: (second, collector RSS, core heap, items received)."""
    while not stop.wait(SAMPLE_SECONDS):
        metrics = scrape(collector.metrics_url)
        samples.append((round(time.monotonic() - started), rss_bytes(collector.process.proc.pid),
                        value(metrics, "core_heap_bytes"), received(standin)))


def wait_until_drained(standin, expected):
    deadline = time.monotonic() + 180
    while distinct_received(standin) < expected:
        if time.monotonic() > deadline:
            log(f"gave up waiting: {distinct_received(standin):,} of {expected:,.0f} distinct items arrived")
            return
        time.sleep(1)
    time.sleep(2)  # a late duplicate would still show


def wait_until_drained_metrics(standin, ticks):
    """Until the probe's metric points of both projects arrived (those of SICK_ENVELOPES wait
    for the end of its fault)."""
    deadline = time.monotonic() + 120
    while any(standin.records(ids=False)["projects"][p]["trace_metric_total"] < ticks for p in (PROBE, SICK_ENVELOPES)):
        if time.monotonic() > deadline:
            return
        time.sleep(1)


def flat_after_warm_up(samples):
    after = [s for s in samples if s[0] >= WARM_UP_SECONDS]
    third = max(1, len(after) // 3)
    early, late = max(s[1] for s in after[:third]), max(s[1] for s in after[-third:])
    return late <= max(early * 1.10, early + 8 * MIB), early, late


def arrivals(projects, signal):
    """(distinct items, extra copies) of a signal over `projects`: an item that came three
    times counts as two duplicates."""
    counts = [n for project in projects.values() for n in project[SIGNALS[signal][0]].values()]
    return len(counts), sum(n - 1 for n in counts)


def maybe_delivered(collector):
    """The exporter's own count of items that may have reached Sentry without its knowing,
    per signal; None when the collector does not export the metric."""
    metrics = scrape(collector.metrics_url)
    if not any(name == METRIC_PREFIX + MAYBE_DELIVERED for name, _ in metrics):
        return None
    return {signal: value(metrics, MAYBE_DELIVERED, signal=signal) for signal in SIGNALS}


def delivery_problems(records, counted, accepted_items):
    """At least once, duplicates within what the exporter counted as maybe delivered and only
    where the data of unanswered requests is kept, each project's items from its service.
    Prints the figures; returns what is wrong."""
    projects = records["projects"]
    wrong = []
    for signal, (_, items) in SIGNALS.items():
        distinct, duplicates = arrivals(projects, signal)
        expected = accepted_items[signal]
        print(f"{items}: {expected:,.0f} accepted by the collector, {distinct:,} distinct arrived; "
              f"{duplicates:,} duplicates, {counted[signal]:,.0f} maybe delivered by the exporter's count")
        if distinct < expected:
            wrong.append(f"{items}: {expected - distinct:,.0f} accepted but never arrived")
        if duplicates > counted[signal]:
            wrong.append(f"{items}: {duplicates:,} duplicates, more than the {counted[signal]:,.0f} the exporter "
                         "counted as maybe delivered")
    for name, project in sorted(projects.items()):
        if project["services"] != [name]:
            wrong.append(f"{name} received data of the services {project['services']}")
        if name not in DATA_KEPT:
            duplicated = sum(n - 1 for key in ("spans", "logs") for n in project[key].values())
            if duplicated:
                wrong.append(f"{name}: {duplicated} items arrived more than once, though no fault keeps its data")
    print(f"at least once, duplicates accounted for: {'yes' if not wrong else 'NO'}")
    return wrong


def requests(records, project=None, signal=None):
    """(project, request) of every ingest request the stand-in logged, by project and signal."""
    for name, record in records["projects"].items():
        if project in (None, name):
            for r in record["requests"]:
                if signal in (None, r["signal"]):
                    yield name, r


def limit_problems(records):
    """No request for the limited key and category while a limit held; every kind of answer
    exercised; the deleted project created again. Prints the figures; returns what is wrong."""
    wrong = []
    span_limits = [r for _, r in requests(records, "svc-2", "traces") if r["status"] == 429 and r["fault"]]
    log_limits = [r for _, r in requests(records, "svc-3", "logs") if r["status"] == 429 and r["fault"]]
    if not span_limits or not log_limits:
        wrong.append(f"limits answered: {len(span_limits)} span, {len(log_limits)} organization log")
    for limit in span_limits:
        during = [r for _, r in requests(records, "svc-2", "traces")
                  if limit["at_ms"] + IN_FLIGHT_GRACE_MS < r["at_ms"] < limit["at_ms"] + SPAN_LIMIT_S * 1000]
        print(f"svc-2 span limit at {limit['at_ms']} ms: {len(during)} traces requests during it")
        if during:
            wrong.append(f"svc-2: traces requests while its span limit held: {during}")
    for limit in log_limits:
        during = [(p, r) for p, r in requests(records, signal="logs")
                  if limit["at_ms"] + IN_FLIGHT_GRACE_MS < r["at_ms"] < limit["at_ms"] + LOG_LIMIT_S * 1000]
        print(f"organization log limit at {limit['at_ms']} ms: {len(during)} logs requests during it")
        if during:
            wrong.append(f"logs requests while the organization's log limit held: {during}")
    statuses = {r["status"] for _, r in requests(records)}
    print("ingest statuses seen:", sorted(statuses, key=str))
    if not STATUSES_EXERCISED <= statuses:
        wrong.append(f"answers never exercised: {sorted(STATUSES_EXERCISED - statuses, key=str)}")
    if DELETED not in records["projects_created"]:
        wrong.append(f"the deleted project {DELETED} was not created again")
    return wrong


def probe_logs(service, tick):
    resource = ResourceLogs()
    resource.resource.attributes.append(attribute("service.name", service))
    record = resource.scope_logs.add().log_records.add()
    record.time_unix_nano = time.time_ns()
    record.body.string_value = f"probe tick {tick}"
    return resource


def probe_metrics(service, tick):
    resource, metric = resource_metric(service, "probe.tick")
    point = metric.gauge.data_points.add()
    point.time_unix_nano = time.time_ns()
    point.as_int = tick
    return resource


class Probe:
    """Every PROBE_TICK, sends one span, one log record and one metric point of `healthy` and
    of `sick` (each signal in one request), and polls what arrived in `healthy`'s project
    meanwhile."""

    COUNTS = {"spans": "span_distinct", "logs": "log_distinct", "metric points": "trace_metric_total"}

    def __init__(self, collector, standin, seconds, healthy, sick):
        self.collector, self.standin, self.seconds = collector, standin, seconds
        self.healthy, self.sick = healthy, sick
        self.sent = []  # wall-clock second each tick was sent
        self.seen = []  # (wall-clock second, healthy's counts)
        self.errors = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._send), threading.Thread(target=self._poll)]
        for thread in self.threads:
            thread.start()

    def _send(self):
        start = time.monotonic()
        services = (self.healthy, self.sick)
        for tick in range(round(self.seconds / PROBE_TICK)):
            if self.stop.wait(max(0.0, start + tick * PROBE_TICK - time.monotonic())):
                return
            sent = time.time()
            try:
                post(self.collector, "/v1/traces",
                     ExportTraceServiceRequest(resource_spans=[resource_spans(s, 1, first=tick) for s in services]))
                post(self.collector, "/v1/logs",
                     ExportLogsServiceRequest(resource_logs=[probe_logs(s, tick) for s in services]))
                post(self.collector, "/v1/metrics",
                     ExportMetricsServiceRequest(resource_metrics=[probe_metrics(s, tick) for s in services]))
            except (OSError, AssertionError) as e:
                self.errors.append(f"tick {tick}: {e!r}")
            self.sent.append(sent)

    def counts(self, project):
        """What arrived in `project`, by the names of COUNTS."""
        record = self.standin.records(ids=False)["projects"].get(project, {})
        return {name: record.get(key, 0) for name, key in self.COUNTS.items()}

    def _poll(self):
        while not self.stop.wait(0.05):
            self.seen.append((time.time(), self.counts(self.healthy)))

    def finish(self):
        """Waits for the last tick to be sent and to have had its time to arrive."""
        self.threads[0].join()
        time.sleep(ON_TIME + 0.5)
        self.stop.set()
        self.threads[1].join()

    def late(self, name, left_out):
        """Ticks whose item `name` had not arrived ON_TIME after it was sent, but those sent in
        one of the `left_out` (start, end) windows; and how many ticks count."""
        counted = [(i, at) for i, at in enumerate(self.sent) if not any(a <= at <= b for a, b in left_out)]
        late, j, arrived_by = [], 0, 0
        # Both lists are in time order: walk the polls once.
        for i, at in counted:
            while j < len(self.seen) and self.seen[j][0] <= at + ON_TIME:
                arrived_by = max(arrived_by, self.seen[j][1][name])
                j += 1
            if arrived_by < i + 1:
                late.append(i)
        return late, len(counted)


def org_log_limits(records):
    """(start, end) in wall-clock seconds of every organization-wide log limit answered."""
    return [(r["at_ms"] / 1000 - 1, r["at_ms"] / 1000 + LOG_LIMIT_S + 1)
            for _, r in requests(records, "svc-3", "logs") if r["status"] == 429 and r["fault"]]


def probe_problems(probe, records):
    """The probe's items on time (at least 99 % within ON_TIME) and exactly once; the sick
    envelope project's metric points exactly once. Prints the figures; returns what is wrong."""
    wrong = list(probe.errors)
    ticks = len(probe.sent)
    for name in Probe.COUNTS:
        late, counted = probe.late(name, org_log_limits(records) if name == "logs" else [])
        print(f"probe {name}: {len(late)} of {counted} ticks not arrived within {ON_TIME:.0f} s"
              + (f" (ticks {late[:20]})" if late else ""))
        if len(late) > counted // 100:
            wrong.append(f"probe: {len(late)} of {counted} {name} of a healthy service late")
    project, sick = records["projects"][PROBE], records["projects"][SICK_ENVELOPES]
    arrived = {"spans": project["span_total"], "logs": project["log_total"],
               "metric points": project["trace_metric_total"],
               f"{SICK_ENVELOPES}'s metric points": sick["trace_metric_total"]}
    print(f"probe: {ticks} ticks sent; arrived {arrived}")
    wrong += [f"{name}: {n} arrived for {ticks} sent" for name, n in arrived.items() if n != ticks]
    return wrong


def fault_run(standin, collector, seconds) -> list:
    """Runs the load and the fault cycle for `seconds` against a collector of
    `fault_run_config` and a stand-in started with FAULT_RUN_STANDIN_ARGS, waits for the queue
    to drain, prints the samples and figures, and returns every problem found (none: passed)."""
    if seconds < MIN_SECONDS:
        fail(f"a fault run lasts at least {MIN_SECONDS} s")
    log(f"{len(SERVICES)} services, traces ({1 + CHILD_SPANS} spans each) and log records at telemetrygen "
        f"--rate {RATE} each, for {seconds} s, faults every minute")
    started = time.monotonic()
    stop, samples, late_procs = threading.Event(), [], []
    threads = [threading.Thread(target=switch_faults,
                                args=(standin, collector.grpc_endpoint, seconds, stop, late_procs)),
               threading.Thread(target=sample, args=(collector, standin, started, samples, stop))]
    for thread in threads:
        thread.start()
    probe = Probe(collector, standin, seconds, PROBE, SICK_ENVELOPES)
    try:
        wait_for(load(collector.grpc_endpoint, SERVICES, RATE, seconds, CHILD_SPANS), timeout=seconds + 120)
        # Every new service started at least NEW_SERVICE_SECONDS before the end.
        wait_for(list(late_procs), timeout=NEW_SERVICE_SECONDS + 120)
        probe.finish()
        accepted_items = accepted(collector)
        wait_until_drained(standin, sum(accepted_items.values()))
        wait_until_drained_metrics(standin, len(probe.sent))
    finally:
        stop.set()
        probe.stop.set()
        for thread in [*threads, *probe.threads]:
            thread.join()

    print("| second | collector RSS (MiB) | core heap (MiB) | items received |\n| ---: | ---: | ---: | ---: |")
    for second, rss, heap, items in samples:
        print(f"| {second} | {rss / MIB:.1f} | {heap / MIB:.1f} | {items:,} |")
    print()
    counted = maybe_delivered(collector)
    problems = []
    if counted is None:
        problems.append(f"metric {METRIC_PREFIX}{MAYBE_DELIVERED}_total missing")
        counted = dict.fromkeys(SIGNALS, 0)
    records = standin.records()
    problems += delivery_problems(records, counted, accepted_items)
    problems += limit_problems(records)
    problems += probe_problems(probe, records)
    flat, early, late = flat_after_warm_up(samples)
    print(f"RSS after warm-up: highest {early / MIB:.1f} MiB in the first third, {late / MIB:.1f} MiB in the last: "
          f"{'flat' if flat else 'GROWING'}")
    if not flat:
        problems.append(f"RSS grew from {early / MIB:.1f} MiB to {late / MIB:.1f} MiB after warm-up")
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    return problems
