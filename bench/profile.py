"""`make profile`: where the collector's CPU goes, as flame graphs (SVG, for a browser) in
bench/flamegraphs/: our collector under each load of `make bench` (traces, logs, metrics:
`collector_run` of bench/run.py, recorded by `perf`), and the push of spans with 1 % of them
holding an exception (bench/exporter's BenchmarkExceptions). The collector is built unstripped
into _build/profile (Go's symbols; the core keeps its own), stacks are unwound with DWARF
(the Rust core has no frame pointers) and folded by inferno.

  bench/profile.py [--loads traces,logs,metrics,exceptions] [--label before]
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (BENCH_BUILD, OCB, ROOT, SERVICES, STANDIN, Process, Standin,  # noqa: E402
                 core_digest_ldflags, log)

PROFILE_BUILD = ROOT / "_build" / "profile"
COLLECTOR = PROFILE_BUILD / "otelcol-sentry"
FLAMEGRAPHS = ROOT / "bench" / "flamegraphs"
INFERNO = ROOT / ".tools" / "bin"
# Items per service under each load: a tenth of `make bench`'s, enough samples at 499 Hz.
ITEMS = {"traces": 20000, "logs": 20000, "metrics": 5000}


def build_collector():
    """Our distribution, with Go's symbol table (ocb's default ldflags strip it)."""
    manifest = yaml.safe_load((ROOT / "builder-config.yaml").read_text())
    manifest["dist"]["output_path"] = str(PROFILE_BUILD)
    PROFILE_BUILD.mkdir(parents=True, exist_ok=True)
    path = PROFILE_BUILD / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest))
    log("profile: building the collector unstripped")
    subprocess.run([OCB, "--config", path, "--ldflags", core_digest_ldflags()], cwd=ROOT, check=True,
                   stdout=sys.stderr, stderr=sys.stderr)


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


def collector_profiles(loads, label, workdir):
    from run import collector_run  # noqa: E402 (imports the collector's helpers)
    standin_process = Process("stand-in", [str(STANDIN), "--quiet", "--projects", ",".join(SERVICES)])
    standin = Standin(standin_process)
    try:
        for signal in loads:
            data = workdir / f"{signal}.perf"
            items = ITEMS[signal]
            log(f"profile: {signal}, {items * len(SERVICES)} items over 10 services")
            result = collector_run("ours", signal, items, standin, workdir, binary=COLLECTOR, profile=data)
            title = f"collector, {signal}: {result['cpu_s_per_million']:.1f} CPU s per million ({label})"
            flamegraph(data, title, FLAMEGRAPHS / f"{signal}-{label}.svg")
    finally:
        standin_process.stop()


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
    args = parser.parse_args()
    loads = args.loads.split(",")
    for tool in ("inferno-collapse-perf", "inferno-flamegraph"):
        if not (INFERNO / tool).exists():
            raise SystemExit(f"profile: {INFERNO / tool} is missing: run `make profile-tools`")
    FLAMEGRAPHS.mkdir(parents=True, exist_ok=True)
    workdir = BENCH_BUILD / "profile"
    workdir.mkdir(parents=True, exist_ok=True)
    collector_loads = [load for load in loads if load in ITEMS]
    if collector_loads:
        build_collector()
        collector_profiles(collector_loads, args.label, workdir)
    if "exceptions" in loads:
        exceptions_profile(args.label, workdir)
    print(json.dumps({"flamegraphs": sorted(str(p.relative_to(ROOT)) for p in FLAMEGRAPHS.glob("*.svg"))}))


if __name__ == "__main__":
    main()
