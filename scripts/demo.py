"""`make demo`: the four signals from a service to Sentry, locally, in seconds. Starts the Sentry
stand-in, the built collector with examples/otel.yaml (on free ports) sending to it, and the
sample service examples/demo/payments.py (the OpenTelemetry Python SDK over OTLP/HTTP); when the
service has exited, stops the collector, which first sends what its queues hold, and prints per
project what arrived: spans, logs, issues with their titles, trace metrics. Exits 1 when one of
them is missing.

  .venv/bin/python scripts/demo.py
"""

import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from harness import HarnessFailure, example_config, run, start_collector, start_standin  # noqa: E402

SERVICE = ROOT / "examples" / "demo" / "payments.py"
# The sample service's service.name, by which the exporter routes its data.
PROJECT = "payments"
SIGNALS = ["spans", "logs", "issues", "trace metrics"]


def run_demo() -> dict:
    """Runs the stand-in, the collector and the sample service; returns the stand-in's records."""
    started = []
    try:
        with tempfile.TemporaryDirectory() as workdir:
            standin = start_standin(["--projects", PROJECT], started)
            sentry = {"SENTRY_URL": standin.api, "SENTRY_ORG_SLUG": standin.org,
                      "SENTRY_AUTH_TOKEN": standin.token}
            collector = start_collector(example_config("otel.yaml"), Path(workdir) / "otel.yaml", started,
                                        env=sentry, log_level="warn")
            print(f"demo: the Sentry stand-in at {standin.api} (project {PROJECT}), the collector "
                  f"with examples/otel.yaml at {collector.http_endpoint};\n"
                  f"demo: running {SERVICE.relative_to(ROOT)}", flush=True)
            run([sys.executable, SERVICE], env={"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{collector.http_endpoint}"})
            # Stopped before reading the records: a clean shutdown sends what the queues hold.
            code = started[-1].stop()
            if code != 0:
                raise HarnessFailure(f"the collector exited with {code}")
            return standin.records()
    except HarnessFailure:
        for process in started:
            process.stop()
            print(f"--- {process.name} output ---\n{process.output()}", file=sys.stderr)
        raise
    finally:
        for process in reversed(started):
            process.stop()


def issue_title(event) -> str:
    """The title Sentry gives an error event's issue: the raised exception's type and value (the
    last of `values`, which are oldest first)."""
    raised = event["exception"]["values"][-1]
    return f"{raised['type']}: {raised['value']}" if raised.get("value") else raised["type"]


def summarize(records) -> dict:
    """Per project that received anything: what arrived of each signal. `issues` holds each title
    with its number of events, `trace metrics` each name with its type and number of items."""
    summary = {}
    for slug, project in records["projects"].items():
        metrics = Counter((m["name"], m["type"]) for m in project["trace_metrics"])
        arrived = {
            "services": project["services"],
            "spans": project["span_total"],
            "logs": project["log_total"],
            "issues": dict(Counter(issue_title(e) for e in project["events"])),
            "trace metrics": {name: (kind, n) for (name, kind), n in sorted(metrics.items())},
            "counter sums": project["counter_sums"],
        }
        if any(arrived[signal] for signal in SIGNALS):
            summary[slug] = arrived
    return summary


def report(summary) -> str:
    lines = []
    for slug, arrived in summary.items():
        lines.append(f"project {slug} (from service {', '.join(arrived['services'])}):")
        lines.append(f"  spans          {arrived['spans']}")
        lines.append(f"  logs           {arrived['logs']}")
        issues = arrived["issues"]
        lines.append(f"  issues         {len(issues)}")
        lines += [f"    {title}  ({n} event{'s' * (n != 1)})" for title, n in issues.items()]
        items = arrived["trace metrics"]
        lines.append(f"  trace metrics  {sum(n for _, n in items.values())} items")
        for name, (kind, n) in items.items():
            total = f", total {arrived['counter sums'][name]:g}" if kind == "counter" else ""
            lines.append(f"    {name}  ({kind}, {n} item{'s' * (n != 1)}{total})")
    return "\n".join(lines)


def missing(summary) -> list:
    """The signals of which nothing reached the sample service's project."""
    return [signal for signal in SIGNALS if not summary.get(PROJECT, {}).get(signal)]


def main():
    try:
        summary = summarize(run_demo())
    except HarnessFailure as failure:
        raise SystemExit(f"demo: {failure}")
    print("demo: what Sentry received, per project:\n" + report(summary))
    if missing(summary):
        raise SystemExit(f"demo: nothing arrived of: {', '.join(missing(summary))}")


if __name__ == "__main__":
    main()
