"""`make soak`: the built collector under steady load for a set time while the
stand-in switches faults on and off, then the delivery check and the collector's
memory over time.

Ten services send traces and logs through telemetrygen at a steady rate. Every
minute the stand-in answers 503s, a span rate limit, dropped connections, slow
answers (some past the exporter's timeout, with the data kept), management API
errors, answers before the body is read (503, and 413 for large bodies),
connection resets mid-upload and ingest requests that are never answered, then
runs clean for the rest of the minute, while a new service starts sending and
the first lookup of its project hangs. Every 5 s the collector's resident memory
(VmRSS) and the Rust core's heap (`core_heap_bytes`) are sampled.

At the end every span and log record the collector accepted (its receiver's own
count) must have arrived at least once, and the items that arrived more than
once (per signal, each extra copy counted) must be at most what the exporter
itself counted as maybe delivered (`items_maybe_delivered_total`: items of
requests that timed out or were cut off after being sent, which Sentry may
already hold). RSS must stay flat after warm-up: its highest value in the last
third of the run at most 10 % (and 8 MiB) above its highest value in the first
third after warm-up.

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
    COLLECTOR, METRIC_PREFIX, STANDIN, TELEMETRYGEN, Collector, Process, Standin, collector_config, free_port,
    listen_on, scrape, value, wait_until,
)

MIB = 1 << 20
SERVICES = [f"soak-{i}" for i in range(10)]
RATE = 10  # telemetrygen --rate of each service's traces and logs
CHILD_SPANS = 1
SAMPLE_SECONDS = 5
WARM_UP_SECONDS = 30
HTTP_TIMEOUT = "5s"  # the exporter's http.timeout: hung and slow requests give up after it
# A service that first sends at NEW_SERVICE_SECOND of each minute, for NEW_SERVICE_SECONDS,
# while the lookup of its project hangs once.
NEW_SERVICE_SECOND = 45
NEW_SERVICE_SECONDS = 10
# (second within each minute, what, fault rule or None to clear all); `{org}` and `{new}` in a
# rule's path_contains are the organization and that minute's new service.
FAULT_CYCLE = [
    (5, "503s on soak-1", {"target": "ingest", "project": "soak-1", "status": 503, "times": 20}),
    (10, "10 s span limit on soak-2", {"target": "ingest", "project": "soak-2", "signal": "traces", "status": 429,
                                      "headers": {"X-Sentry-Rate-Limits": "10:span:key:soak"}, "times": 1}),
    (15, "dropped connections on soak-3", {"target": "ingest", "project": "soak-3", "drop_connection": True,
                                           "times": 10}),
    (20, "2 s answers on soak-4", {"target": "ingest", "project": "soak-4", "delay_ms": 2000, "times": 5}),
    (22, "answers after the exporter's timeout on soak-9 (data kept)",
     {"target": "ingest", "project": "soak-9", "delay_ms": 7000, "times": 2}),
    (25, "management API 500s", {"target": "mgmt", "status": 500, "times": 10}),
    (28, "503s before the body is read on soak-5", {"target": "ingest", "project": "soak-5", "early_answer": True,
                                                    "status": 503, "times": 5}),
    # 413 only above 2 KiB (by Content-Length, as relay refuses uploads): the exporter halves
    # a refused request, and no single item is that large, so nothing is dropped.
    (29, "413s before the body is read on soak-6, for bodies over 2 KiB",
     {"target": "ingest", "project": "soak-6", "early_answer": True, "max_body_bytes": 2048, "times": 3}),
    (31, "connection resets mid-upload on soak-7", {"target": "ingest", "project": "soak-7",
                                                    "reset_mid_upload": True, "times": 5}),
    (33, "never-answered requests on soak-8 (data kept)", {"target": "ingest", "project": "soak-8", "hang": True,
                                                           "times": 3}),
    (40, "faults off", None),
    # After the others are off, so that no management API 500 comes before the hang.
    (NEW_SERVICE_SECOND, "a hanging project lookup for the new service {new}",
     {"target": "mgmt", "path_contains": "/projects/{org}/{new}/keys/", "hang": True, "times": 1}),
]
MAYBE_DELIVERED = "items_maybe_delivered"  # otelcol_exporter_sentry_items_maybe_delivered_total


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
        "http": {"timeout": HTTP_TIMEOUT},
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


def generators(endpoint, seconds, services=SERVICES):
    procs = []
    for service in services:
        common = ["--otlp-insecure", "--otlp-endpoint", endpoint, "--service", service, "--rate", str(RATE),
                  "--duration", f"{seconds}s"]
        procs.append(subprocess.Popen([TELEMETRYGEN, "traces", *common, "--child-spans", str(CHILD_SPANS)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        procs.append(subprocess.Popen([TELEMETRYGEN, "logs", *common],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    return procs


def wait_for(procs, timeout):
    for proc in procs:
        _, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            raise SystemExit(f"soak: telemetrygen failed: {err.decode()}")


def accepted(collector):
    """Spans and log records the collector's OTLP receiver accepted: what must arrive."""
    metrics = scrape(collector.metrics_url)
    return (value(metrics, "otelcol_receiver_accepted_spans"),
            value(metrics, "otelcol_receiver_accepted_log_records"))


