"""One sick project costs the others nothing: while `sick`'s project lookup, OTLP ingest or
envelope endpoint hangs, `healthy`, whose data shares every request with `sick`'s, gets at least
99 % of its spans, log records and metric points within 2 s of sending them, with the default
queue; once `sick` recovers, its data arrives exactly once (with `file_storage` too, across a
restart of the collector). Each project has its own queue, consumers and retries."""

import signal
import time

import pytest

from conftest import collector_config, wait_until
from harness import Probe
from test_hostile import sentry

TICKS, TICK = 100, 0.2  # 20 s of steady sending (harness.PROBE_TICK)
# Answers after the exporter's timeouts (10 s), recording nothing: a hanging endpoint.
HANG = {"status": 503, "delay_ms": 600_000}

# The signals of `sick` each fault holds back.
HELD = {"lookup": ["spans", "logs", "metric points"], "otlp_ingest": ["spans", "logs"], "envelopes": ["metric points"]}
FAULTS = {
    # `sick` is a new service: its project does not exist yet, and its lookup, the first step
    # to creating it, hangs.
    "lookup": [{"target": "mgmt", "path_contains": "/projects/acme/sick/keys/", "hang": True}],
    "otlp_ingest": [{"target": "ingest", "project": "sick", "signal": s, **HANG} for s in ("traces", "logs")],
    "envelopes": [{"target": "ingest", "project": "sick", "signal": "envelope", **HANG}],
}


def config(standin, **settings):
    """Traces, logs and metrics (each request holds both services) to the sentry exporter,
    default queue; short timeouts and retries so that the test ends soon."""
    return collector_config(sentry(standin, timeout="10s", http={"timeout": "10s"}, **settings),
                            signals=("traces", "logs", "metrics"))


def send_steadily(collector, standin):
    """A span, a log record and a metric point of `healthy` and of `sick` every tick, with
    what arrived for `healthy` polled meanwhile."""
    probe = Probe(collector, standin, TICKS * TICK, "healthy", "sick")
    probe.finish()
    assert not probe.errors, probe.errors
    return probe


def assert_healthy_on_time(probe):
    late = {name: probe.late(name, [])[0] for name in Probe.COUNTS}
    print({name: len(ticks) for name, ticks in late.items()})
    for name, ticks in late.items():
        assert len(ticks) <= TICKS // 100, f"{len(ticks)} of {TICKS} {name} of healthy late: ticks {ticks}"


def assert_sick_exactly_once(probe):
    wanted = dict.fromkeys(Probe.COUNTS, TICKS)
    try:
        wait_until("every item of sick to arrive", lambda: probe.counts("sick") == wanted, timeout=90)
    finally:
        print("sick:", probe.counts("sick"))
    time.sleep(2)
    record = probe.standin.records()["projects"]["sick"]
    assert probe.counts("sick") == wanted
    assert record["span_total"] == record["log_total"] == TICKS, "an item arrived twice"


@pytest.mark.parametrize("fault", FAULTS)
def test_a_sick_project_costs_the_others_nothing(fault, start_standin, launch_collector):
    new_sick = fault == "lookup"
    standin = start_standin("--projects", "healthy" if new_sick else "healthy,sick")
    standin.fault(FAULTS[fault])
    collector = launch_collector(config(standin, auto_create_projects=new_sick))
    probe = send_steadily(collector, standin)
    assert_healthy_on_time(probe)
    arrived = probe.counts("sick")
    assert all(arrived[name] == 0 for name in HELD[fault]), f"the fault let data of sick through: {arrived}"
    standin.control("DELETE", "faults")
    assert_sick_exactly_once(probe)


def test_a_sick_projects_queue_survives_a_restart(tmp_path, start_standin, launch_collector):
    standin = start_standin("--projects", "healthy,sick")
    standin.fault(FAULTS["otlp_ingest"])

    def persistent():
        cfg = config(standin, sending_queue={"storage": "file_storage"})
        cfg["extensions"]["file_storage"] = {"directory": str(tmp_path)}
        cfg["service"]["extensions"].append("file_storage")
        return cfg

    first = launch_collector(persistent())
    probe = send_steadily(first, standin)
    assert_healthy_on_time(probe)
    first.process.proc.send_signal(signal.SIGTERM)
    assert first.process.proc.wait(timeout=15) == 0
    arrived = probe.counts("sick")
    assert arrived["spans"] == arrived["logs"] == 0, arrived

    standin.control("DELETE", "faults")
    launch_collector(persistent())
    # Only the signals whose ingest hung were queued on disk; metrics went out meanwhile.
    assert_sick_exactly_once(probe)
