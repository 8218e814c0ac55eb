"""An envelope outage of a set length (default 1800 s) against the built collector in a 1.5 GiB
memory cgroup with memory_limiter as in examples/otel.yaml, while a JVM service sends spans with
190 KB exceptions: tests/e2e/incident.py describes the run and its checks, which
tests/e2e/test_memory.py makes for a minute. Run it beside `make soak`:

  .venv/bin/python scripts/incident.py --seconds 1800
"""

import argparse
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "e2e")]
from harness import HarnessFailure, MemoryCgroup, start_collector, start_standin  # noqa: E402
from incident import CGROUP_LIMIT, SERVICE, incident_config, run_incident  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=1800, help="how long envelopes answer 503 (default 1800)")
    args = parser.parse_args()
    cgroup = MemoryCgroup.make("incident", CGROUP_LIMIT)
    if cgroup is None:
        raise SystemExit("incident: no memory cgroup can be made here (needs write access to the cgroup tree)")
    started = []
    try:
        with tempfile.TemporaryDirectory() as workdir:
            standin = start_standin(["--projects", SERVICE, "--quiet"], started)
            collector = start_collector(incident_config(standin), Path(workdir) / "otel.yaml", started,
                                        log_level="warn", cgroup=cgroup)
            problems = run_incident(standin, collector, args.seconds, cgroup)
    except HarnessFailure as failure:
        for process in started:
            process.stop()
            print(f"--- {process.name} output ---\n{process.output()}", file=sys.stderr)
        raise SystemExit(f"incident: {failure}")
    finally:
        for process in reversed(started):
            process.stop()
        cgroup.remove()
    for problem in problems:
        print(f"  PROBLEM: {problem}")
    if problems:
        raise SystemExit(1)
    print("incident: passed")


if __name__ == "__main__":
    main()
