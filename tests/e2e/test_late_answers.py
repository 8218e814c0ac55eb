"""Sentry that accepts a request but answers after `http.timeout`: the exporter cannot know
whether the data is stored. It sends it again only after a backoff (not at once, which made
every span arrive several times), counts the items as `items_maybe_delivered`, and says so
in its log. The stand-in records the late-answered request, as Sentry would have stored it."""

import time

from conftest import scrape, value, wait_until
from test_hostile import post_traces, resource_spans, sentry


def copies(standin, project):
    return sum(standin.records()["projects"][project]["spans"].values())


def test_a_late_answer_is_resent_after_a_backoff_and_counted(start_standin, start_collector):
    standin = start_standin("--projects", "frontend")
    standin.fault({"target": "ingest", "project": "frontend", "delay_ms": 3000, "times": 1})
    collector = start_collector(sentry(standin, http={"timeout": "1s"}))
    post_traces(collector, resource_spans("frontend", 4))
    wait_until("the late-answered spans to be recorded", lambda: copies(standin, "frontend") == 4, timeout=20)
    # A resend at once (exporterhelper's 200 ms backoff here) would be accepted right away.
    time.sleep(5)
    assert copies(standin, "frontend") == 4, "the timed-out request was sent again at once"
    wait_until("the resend after the backoff", lambda: copies(standin, "frontend") == 8, timeout=20)
    assert len(standin.records()["projects"]["frontend"]["spans"]) == 4
    metrics = scrape(collector.metrics_url)
    assert value(metrics, "items_maybe_delivered", signal="traces") == 4
    assert any("Sentry may already hold these 4 spans" in line for line in collector.process.lines)
