"""Fixtures for the end-to-end tests: the Sentry stand-in, the built collector (with a config
written per test), and the OTLP clients that feed it. The pieces themselves are in harness.py,
shared with scripts/soak.py and bench/run.py; the tests import them from here or from there."""

import json
import shutil

import pytest

from harness import (  # noqa: F401 (re-exported for the tests)
    COLLECTOR, METRIC_PREFIX, ROOT, STANDIN, TELEMETRYGEN, Collector, HarnessFailure, Process, Standin,
    assert_exactly_once, collector_config, example_config, free_port, http_json, listen_on, run, scrape,
    MemoryCgroup, start_collector as _start_collector, start_standin as _start_standin, telemetrygen_path, validate,
    value, projects_value, wait_until,
)


def run_node_client(package, *args):
    """Runs `package`'s index.js (its packages installed with `npm ci` the first time) with
    `args`; returns the JSON of its last line of output."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("node and npm are needed for the Node.js clients (Node 20.19 or later)")
    if not (package / "node_modules").is_dir():
        run([npm, "ci", "--no-audit", "--no-fund", "--prefix", package], timeout=300)
    out = run([node, package / "index.js", *args])
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def start_standin():
    """Starts the stand-in with the given arguments; stopped (and its output shown on failure)
    after the test."""
    started = []
    yield lambda *args: _start_standin(args, started)
    for process in started:
        code = process.stop()
        # pytest shows this only when the test failed.
        print(f"--- stand-in output (exit {code}) ---\n{process.output()}")


@pytest.fixture
def launch_collector(tmp_path):
    """Starts the built collector with a whole config, on free loopback ports, and
    waits until it is up. Stopped (and its output shown on failure) after the test."""
    started = []

    def launch(config: dict, env=None, status_v2=False, log_level="info", cgroup=None):
        n = len(started)
        return _start_collector(config, tmp_path / f"otel-{n}.yaml", started, name=f"collector {n}", env=env,
                                status_v2=status_v2, log_level=log_level, cgroup=cgroup)

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
def memory_cgroup(request):
    """Makes a memory cgroup (harness.MemoryCgroup) of the given limit, removed after the test
    (once its processes are gone); skips the test on a machine that lets none be made."""
    made = []

    def make(limit):
        cgroup = MemoryCgroup.make(f"e2e-{request.node.name[:40]}-{len(made)}", limit)
        if cgroup is None:
            pytest.skip("no memory cgroup can be made here (needs write access to the cgroup tree)")
        made.append(cgroup)
        return cgroup

    yield make
    for cgroup in made:
        cgroup.remove()


@pytest.fixture
def start_collector(launch_collector):
    """Starts the collector of `collector_config` with the given sentry exporter settings."""

    def start(sentry_config: dict, batch_timeout="200ms", status_v2=False, log_level="info"):
        return launch_collector(collector_config(sentry_config, batch_timeout, status_v2),
                                status_v2=status_v2, log_level=log_level)

    return start


@pytest.fixture
def telemetrygen():
    return telemetrygen_path()
