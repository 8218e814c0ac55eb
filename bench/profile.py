"""`make profile`: where the collector's CPU goes, as flame graphs (SVG, for a browser) in
bench/flamegraphs/: our collector under each load of `make bench` (traces, logs, metrics:
`collector_run` of bench/run.py, recorded by `perf`), and the push of spans with 1 % of them
holding an exception (bench/exporter's BenchmarkExceptions). The collector is built unstripped
into _build/profile (Go's symbols; the core keeps its own), stacks are unwound with DWARF
(the Rust core has no frame pointers) and folded by inferno.

With `--dists ours,otlphttp` it records the `otlphttp` distribution of `make bench` too (the
floor ours is compared with), under the same loads, as `<load>-otlphttp.svg`.

  bench/profile.py [--loads traces,logs,metrics,exceptions] [--label before] [--dists ours,otlphttp]
"""

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (BENCH_BUILD, OCB, ROOT, SERVICES, STANDIN, Process, Standin,  # noqa: E402
                 build_distributions, core_digest_ldflags, log, our_manifest)

PROFILE_BUILD = ROOT / "_build" / "profile"
FLAMEGRAPHS = ROOT / "bench" / "flamegraphs"
INFERNO = ROOT / ".tools" / "bin"
# Items per service under each load: a tenth of `make bench`'s, enough samples at 499 Hz.
ITEMS = {"traces": 20000, "logs": 20000, "metrics": 5000}


def build_collector(dist):
    """`dist` (ours, or otlphttp: the bench's floor) with Go's symbol table (ocb's default
    ldflags strip it); returns the binary."""
    if dist == "ours":
        manifest = our_manifest()
        ldflags = core_digest_ldflags()
    else:
        build_distributions()
        manifest = yaml.safe_load((BENCH_BUILD / f"{dist}.yaml").read_text())
        ldflags = "-X main.profiled=true"  # any ldflags: not ocb's default, which strips
    output = PROFILE_BUILD if dist == "ours" else PROFILE_BUILD / dist
    manifest["dist"]["output_path"] = str(output)
    output.mkdir(parents=True, exist_ok=True)
    path = output / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest))
    log(f"profile: building the {dist} collector unstripped")
    subprocess.run([OCB, "--config", path, "--ldflags", ldflags], cwd=ROOT, check=True,
                   stdout=sys.stderr, stderr=sys.stderr)
    return output / manifest["dist"]["name"]


def flamegraph(perf_data, title, svg):
    """Folds `perf_data`'s stacks and draws them into `svg`."""
    script = subprocess.run(["perf", "script", "-i", str(perf_data)], capture_output=True, check=True)
    folded = subprocess.run([INFERNO / "inferno-collapse-perf"], input=script.stdout, capture_output=True,
                            check=True)
    drawn = subprocess.run([INFERNO / "inferno-flamegraph", "--title", title, "--width", "1600"],
                           input=folded.stdout, capture_output=True, check=True)
    svg.write_bytes(drawn.stdout)
    (svg.with_suffix(".folded")).write_bytes(folded.stdout)
    log(f"profile: {svg.relative_to(ROOT)}")


def collector_profiles(dist, binary, loads, label, workdir):
    """Graphs `<load>-<label>.svg` of ours, `<load>-otlphttp.svg` of the floor."""
    from run import collector_run  # noqa: E402 (imports the collector's helpers)
    standin_process = Process("stand-in", [str(STANDIN), "--quiet", "--projects", ",".join(SERVICES)])
    standin = Standin(standin_process)
    suffix = label if dist == "ours" else dist
    try:
        for signal in loads:
            data = workdir / f"{dist}-{signal}.perf"
            items = ITEMS[signal]
            log(f"profile: {dist}, {signal}, {items * len(SERVICES)} items over 10 services")
            result = collector_run(dist, signal, items, standin, workdir, binary=binary, profile=data)
            title = f"{dist} collector, {signal}: {result['cpu_s_per_million']:.1f} CPU s per million ({suffix})"
            flamegraph(data, title, FLAMEGRAPHS / f"{signal}-{suffix}.svg")
    finally:
        standin_process.stop()


