"""`make bench`: every benchmark of BENCHMARKS.md, side by side in one run, printed as
one Markdown table of ratios against their targets.

  router     criterion (rust/core/benches/router.rs): split an OTLP request per project,
             against a memcpy of it and a prost decode/group/encode
  exporter   Go testing.B (bench/exporter): one push through ours and through the
             collector-contrib sentry exporter; batches over 1 to 1,000 projects
  collector  telemetrygen into three distributions built from builder-config.yaml,
             differing only in the exporter: ours, contrib sentry, otlphttp; for metrics
             ours and otlphttp only (the contrib sentry exporter takes no metrics). Ours
             batches in its queue (its default, no batch processor), and is run a second
             time the old way, behind the batch processor with its queue's batching off

Numbers are printed, never asserted: the table says whether each target was met.
"""

import argparse
import contextlib
import json
import os
import platform
import re
import signal as signal_module
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import COLLECTOR, STANDIN, TELEMETRYGEN, Process, Standin, free_port, http_json, wait_until  # noqa: E402

OCB = ROOT / ".tools" / "bin" / "builder"
BENCH_BUILD = ROOT / "_build" / "bench"
SERVICES = [f"svc-{i}" for i in range(10)]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SEND_SECONDS = 10


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def core_digest_ldflags():
    digest = subprocess.run(["sha256sum", ROOT / "target/release/libsentry_exporter.a"],
                            capture_output=True, text=True, check=True).stdout[:16]
    return f"-X github.com/otelcol-sentry/sentryexporter/internal/ffi.CoreDigest={digest}"


# --- router -----------------------------------------------------------------------------

def router_bench():
    log("router: cargo bench (criterion)")
    subprocess.run(["cargo", "bench", "-q", "-p", "sentry-exporter-core", "--bench", "router"],
                   cwd=ROOT, check=True, stdout=sys.stderr)
    results = {}
    for size in ("1MiB", "8MiB"):
        for path in ("memcpy", "router", "prost"):
            base = ROOT / "target" / "criterion" / f"split_{size}" / path / "new"
            mean_ns = json.loads((base / "estimates.json").read_text())["mean"]["point_estimate"]
            size_bytes = json.loads((base / "benchmark.json").read_text())["throughput"]["Bytes"]
            results[(size, path)] = size_bytes / mean_ns * 1e9 / 1e6  # MB/s
    return results


# --- the core alone (criterion, thread CPU time) ----------------------------------------

EXCEPTION_LANGUAGES = ("go", "python", "java", "nodejs")
EXCEPTION_DEPTHS = (10, 50, 250)
SERIES_LINE = re.compile(r"^series_memory (.+?): (\d+) heap bytes per series at (\d+) series \(accounted (\d+)\)$")


def criterion_mean_ns(*path):
    base = ROOT / "target" / "criterion" / Path(*path) / "new"
    return json.loads((base / "estimates.json").read_text())["mean"]["point_estimate"]


