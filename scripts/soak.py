"""`make soak`: the built collector under steady load for a set time while the
stand-in switches faults on and off, then the exactly-once check and the
collector's memory over time.

Ten services send traces and logs through telemetrygen at a steady rate. Every
minute the stand-in answers 503s, a span rate limit, dropped connections, slow
answers and management API errors, then runs clean for the rest of the minute.
Every 5 s the collector's resident memory (VmRSS) and the Rust core's heap
(`core_heap_bytes`) are sampled. At the end every span and log record the
collector accepted (its receiver's own count) must have arrived exactly once,
and RSS must stay flat after warm-up: its highest value in the last third of
the run at most 10 % (and 8 MiB) above its highest value in the first third
after warm-up.

  .venv/bin/python scripts/soak.py --seconds 600
"""

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import (  # noqa: E402
    COLLECTOR, STANDIN, TELEMETRYGEN, Collector, Process, Standin, collector_config, free_port, listen_on, scrape,
    value, wait_until,
)

MIB = 1 << 20
SERVICES = [f"soak-{i}" for i in range(10)]
RATE = 10  # telemetrygen --rate of each service's traces and logs
CHILD_SPANS = 1
SAMPLE_SECONDS = 5
WARM_UP_SECONDS = 30
# (second within each minute, what, fault rule or None to clear all)
FAULT_CYCLE = [
    (5, "503s on soak-1", {"target": "ingest", "project": "soak-1", "status": 503, "times": 20}),
    (10, "10 s span limit on soak-2", {"target": "ingest", "project": "soak-2", "signal": "traces", "status": 429,
                                      "headers": {"X-Sentry-Rate-Limits": "10:span:key:soak"}, "times": 1}),
    (15, "dropped connections on soak-3", {"target": "ingest", "project": "soak-3", "drop_connection": True,
                                           "times": 10}),
    (20, "2 s answers on soak-4", {"target": "ingest", "project": "soak-4", "delay_ms": 2000, "times": 5}),
    (25, "management API 500s", {"target": "mgmt", "status": 500, "times": 10}),
    (40, "faults off", None),
]


def log(message):
    print(f"soak: {message}", file=sys.stderr, flush=True)