# Where a collector's samples go, by what the stack holds: the first pattern that one of its
# frames matches names the stack's share (so the core's gzip counts as the core's, Go's gzip
# under otlphttp's exporter as gzip).
SHARES = [
    ("Rust core (its runtime's threads)", r"^sentry-exporter$|tokio::runtime|sentry_exporter_core"),
    ("Go gzip (otlphttp)", r"compress/flate|compress/gzip"),
    ("Go: encoding pdata to OTLP", r"MarshalProto|SizeProto|ProtoMarshaler"),
    ("gRPC receiver, decoding included", r"grpc\.\(\*Server\)|UnmarshalProto|otelgrpc"),
    ("Go: HTTP client (otlphttp)", r"net/http\.|persistConn"),
    ("Go: garbage collection", r"gcBgMarkWorker|gcDrain|gcAssist|bgsweep|bgscavenge"),
    ("Go: sysmon (the runtime's monitor thread)", r"runtime\.sysmon"),
    ("Go: scheduler, idle threads parking", r"runtime\.mcall|findRunnable|runtime\.park_m|runtime\.schedule|runtime\.stopm"),
    ("exporterhelper: queues, retries, per-project exporters", r"exporterhelper|queuebatch|asyncQueue"),
    ("batch processor", r"batchprocessor"),
    ("our Go component", r"sentryexporter"),
]


def shares(folded):
    """The share of `folded`'s samples (inferno's folded stacks) in each of SHARES, and
    "other"; with the total of samples."""
    patterns = [(name, re.compile(pattern)) for name, pattern in SHARES]
    counts, total = {}, 0
    for line in folded.read_text().splitlines():
        stack, _, weight = line.rpartition(" ")
        frames, weight = stack.split(";"), int(weight)
        total += weight
        name = next((name for name, pattern in patterns if any(pattern.search(f) for f in frames)), "other")
        counts[name] = counts.get(name, 0) + weight
    return {name: counts.get(name, 0) / max(total, 1) for name, _ in SHARES + [("other", "")]}, total


def shares_table(load, graphs):
    """A Markdown table of where `load`'s samples go in each graph of `graphs` (suffixes of
    `<load>-<suffix>.folded` that exist), with each graph's samples relative to the first's."""
    found = [(g, FLAMEGRAPHS / f"{load}-{g}.folded") for g in graphs]
    found = [(g, path) for g, path in found if path.exists()]
    if not found:
        return ""
    measured = [(g, *shares(path)) for g, path in found]
    first_total = measured[0][2]
    lines = [f"| {load}: share of samples | " + " | ".join(g for g, _, _ in measured) + " |",
             "|---|" + "---|" * len(measured)]
    for name, _ in SHARES + [("other", "")]:
        lines.append(f"| {name} | " + " | ".join(f"{100 * s[name]:.1f} %" for _, s, _ in measured) + " |")
    lines.append("| samples, relative | " + " | ".join(f"{t / first_total:.2f}" for _, _, t in measured) + " |")
    return "\n".join(lines)


def exceptions_profile(label, workdir):
    """BenchmarkExceptions' push with 1 % exceptions, recorded."""
    bench_dir = ROOT / "bench" / "exporter"
    binary = workdir / "exporter.test"
    subprocess.run(["go", "test", "-c", "-o", str(binary), "-ldflags", core_digest_ldflags(), "."],
                   cwd=bench_dir, check=True)
    data = workdir / "exceptions.perf"
    log("profile: the push with 1 % exceptions")
    subprocess.run(["perf", "record", "--quiet", "-F", "499", "--call-graph", "dwarf,16384", "-o", str(data),
                    "--", str(binary), "-test.run", "^$", "-test.bench", "BenchmarkExceptions/errors=on/exceptions",
                    "-test.benchtime", "4s"],
                   cwd=bench_dir, env={**os.environ, "STANDIN": str(STANDIN)}, check=True,
                   stdout=sys.stderr, stderr=sys.stderr)
    flamegraph(data, f"push of 1,000 spans, 1 % with an exception ({label})",
               FLAMEGRAPHS / f"exceptions-{label}.svg")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", default="traces,logs,metrics,exceptions")
    parser.add_argument("--label", default="now", help="the graphs' file suffix (before, after, ...)")
    parser.add_argument("--dists", default="ours",
                        help="collectors to record: ours, and otlphttp (the floor: `<load>-otlphttp.svg`)")
    args = parser.parse_args()
    loads = args.loads.split(",")
    for tool in ("inferno-collapse-perf", "inferno-flamegraph"):
        if not (INFERNO / tool).exists():
            raise SystemExit(f"profile: {INFERNO / tool} is missing: run `make profile-tools`")
    FLAMEGRAPHS.mkdir(parents=True, exist_ok=True)
    workdir = BENCH_BUILD / "profile"
    workdir.mkdir(parents=True, exist_ok=True)
    collector_loads = [load for load in loads if load in ITEMS]
    for dist in args.dists.split(",") if collector_loads else []:
        collector_profiles(dist, build_collector(dist), collector_loads, args.label, workdir)
    if "exceptions" in loads:
        exceptions_profile(args.label, workdir)
    for load in collector_loads:
        print(shares_table(load, [args.label, "otlphttp"]) + "\n")
    print(json.dumps({"flamegraphs": sorted(str(p.relative_to(ROOT)) for p in FLAMEGRAPHS.glob("*.svg"))}))


if __name__ == "__main__":
    main()
