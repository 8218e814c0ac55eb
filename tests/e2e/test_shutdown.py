"""SIGTERM ends the collector within seconds while Sentry accepts connections and never
answers: the exporter tells its core to wind down before exporterhelper drains the queue, so
neither the exports in flight nor each queued batch wait out the export timeout."""

import subprocess
import time
import urllib.error

import pytest

from conftest import collector_config, scrape, projects_value, value, wait_until
from test_hostile import post_traces, resource_spans

# A clean exit within this bound, as `podman stop` and the image test expect.
EXIT_BOUND_S = 10
# Batches sent: a drain that pushes each queued one for the whole timeout, 10 consumers at a
# time, would take several timeouts.
BATCHES = 40


def never_answer(standin):
    """Ingest holds every request without answering. Returns a function telling how many
    requests are held now, None when the stand-in cannot say."""
    try:
        standin.fault({"target": "ingest", "hang": True})
        return lambda: standin.records(ids=False).get("requests_hanging")
    except urllib.error.HTTPError:
        # A stand-in without `hang`: a delay far beyond every timeout never answers in time.
        standin.fault({"target": "ingest", "delay_ms": 600000})
        return lambda: None


@pytest.mark.parametrize("timeout", ["5s", None], ids=["timeout-5s", "default-timeout"])
def test_sigterm_exits_soon_while_sentry_never_answers(start_standin, launch_collector, timeout):
    standin = start_standin("--projects", "frontend")
    held = never_answer(standin)
    sentry = {"url": standin.api, "org_slug": standin.org, "auth_token": standin.token}
    if timeout:
        sentry["timeout"] = timeout
    # Without the batch processor each request is one batch of the queue: BATCHES of them, far
    # more than the queue's 10 consumers, so that exporterhelper's drain at shutdown has many
    # queued batches to push, ten at a time.
    config = collector_config(sentry)
    del config["processors"]
    for pipeline in config["service"]["pipelines"].values():
        del pipeline["processors"]
    collector = launch_collector(config)
    for i in range(BATCHES):
        post_traces(collector, resource_spans("frontend", 5, first=5 * i))

    def waiting():
        metrics = scrape(collector.metrics_url)
        exporting = projects_value(metrics, "otelcol_exporter_in_flight_requests")
        # The queue's size counts the batches in flight too.
        queued = projects_value(metrics, "otelcol_exporter_queue_size") - exporting
        hanging = held()
        return (exporting >= 1 and queued >= BATCHES - 10 and (hanging is None or hanging >= 1)
                and (exporting, queued, hanging))

    exporting, queued, hanging = wait_until("exports waiting on Sentry and batches queued", waiting, timeout=20)
    print(f"{exporting:.0f} exports in flight, {hanging} requests held by the stand-in, {queued:.0f} batches queued")

    began = time.monotonic()
    collector.process.proc.terminate()
    try:
        code = collector.process.proc.wait(EXIT_BOUND_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the collector was still running {EXIT_BOUND_S}s after SIGTERM")
    took = time.monotonic() - began
    print(f"exited with {code} after {took:.1f}s")
    assert code == 0, collector.process.output()[-3000:]
    assert took < EXIT_BOUND_S