def rss_bytes(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def start_collector(standin, workdir):
    config = collector_config({
        "url": standin.api, "org_slug": standin.org, "auth_token": standin.token,
        "auto_create_projects": True,
        "sending_queue": {"enabled": True, "queue_size": 100_000},
        "retry_on_failure": {"enabled": True, "initial_interval": "200ms", "max_interval": "5s",
                             "max_elapsed_time": "0s"},
    }, batch_timeout="1s")
    ports = [free_port() for _ in range(4)]
    path = workdir / "otel.yaml"
    path.write_text(yaml.safe_dump(listen_on(config, *ports, log_level="warn")))
    process = Process("collector", [str(COLLECTOR), "--config", str(path)])
    collector = Collector(process, *ports)
    wait_until("the collector to be up", lambda: collector.healthy() or process.proc.poll() is not None, timeout=30)
    if process.proc.poll() is not None:
        raise SystemExit(f"soak: the collector exited:\n{process.output()}")
    return collector


def generators(endpoint, seconds):
    procs = []
    for service in SERVICES:
        common = ["--otlp-insecure", "--otlp-endpoint", endpoint, "--service", service, "--rate", str(RATE),
                  "--duration", f"{seconds}s"]
        procs.append(subprocess.Popen([TELEMETRYGEN, "traces", *common, "--child-spans", str(CHILD_SPANS)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        procs.append(subprocess.Popen([TELEMETRYGEN, "logs", *common],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    return procs


def accepted(collector):
    """Spans and log records the collector's OTLP receiver accepted: what must arrive."""
    metrics = scrape(collector.metrics_url)
    return (value(metrics, "otelcol_receiver_accepted_spans"),
            value(metrics, "otelcol_receiver_accepted_log_records"))


def switch_faults(standin, seconds, stop):
    start = time.monotonic()
    for minute in range(0, seconds, 60):
        for second, what, rule in FAULT_CYCLE:
            at = start + minute + second
            if at > start + seconds or stop.wait(max(0.0, at - time.monotonic())):
                standin.control("DELETE", "faults")
                return
            standin.control("DELETE", "faults") if rule is None else standin.fault(rule)
            log(f"{round(time.monotonic() - start)} s: {what}")
    standin.control("DELETE", "faults")


def received(standin):
    projects = standin.records(ids=False)["projects"]
    return sum(projects.get(s, {}).get("span_total", 0) + projects.get(s, {}).get("log_total", 0) for s in SERVICES)


def sample(collector, standin, started, samples, stop):
    while not stop.wait(SAMPLE_SECONDS):
        metrics = scrape(collector.metrics_url)
        samples.append((round(time.monotonic() - started), rss_bytes(collector.process.proc.pid),
                        value(metrics, "core_heap_bytes"), received(standin)))


def flat_after_warm_up(samples):
    after = [s for s in samples if s[0] >= WARM_UP_SECONDS]
    third = max(1, len(after) // 3)
    early, late = max(s[1] for s in after[:third]), max(s[1] for s in after[-third:])
    return late <= max(early * 1.10, early + 8 * MIB), early, late


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=600, help="how long the load runs (default 600)")
    args = parser.parse_args()
    if args.seconds < 2 * WARM_UP_SECONDS:
        raise SystemExit(f"soak: --seconds must be at least {2 * WARM_UP_SECONDS}")
    for path in (COLLECTOR, STANDIN, TELEMETRYGEN):
        if not path.exists():
            raise SystemExit(f"soak: {path} is missing: run `make build tools`")

    standin = Standin(Process("stand-in", [str(STANDIN), "--projects", ",".join(SERVICES), "--quiet"]))
    with tempfile.TemporaryDirectory() as workdir:
        collector = start_collector(standin, Path(workdir))
        try:
            ok = soak(collector, standin, args.seconds)
        finally:
            collector.process.stop()
            standin.process.stop()
    if not ok:
        raise SystemExit(1)


def soak(collector, standin, seconds):
    log(f"{len(SERVICES)} services, traces ({1 + CHILD_SPANS} spans each) and log records at telemetrygen --rate {RATE} "
        f"each, for {seconds} s, faults every minute")
    started = time.monotonic()
    stop, samples = threading.Event(), []
    threads = [threading.Thread(target=switch_faults, args=(standin, seconds, stop)),
               threading.Thread(target=sample, args=(collector, standin, started, samples, stop))]
    for thread in threads:
        thread.start()
    try:
        for proc in generators(collector.grpc_endpoint, seconds):
            _, err = proc.communicate(timeout=seconds + 120)
            if proc.returncode != 0:
                raise SystemExit(f"soak: telemetrygen failed: {err.decode()}")
        spans, logs = accepted(collector)
        wait_until_drained(standin, spans + logs)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    print("| second | collector RSS (MiB) | core heap (MiB) | items received |\n| ---: | ---: | ---: | ---: |")
    for second, rss, heap, items in samples:
        print(f"| {second} | {rss / MIB:.1f} | {heap / MIB:.1f} | {items:,} |")
    projects = standin.records()["projects"]
    wrong = [f"{service}: {what} received more than once"
             for service in SERVICES for what in ("spans", "logs")
             if len(projects[service][what]) != sum(projects[service][what].values())]
    got_spans = sum(len(projects[s]["spans"]) for s in SERVICES)
    got_logs = sum(len(projects[s]["logs"]) for s in SERVICES)
    if (got_spans, got_logs) != (spans, logs):
        wrong.append(f"accepted {spans:,.0f} spans and {logs:,.0f} log records; "
                     f"{got_spans:,} and {got_logs:,} distinct ones arrived")
    flat, early, late = flat_after_warm_up(samples)
    print(f"\nexactly once: {'yes' if not wrong else 'NO'} ({spans:,.0f} spans and {logs:,.0f} log records "
          f"accepted by the collector)")
    print(f"RSS after warm-up: highest {early / MIB:.1f} MiB in the first third, {late / MIB:.1f} MiB in the last: "
          f"{'flat' if flat else 'GROWING'}")
    for line in wrong:
        print(f"  {line}")
    return flat and not wrong


def wait_until_drained(standin, expected):
    deadline = time.monotonic() + 180
    while received(standin) < expected:
        if time.monotonic() > deadline:
            log(f"gave up waiting: {received(standin):,} of {expected:,} items arrived")
            return
        time.sleep(1)
    time.sleep(2)  # a late duplicate would still show


if __name__ == "__main__":
    main()
