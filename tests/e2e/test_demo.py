"""`make demo` (scripts/demo.py) against the built collector: the sample service's spans, log
records, exception and metrics all arrive in its project, each once; the exception is one issue
with the title Sentry shows, linked to its span; the trace metrics add up to what it counted."""

import sys
from collections import Counter

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import demo  # noqa: E402

# What examples/demo/payments.py does: five checkouts (a server span and a child span each, a log
# record each), of which one card is declined.
SPANS = 10
LOGS = 5
OUTCOMES = {"paid": 4, "declined": 1}
TITLE = "CardDeclined: card declined for order-3: over the limit"


def test_the_demo_shows_all_four_signals():
    records = demo.run_demo()
    summary = demo.summarize(records)
    print(demo.report(summary))
    assert demo.missing(summary) == []
    assert list(summary) == ["payments"]
    assert summary["payments"]["services"] == ["payments"]
    assert summary["payments"]["issues"] == {TITLE: 1}

    project = records["projects"]["payments"]
    assert (project["span_total"], project["span_distinct"]) == (SPANS, SPANS)
    assert (project["log_total"], project["log_distinct"]) == (LOGS, LOGS)
    drops = {key: project[key] for key in ("dropped", "event_drops", "trace_metric_drops") if project[key]}
    assert not drops, drops

    trace = project["events"][0]["contexts"]["trace"]
    assert f"{trace['trace_id']}-{trace['span_id']}" in project["spans"], "the issue names no span that arrived"

    charges, checkouts = Counter(), Counter()
    for item in project["trace_metrics"]:
        outcome = item["attributes"]["outcome"]["value"]
        if item["name"] == "payments.charges":
            charges[outcome] += item["value"]
        elif item["name"] == "payments.checkout.duration":
            # Sentry counts a distribution item as 1 / its sample rate.
            checkouts[outcome] += 1 / item["attributes"]["sentry.client_sample_rate"]["value"]
    assert charges == OUTCOMES
    assert checkouts == OUTCOMES