def new_service(minute):
    return f"soak-new-{minute // 60}"


def switch_faults(standin, endpoint, seconds, stop, late_procs):
    """Switches the faults of FAULT_CYCLE every minute; starts each minute's new service (its
    telemetrygen processes go to `late_procs`) when it can send for its whole time."""
    start = time.monotonic()
    for minute in range(0, seconds, 60):
        new = new_service(minute)
        for second, what, rule in FAULT_CYCLE:
            at = start + minute + second
            if at > start + seconds or stop.wait(max(0.0, at - time.monotonic())):
                standin.control("DELETE", "faults")
                return
            if rule is None:
                standin.control("DELETE", "faults")
            else:
                path = rule.get("path_contains")
                standin.fault(rule if path is None else {**rule, "path_contains": path.format(org=standin.org,
                                                                                            new=new)})
            log(f"{round(time.monotonic() - start)} s: {what.format(new=new)}")
            if second == NEW_SERVICE_SECOND and minute + second + NEW_SERVICE_SECONDS <= seconds:
                late_procs.extend(generators(endpoint, NEW_SERVICE_SECONDS, [new]))
                log(f"{round(time.monotonic() - start)} s: {new} starts sending for {NEW_SERVICE_SECONDS} s")
    standin.control("DELETE", "faults")


def received(standin):
    """Items that arrived in every project, duplicates included."""
    projects = standin.records(ids=False)["projects"]
    return sum(p.get("span_total", 0) + p.get("log_total", 0) for p in projects.values())


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
    stop, samples, late_procs = threading.Event(), [], []
    threads = [threading.Thread(target=switch_faults,
                                args=(standin, collector.grpc_endpoint, seconds, stop, late_procs)),
               threading.Thread(target=sample, args=(collector, standin, started, samples, stop))]
    for thread in threads:
        thread.start()
    try:
        wait_for(generators(collector.grpc_endpoint, seconds), timeout=seconds + 120)
        # Every new service started at least NEW_SERVICE_SECONDS before the end.
        wait_for(list(late_procs), timeout=NEW_SERVICE_SECONDS + 120)
        spans, logs = accepted(collector)
        wait_until_drained(standin, spans + logs)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    print("| second | collector RSS (MiB) | core heap (MiB) | items received |\n| ---: | ---: | ---: | ---: |")
    for second, rss, heap, items in samples:
        print(f"| {second} | {rss / MIB:.1f} | {heap / MIB:.1f} | {items:,} |")
    delivered_ok = check_delivery(standin, collector, {"traces": spans, "logs": logs})
    flat, early, late = flat_after_warm_up(samples)
    print(f"RSS after warm-up: highest {early / MIB:.1f} MiB in the first third, {late / MIB:.1f} MiB in the last: "
          f"{'flat' if flat else 'GROWING'}")
    return flat and delivered_ok


# signal label of the exporter's metrics -> (the records' per-id counts, what an item is)
SIGNALS = {"traces": ("spans", "spans"), "logs": ("logs", "log records")}


def arrivals(projects, signal):
    """(distinct items, extra copies) of a signal over every project: an item that came
    three times counts as two duplicates."""
    counts = [n for project in projects.values() for n in project[SIGNALS[signal][0]].values()]
    return len(counts), sum(n - 1 for n in counts)


def maybe_delivered(collector):
    """The exporter's own count of items that may have reached Sentry without its knowing,
    per signal; None when the collector does not export the metric."""
    metrics = scrape(collector.metrics_url)
    if not any(name == METRIC_PREFIX + MAYBE_DELIVERED for name, _ in metrics):
        return None
    return {signal: value(metrics, MAYBE_DELIVERED, signal=signal) for signal in SIGNALS}


def check_delivery(standin, collector, accepted_items):
    """Every accepted item arrived at least once; duplicates at most what the exporter counted
    as maybe delivered. Prints both, per signal."""
    projects = standin.records()["projects"]
    counted = maybe_delivered(collector)
    if counted is None:
        print(f"\nmetric {METRIC_PREFIX}{MAYBE_DELIVERED}_total missing: taken as 0")
        counted = dict.fromkeys(SIGNALS, 0)
    wrong = []
    print()
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
    print(f"at least once, duplicates accounted for: {'yes' if not wrong else 'NO'}")
    for line in wrong:
        print(f"  {line}")
    return not wrong


def distinct_received(standin):
    """Distinct items that arrived in every project: duplicates do not count towards the
    drain."""
    projects = standin.records(ids=False)["projects"]
    return sum(p.get("span_distinct", 0) + p.get("log_distinct", 0) for p in projects.values())


def wait_until_drained(standin, expected):
    deadline = time.monotonic() + 180
    while distinct_received(standin) < expected:
        if time.monotonic() > deadline:
            log(f"gave up waiting: {distinct_received(standin):,} of {expected:,.0f} distinct items arrived")
            return
        time.sleep(1)
    time.sleep(2)  # a late duplicate would still show


if __name__ == "__main__":
    main()