def core_bench():
    """The exception path and the metrics path of the core without HTTP, and the heap of the
    metrics' delta state per series."""
    log("core: cargo bench (exceptions, metrics, series_memory)")
    for bench in ("exceptions", "metrics"):
        subprocess.run(["cargo", "bench", "-q", "-p", "sentry-exporter-core", "--bench", bench],
                       cwd=ROOT, check=True, stdout=sys.stderr)
    out = subprocess.run(["cargo", "bench", "-q", "-p", "sentry-exporter-core", "--bench", "series_memory"],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    results = {("exception", lang, depth): criterion_mean_ns("exception", lang, str(depth))
               for lang in EXCEPTION_LANGUAGES for depth in EXCEPTION_DEPTHS}
    for case in ("telemetrygen", "sdk"):
        base = ROOT / "target" / "criterion" / "metrics" / case / "new"
        points = json.loads((base / "benchmark.json").read_text())["throughput"]["Elements"]
        results[("metrics", case)] = points / criterion_mean_ns("metrics", case) * 1e9
    for line in out.splitlines():
        if match := SERIES_LINE.match(line.strip()):
            kind, heap, series, accounted = match.groups()
            results[("series", kind)] = (int(heap), int(series), int(accounted))
    return results


# --- exporter (Go testing.B) ------------------------------------------------------------

BENCH_LINE = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$")


def exporter_bench():
    log("exporter: go test -bench (ours and contrib, from their factories)")
    out = subprocess.run(
        ["go", "test", "-run", "^$", "-bench", ".", "-benchtime", "2s", "-ldflags", core_digest_ldflags(), "."],
        cwd=ROOT / "bench" / "exporter", env={**os.environ, "STANDIN": str(STANDIN)},
        capture_output=True, text=True)
    sys.stderr.write(out.stdout + out.stderr)
    if out.returncode != 0:
        raise SystemExit("bench: the Go benchmarks failed")
    results = {}
    for line in out.stdout.splitlines():
        match = BENCH_LINE.match(line)
        if not match:
            continue
        fields = match.group(3).split()
        # "value unit" pairs: ns/op, cpu-ns/op, B/op, allocs/op, core-B/op, core-allocs/op
        results[match.group(1)] = {unit: float(value) for value, unit in zip(fields[::2], fields[1::2])}
    return results


# --- whole collector --------------------------------------------------------------------

def distributions():
    """name -> (binary, the exporter's component name). Ours is `make build`'s."""
    return {
        "ours": (COLLECTOR, "sentry"),
        "ours-batch-processor": (COLLECTOR, "sentry"),
        "ours-both": (COLLECTOR, "sentry"),
        "contrib": (BENCH_BUILD / "contrib" / "otelcol-bench-contrib", "sentry"),
        "otlphttp": (BENCH_BUILD / "otlphttp" / "otelcol-bench-otlphttp", "otlphttp"),
    }


def our_manifest():
    """builder-config.yaml, its `replaces:` to local directories (relative to its output_path)
    made absolute, so that it builds from any output_path."""
    manifest = yaml.safe_load((ROOT / "builder-config.yaml").read_text())
    output = ROOT / manifest["dist"]["output_path"]

    def absolute(replace):
        module, _, target = replace.partition(" => ")
        return f"{module} => {(output / target).resolve()}" if target.startswith(".") else replace

    manifest["replaces"] = [absolute(r) for r in manifest.get("replaces", [])]
    return manifest


def build_distributions():
    """Builds the contrib and otlphttp distributions from our manifest, with only the
    exporter changed; skipped when the manifest they were built from is unchanged."""
    ours = our_manifest()
    version = next(e["gomod"].split()[-1] for e in ours["exporters"] if "otlphttpexporter" in e["gomod"])
    contrib_sentry = {"gomod": f"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/sentryexporter {version}"}
    for name, extra in (("contrib", [contrib_sentry]), ("otlphttp", [])):
        manifest = json.loads(json.dumps(ours))
        manifest["dist"].update(name=f"otelcol-bench-{name}", module=f"example.com/otelcol-bench-{name}",
                                output_path=str(BENCH_BUILD / name))
        manifest["exporters"] = [e for e in manifest["exporters"] if "path" not in e] + extra
        path = BENCH_BUILD / f"{name}.yaml"
        text = yaml.safe_dump(manifest)
        binary = distributions()[name][0]
        if binary.exists() and path.exists() and path.read_text() == text:
            continue
        BENCH_BUILD.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        log(f"collector: building the {name} distribution with ocb")
        subprocess.run([OCB, "--config", path], cwd=ROOT, check=True, stdout=sys.stderr, stderr=sys.stderr)


# The distributions of each signal's runs.
# Ours three ways: batching in its queue alone (its default config, no batch processor);
# behind the batch processor with the queue's batching off; behind it with its default config.
SIGNAL_DISTRIBUTIONS = {"traces": ("ours", "ours-batch-processor", "ours-both", "contrib", "otlphttp"),
                        "logs": ("ours", "ours-batch-processor", "ours-both", "contrib", "otlphttp"),
                        "metrics": ("ours", "ours-batch-processor", "ours-both", "otlphttp")}


def exporter_config(dist, standin):
    sentry = {"url": standin.api, "org_slug": standin.org, "auth_token": standin.token}
    if dist.startswith("ours"):
        # No bound on trace metric items per project and minute: the runs send far more.
        ours = {**sentry, "metrics": {"max_items_per_minute": 0}}
        if dist == "ours-batch-processor":
            ours["sending_queue"] = {"batch": {"enabled": False}}
        return ours
    if dist == "contrib":
        # It drops the port of the DSN's host; its proxy brings the requests back to the stand-in.
        return {**sentry, "http": {"proxy_url": standin.api}}
    key = standin.project_keys(SERVICES[0])[0]
    # Sentry takes no OTLP metrics: the stand-in's metrics sink counts the data points
    # (rust/standin/src/ingest.rs), the floor of what sending them costs the collector.
    metrics = key["dsn"]["otlp_traces"].replace("/v1/traces", "/v1/metrics")
    return {"traces_endpoint": key["dsn"]["otlp_traces"], "logs_endpoint": key["dsn"]["otlp_logs"],
            "metrics_endpoint": metrics, "headers": {"x-sentry-auth": f"sentry sentry_key={key['public']}"}}


def proc_cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def proc_peak_rss_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def cold_page_cache(binary):
    """Writes the binary's pages back and drops them from the page cache, so that every
    distribution starts from the disk alike. A binary linked moments before (`make bench`
    builds ours first) is still cached as written, in large folios, which the kernel maps
    whole: that counted up to 25 MiB more file-backed pages in VmHWM than the same binary
    read back from disk."""
    fd = os.open(binary, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def arrived_total(standin, dist, signal):
    """The items of `signal` the stand-in received from `dist`, over every project: ours sends
    each gauge data point as one trace metric item, otlphttp to the metrics sink."""
    total_key = {"traces": "span_total", "logs": "log_total",
                 "metrics": "trace_metric_total" if dist.startswith("ours") else "metric_points"}[signal]
    projects = http_json(f"{standin.api}/_standin/records?ids=false")["projects"]
    return sum(p[total_key] for p in projects.values())


def collector_run(dist, signal, items_per_service, standin, workdir, binary=None, profile=None):
    """Sends items_per_service spans, log records or metric data points (gauges) per service;
    returns the collector's CPU seconds spent on them (from /proc) and its peak RSS. With
    `profile` (a path), `perf` records the collector's CPU while the items are sent."""
    default_binary, exporter = distributions()[dist]
    binary = binary or default_binary
    grpc = free_port()
    # Ours batches in its queue; the others, and ours the old way, behind the batch processor.
    processors = [] if dist == "ours" else ["batch"]
    config = {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"127.0.0.1:{grpc}"}}}},
        "processors": {"batch": {}},
        "exporters": {exporter: exporter_config(dist, standin)},
        "service": {
            "telemetry": {"logs": {"level": "warn"}, "metrics": {"level": "none"}},
            "pipelines": {signal: {"receivers": ["otlp"], "processors": processors, "exporters": [exporter]}},
        },
    }
    config_path = workdir / f"{dist}-{signal}.yaml"
    config_path.write_text(yaml.safe_dump(config))
    http_json(f"{standin.api}/_standin/reset", method="POST")
    cold_page_cache(binary)
    collector = Process(dist, [str(binary), "--config", str(config_path)])
    try:
        wait_until(f"the {dist} collector to listen", lambda: port_open(grpc) or collector.proc.poll() is not None)
        if collector.proc.poll() is not None:
            raise SystemExit(f"bench: the {dist} collector exited:\n{collector.output()}")
        time.sleep(1)  # start-up work (project preload) is not what is measured
        pid = collector.proc.pid
        recorder = None
        if profile is not None:
            # DWARF unwinding: the Rust core has no frame pointers, its .eh_frame suffices.
            recorder = subprocess.Popen(
                ["perf", "record", "--quiet", "-F", "499", "--call-graph", "dwarf,16384", "-p", str(pid),
                 "-o", str(profile)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        cpu_before = proc_cpu_seconds(pid)
        # Paced to send for about SEND_SECONDS: unpaced, telemetrygen's SDK drops what its queue cannot hold.
        per_signal = {
            "traces": ["--traces", str(items_per_service // 2), "--child-spans", "1",
                       "--rate", str(items_per_service // 2 // SEND_SECONDS)],
            "logs": ["--logs", str(items_per_service), "--rate", str(items_per_service // SEND_SECONDS)],
            # One data point per metric, each sent in its own request by telemetrygen.
            "metrics": ["--metrics", str(items_per_service), "--metric-type", "Gauge",
                        "--rate", str(items_per_service // SEND_SECONDS)],
        }[signal]
        clients = [subprocess.Popen(
            [str(TELEMETRYGEN), signal, "--otlp-insecure", "--otlp-endpoint", f"127.0.0.1:{grpc}",
             # A version, as services have: ours then writes `sentry.release` on every span and log
             # record (Relay maps none), and that cost is in the rows.
             "--otlp-attributes", f'service.name="{service}"', "--otlp-attributes", 'service.version="1.4.2"',
             *per_signal],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for service in SERVICES]
        for client in clients:
            if client.wait(timeout=600) != 0:
                raise SystemExit(f"bench: telemetrygen failed for {dist}")
        expected = items_per_service * len(SERVICES)
        wait_until(f"{expected} {signal} items through {dist}",
                   lambda: arrived_total(standin, dist, signal) >= expected, timeout=120, interval=0.5)
        cpu = proc_cpu_seconds(pid) - cpu_before
        peak = proc_peak_rss_mib(pid)
        requests = [p["request_total"] for p in
                    http_json(f"{standin.api}/_standin/records?ids=false")["projects"].values()]
    finally:
        if recorder is not None:
            recorder.send_signal(signal_module.SIGINT)
            recorder.wait(timeout=120)
        collector.stop()
    return {"cpu_s_per_million": cpu / expected * 1e6, "peak_rss_mib": peak,
            "requests_per_project": statistics.mean(requests)}


@contextlib.contextmanager
def collector_runs():
    """What whole-collector runs need: the distributions built, a directory for their configs,
    and a stand-in with the services' projects (stopped at the end); yields (standin, workdir)."""
    build_distributions()
    workdir = BENCH_BUILD / "runs"
    workdir.mkdir(parents=True, exist_ok=True)
    standin_process = Process("stand-in", [str(STANDIN), "--quiet", "--projects", ",".join(SERVICES)])
    try:
        yield Standin(standin_process), workdir
    finally:
        standin_process.stop()


def collector_bench(items_per_service, metric_points_per_service, repetitions):
    runs = {}
    with collector_runs() as (standin, workdir):
        # Interleaved repetitions, so that a slow moment of the machine does not hit one
        # distribution only; the median run counts.
        for rep in range(1, repetitions + 1):
            for signal, dists in SIGNAL_DISTRIBUTIONS.items():
                per_service = metric_points_per_service if signal == "metrics" else items_per_service
                for dist in dists:
                    log(f"collector: {dist}, {signal}, {per_service * len(SERVICES)} items over 10 services "
                        f"(run {rep} of {repetitions})")
                    runs.setdefault((dist, signal), []).append(
                        collector_run(dist, signal, per_service, standin, workdir))
    return {key: {"cpu_s_per_million": statistics.median(r["cpu_s_per_million"] for r in results),
                  "peak_rss_mib": max(r["peak_rss_mib"] for r in results),
                  "requests_per_project": statistics.median(r["requests_per_project"] for r in results)}
            for key, results in runs.items()}


# --- the table --------------------------------------------------------------------------

class Table:
    def __init__(self):
        self.rows = []

    def add(self, measure, ours, other, ratio=None, target=None, met=None):
        self.rows.append((measure, ours, other, "" if ratio is None else f"{ratio:.3g}x", target or "",
                          "" if met is None else ("yes" if met else "**no**")))

    def markdown(self):
        header = ("Measure", "Ours", "Compared with", "Ratio", "Target", "Met")
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


def table(router, core, exporter, collector):
    t = Table()
    for size in ("1MiB", "8MiB"):
        r, p, m = router[(size, "router")], router[(size, "prost")], router[(size, "memcpy")]
        t.add(f"Router, {size} request: throughput vs prost decode/group/encode", f"{r:,.0f} MB/s",
              f"{p:,.0f} MB/s", r / p, ">= 10x", r / p >= 10)
        t.add(f"Router, {size} request: memcpy vs router (slowdown from the floor)", f"{r:,.0f} MB/s",
              f"memcpy {m:,.0f} MB/s", m / r, "<= 3x", m / r <= 3)

    ours, contrib = exporter["BenchmarkPush/ours"], exporter["BenchmarkPush/contrib"]
    spans = 1000
    cpu_o, cpu_c = ours["cpu-ns/op"] / spans, contrib["cpu-ns/op"] / spans
    t.add("Push of 1,000 spans / 10 projects: CPU per span", f"{cpu_o:,.0f} ns", f"contrib {cpu_c:,.0f} ns",
          cpu_o / cpu_c, "<= 0.5x", cpu_o / cpu_c <= 0.5)
    allocs_o = (ours["allocs/op"] + ours["core-allocs/op"]) / spans
    allocs_c = contrib["allocs/op"] / spans
    t.add("Push: allocations per span (Go + Rust core)", f"{allocs_o:.2f}", f"contrib {allocs_c:.2f}",
          allocs_o / allocs_c, "<= 0.25x", allocs_o / allocs_c <= 0.25)
    bytes_o = (ours["B/op"] + ours["core-B/op"]) / spans
    bytes_c = contrib["B/op"] / spans
    t.add("Push: bytes allocated per span (Go + Rust core)", f"{bytes_o:,.0f} B", f"contrib {bytes_c:,.0f} B",
          bytes_o / bytes_c)
    t.add("Push: wall time per span", f"{ours['ns/op'] / spans:,.0f} ns",
          f"contrib {contrib['ns/op'] / spans:,.0f} ns", ours["ns/op"] / contrib["ns/op"])

    off, on = exporter["BenchmarkExceptions/errors=off"], exporter["BenchmarkExceptions/errors=on"]
    failing = exporter["BenchmarkExceptions/errors=on/exceptions=1pct"]
    cpu_off, cpu_on = off["cpu-ns/op"] / spans, on["cpu-ns/op"] / spans
    t.add("Push, no exception in the batch: CPU per span, error events on vs off", f"{cpu_on:,.0f} ns",
          f"off {cpu_off:,.0f} ns", cpu_on / cpu_off, "<= 1.10x", cpu_on / cpu_off <= 1.10)
    exceptions = spans // 100
    per_exception = (failing["cpu-ns/op"] - on["cpu-ns/op"]) / exceptions
    t.add("Push, 1% of spans with an exception: CPU per exception (event made and sent)",
          f"{per_exception / 1000:,.0f} µs", f"per span {failing['cpu-ns/op'] / spans:,.0f} ns", None,
          "<= 50 µs", per_exception / 1000 <= 50)

    for lang in EXCEPTION_LANGUAGES:
        per_depth = [core[("exception", lang, depth)] / 1000 for depth in EXCEPTION_DEPTHS]
        t.add(f"Exception, {lang}, core alone (read, parsed, built, written, gzipped): CPU per exception at "
              f"{', '.join(map(str, EXCEPTION_DEPTHS))} frames", " / ".join(f"{us:,.0f} µs" for us in per_depth),
              "", None, "<= 50 µs at each depth", max(per_depth) <= 50)
    for case in ("telemetrygen", "sdk"):
        t.add(f"Metrics, core alone ({case}'s shape): data points converted and sent per CPU second",
              f"{core[('metrics', case)]:,.0f}", "")
    for kind in sorted(key[1] for key in core if key[0] == "series"):
        heap, series, accounted = core[("series", kind)]
        t.add(f"Trace metrics delta state, {kind}: heap bytes per series at {series:,} series", f"{heap} B",
              f"accounted {accounted} B (`max_series_mib`'s measure)")

    cpu, rss = "cpu_s_per_million", "peak_rss_mib"
    # Issue 26's targets against an `otlphttp` forward of the same items to one project.
    forward_targets = {"traces": 0.8, "logs": 1.0}
    for signal, unit in (("traces", "spans"), ("logs", "log records")):
        o, c, h = (collector[(d, signal)] for d in ("ours", "contrib", "otlphttp"))
        forward = forward_targets[signal]
        t.add(f"Collector, {signal}: CPU s per million {unit}", f"{o[cpu]:.2f} s", f"contrib {c[cpu]:.2f} s",
              o[cpu] / c[cpu], "<= 0.8x", o[cpu] / c[cpu] <= 0.8)
        t.add(f"Collector, {signal}: CPU s per million {unit}", f"{o[cpu]:.2f} s", f"otlphttp {h[cpu]:.2f} s",
              o[cpu] / h[cpu], f"<= {forward}x", o[cpu] / h[cpu] <= forward)
        t.add(f"Collector, {signal}: peak RSS", f"{o[rss]:.0f} MiB",
              f"contrib {c[rss]:.0f} MiB, otlphttp {h[rss]:.0f} MiB", None, "<= contrib + 20 MiB",
              o[rss] <= c[rss] + 20)

    o, h = collector[("ours", "metrics")], collector[("otlphttp", "metrics")]
    t.add("Collector, metrics: CPU s per million data points (gauges)", f"{o[cpu]:.2f} s",
          f"otlphttp {h[cpu]:.2f} s", o[cpu] / h[cpu], "<= 1.2x", o[cpu] / h[cpu] <= 1.2)
    t.add("Collector, metrics: data points per CPU second", f"{1e6 / o[cpu]:,.0f}",
          f"otlphttp {1e6 / h[cpu]:,.0f}", h[cpu] / o[cpu])
    t.add("Collector, metrics: peak RSS", f"{o[rss]:.0f} MiB", f"otlphttp {h[rss]:.0f} MiB", None,
          "<= otlphttp + 10 MiB", o[rss] <= h[rss] + 10)

    # Issue 27: batching in the exporter's queue (the default) against the batch processor.
    for signal, unit in (("traces", "spans"), ("logs", "log records"), ("metrics", "data points")):
        q, b = collector[("ours", signal)], collector[("ours-batch-processor", signal)]
        t.add(f"Collector, {signal}, queue batching vs batch processor: CPU s per million {unit}",
              f"{q[cpu]:.2f} s", f"batch processor {b[cpu]:.2f} s", q[cpu] / b[cpu])
        t.add(f"Collector, {signal}, queue batching vs batch processor: peak RSS", f"{q[rss]:.0f} MiB",
              f"batch processor {b[rss]:.0f} MiB", q[rss] / b[rss])
        t.add(f"Collector, {signal}, queue batching vs batch processor: requests per project",
              f"{q['requests_per_project']:,.0f}", f"batch processor {b['requests_per_project']:,.0f}",
              q["requests_per_project"] / b["requests_per_project"])
        both = collector[("ours-both", signal)]
        t.add(f"Collector, {signal}, queue batching vs batch processor in front of it: CPU s per million {unit}",
              f"{q[cpu]:.2f} s", f"both {both[cpu]:.2f} s", q[cpu] / both[cpu])

    for projects in (1, 10, 100, 1000):
        o = exporter[f"BenchmarkProjectsPerBatch/ours/projects={projects}"]["ns/op"] / 1e6
        c = exporter[f"BenchmarkProjectsPerBatch/contrib/projects={projects}"]["ns/op"] / 1e6
        target = "<= 0.2x" if projects == 100 else None
        t.add(f"One batch over {projects} project(s), 5 ms answers: wall time", f"{o:,.1f} ms",
              f"contrib {c:,.1f} ms", o / c, target, (o / c <= 0.2) if target else None)
    return t


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal:"))
    go = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True).stdout.strip()
    rust = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{cpu}, {os.cpu_count()} cores, {memory / 2**20:.0f} GiB, Linux {platform.release()}; "
            f"{go}, {rust}; {time.strftime('%Y-%m-%d')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items-per-service", type=int, default=20000,
                        help="spans (and log records) per service in the whole-collector runs")
    parser.add_argument("--repetitions", type=int, default=3,
                        help="runs of each whole-collector measurement; the median is reported")
    parser.add_argument("--metric-points-per-service", type=int, default=5000,
                        help="gauge data points per service in the whole-collector metrics runs "
                             "(telemetrygen sends each in its own request)")
    args = parser.parse_args()
    for needed in (COLLECTOR, STANDIN, TELEMETRYGEN, OCB):
        if not needed.exists():
            raise SystemExit(f"bench: {needed} is missing: run `make build`")
    router = router_bench()
    core = core_bench()
    exporter = exporter_bench()
    collector = collector_bench(args.items_per_service, args.metric_points_per_service, args.repetitions)
    # Kept, so that a table that fails to print costs no second run.
    raw = {"router": router, "core": core, "exporter": exporter, "collector": collector}
    BENCH_BUILD.mkdir(parents=True, exist_ok=True)
    (BENCH_BUILD / "last-run.json").write_text(json.dumps({part: {repr(k): v for k, v in results.items()}
                                                            for part, results in raw.items()}, indent=1))
    print(f"Machine: {machine()}\n")
    print(table(router, core, exporter, collector).markdown())


if __name__ == "__main__":
    main()
