"""`make soak`: the fault run of tests/harness.py for a set time (default 600 s), the same
run that `make test` makes for a minute (tests/e2e/test_faults.py): the built collector under
steady load while the stand-in switches faults on and off every minute, then the delivery and
limit checks and the collector's memory over time. tests/harness.py describes the faults and
every check.

  .venv/bin/python scripts/soak.py --seconds 600
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from harness import (  # noqa: E402
    FAULT_RUN_LOG_LEVEL, FAULT_RUN_STANDIN_ARGS, MIN_SECONDS, HarnessFailure, fault_run, fault_run_config,
    start_collector, start_standin,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=600, help="how long the load runs (default 600)")
    args = parser.parse_args()
    if args.seconds < MIN_SECONDS:
        raise SystemExit(f"soak: --seconds must be at least {MIN_SECONDS}")

    started = []
    try:
        with tempfile.TemporaryDirectory() as workdir:
            standin = start_standin(FAULT_RUN_STANDIN_ARGS, started)
            collector = start_collector(fault_run_config(standin), Path(workdir) / "otel.yaml", started,
                                        log_level=FAULT_RUN_LOG_LEVEL)
            problems = fault_run(standin, collector, args.seconds)
    except HarnessFailure as failure:
        for process in started:
            process.stop()
            print(f"--- {process.name} output ---\n{process.output()}", file=sys.stderr)
        raise SystemExit(f"soak: {failure}")
    for process in reversed(started):
        process.stop()
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
