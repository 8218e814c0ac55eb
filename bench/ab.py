"""Two builds of our collector side by side, with `otlphttp` as the floor: the collector runs of
`make bench` (`collector_run`), interleaved, for telling a change's effect from the noise of
one run (about ±7 % on one run of these rows on 2 shared cores).

  bench/ab.py OTHER_COLLECTOR [--signals traces,logs] [--repetitions 3]

OTHER_COLLECTOR is another build's `_build/otelcol-sentry` (a worktree of the commit before
the change, after its `make build`); "ours" is this checkout's. Prints each run, then the
median CPU s per million items of each, and its ratio to `otlphttp`'s.
"""

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import COLLECTOR, collector_run, collector_runs  # noqa: E402

ITEMS = {"traces": 20000, "logs": 20000, "metrics": 5000}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("other", type=Path, help="the other build's collector binary")
    parser.add_argument("--signals", default="traces,logs")
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    runs = {"ours": ("ours", COLLECTOR), "other": ("ours", args.other), "otlphttp": ("otlphttp", None)}
    cpu = {}
    with collector_runs() as (standin, workdir):
        for _ in range(args.repetitions):
            for signal in args.signals.split(","):
                for label, (dist, binary) in runs.items():
                    result = collector_run(dist, signal, ITEMS[signal], standin, workdir, binary=binary)
                    cpu.setdefault((signal, label), []).append(result["cpu_s_per_million"])
                    print(f"{signal} {label}: {result['cpu_s_per_million']:.2f} CPU s per million", flush=True)
    print("| signal | build | median CPU s per million | against otlphttp |")
    print("|---|---|---|---|")
    for signal in args.signals.split(","):
        floor = statistics.median(cpu[(signal, "otlphttp")])
        for label in runs:
            median = statistics.median(cpu[(signal, label)])
            print(f"| {signal} | {label} | {median:.2f} | {median / floor:.3g}x |")


if __name__ == "__main__":
    main()
