"""examples/persistent-queue.yaml: data the collector accepted while Sentry was
down is still sent after the collector is killed (SIGKILL) and started again, and
after an upgrade from the version before one queue per project; what was in flight at
the kill is sent again, and counted and logged as maybe delivered."""

import signal
import tarfile
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from conftest import assert_exactly_once, example_config, free_port, run, scrape, value, wait_until
from harness import post, resource_spans

# The queue files (file_storage) of the collector built at 85df112, the last version with one
# queue per signal, left by examples/persistent-queue.yaml with Sentry down: 20 traces of 3 spans
# and 30 log records of each of `checkout` and `billing` (telemetrygen), then SIGKILL.
PREVIOUS_QUEUE = Path(__file__).parent / "fixtures" / "persistent-queue-85df112.tar.gz"

TRACES, CHILD_SPANS = 200, 2
SERVICE = "checkout"


def environment(storage, sentry_address):
    return {
        "SENTRY_URL": f"http://{sentry_address}",
        "SENTRY_ORG_SLUG": "acme",
        "SENTRY_AUTH_TOKEN": "standin-token",
        "OTELCOL_STORAGE_DIR": str(storage),
    }


def config():
    config = example_config("persistent-queue.yaml")
    # Quicker retries than the example's defaults, so the test does not wait for backoff.
    config["exporters"]["sentry"]["retry_on_failure"].update(initial_interval="100ms", max_interval="500ms")
    return config


def test_accepted_data_survives_sentry_down_and_a_killed_collector(tmp_path, launch_collector, start_standin,
                                                                   telemetrygen):
    # The stand-in's address is chosen now, but nothing listens there yet: Sentry is down.
    sentry_address = f"127.0.0.1:{free_port()}"
    env = environment(tmp_path / "queue", sentry_address)
    first = launch_collector(config(), env=env)
    # Each client export returns once its data is in the queue on disk.
    run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", first.grpc_endpoint,
         "--service", SERVICE, "--traces", TRACES, "--child-spans", CHILD_SPANS, "--rate", 500])
    first.process.proc.send_signal(signal.SIGKILL)
    assert first.process.proc.wait(timeout=10) == -signal.SIGKILL

    launch_collector(config(), env=env)
    standin = start_standin("--listen", sentry_address, "--projects", SERVICE)
    assert_exactly_once(standin, {SERVICE: (SERVICE, TRACES * (1 + CHILD_SPANS), 0)})


def test_the_queue_of_the_previous_version_is_sent_after_an_upgrade(tmp_path, launch_collector, start_standin):
    with tarfile.open(PREVIOUS_QUEUE) as previous:
        previous.extractall(tmp_path / "queue", filter="data")
    sentry_address = f"127.0.0.1:{free_port()}"
    launch_collector(config(), env=environment(tmp_path / "queue", sentry_address))
    standin = start_standin("--listen", sentry_address, "--projects", "checkout,billing")
    assert_exactly_once(standin, {service: (service, 20 * 3, 30) for service in ("checkout", "billing")})


def spans_of(standin, project):
    """{span id: copies} of what the stand-in recorded for `project` (accepted, answered or not)."""
    return standin.records()["projects"].get(project, {}).get("spans", {})


def test_a_request_in_flight_at_a_kill_is_sent_again_and_counted(tmp_path, launch_collector, start_standin):
    spans = 40
    standin = start_standin("--projects", SERVICE)
    env = environment(tmp_path / "queue", standin.api.removeprefix("http://"))
    first = launch_collector(config(), env=env)
    # One span first: once it is accepted the project is known, and its data goes to its own
    # queue (`sentry/checkout`), not the shared one.
    post(first, "/v1/traces", ExportTraceServiceRequest(resource_spans=[resource_spans(SERVICE, 1, first=spans)]))
    wait_until("the first span to arrive", lambda: len(spans_of(standin, SERVICE)) == 1, timeout=20)
    # Sentry stores what it gets and never answers: the request stays in flight.
    standin.fault({"target": "ingest", "project": SERVICE, "signal": "traces", "hang": True})
    post(first, "/v1/traces", ExportTraceServiceRequest(resource_spans=[resource_spans(SERVICE, spans)]))
    wait_until("the spans to be stored by Sentry, unanswered", lambda: len(spans_of(standin, SERVICE)) == 1 + spans,
               timeout=20)
    # No answer yet, and far from http.timeout (30 s): the first collector counted nothing.
    assert value(scrape(first.metrics_url), "items_maybe_delivered", signal="traces") == 0
    first.process.proc.send_signal(signal.SIGKILL)
    assert first.process.proc.wait(timeout=10) == -signal.SIGKILL

    standin.control("DELETE", "faults")
    second = launch_collector(config(), env=env)
    wait_until("the spans in flight at the kill to be sent again",
               lambda: sorted(spans_of(standin, SERVICE).values()) == [1] + [2] * spans, timeout=30)
    time.sleep(1)
    assert sorted(spans_of(standin, SERVICE).values()) == [1] + [2] * spans, "sent a third time"
    assert value(scrape(second.metrics_url), "items_maybe_delivered", signal="traces") == spans
    said = f"{spans} spans of project {SERVICE} were being sent when the collector stopped without a clean shutdown"
    warned = [line for line in second.process.lines if said in line]
    assert len(warned) == 1, second.process.output()
    assert "warn" in warned[0].lower(), warned[0]


def test_what_projects_accepted_of_a_batch_kept_at_a_stop_is_counted_when_sent_again(tmp_path, launch_collector,
                                                                                    start_standin):
    accepted, retried = 5, 7
    standin = start_standin("--projects", "alpha,beta")
    env = environment(tmp_path / "queue", standin.api.removeprefix("http://"))
    shared = config()
    # Every project shares one queue (`sentry/(shared)`): a batch spans both projects.
    shared["exporters"]["sentry"]["max_project_queues"] = 0
    first = launch_collector(shared, env=env)
    standin.fault({"target": "ingest", "project": "beta", "signal": "traces", "status": 503})
    post(first, "/v1/traces", ExportTraceServiceRequest(resource_spans=[
        resource_spans("alpha", accepted), resource_spans("beta", retried, first=accepted)]))
    wait_until("alpha to accept its part", lambda: len(spans_of(standin, "alpha")) == accepted, timeout=20)
    # SIGTERM while beta's part waits to be retried: the queue keeps the whole batch.
    assert first.process.stop() == 0
    assert any(f"at least {retried} spans of the projects without a queue of their own" in line
               for line in first.process.lines), first.process.output()

    standin.control("DELETE", "faults")
    second = launch_collector(shared, env=env)
    wait_until("beta's part to arrive", lambda: len(spans_of(standin, "beta")) == retried, timeout=30)
    time.sleep(1)
    assert sorted(spans_of(standin, "alpha").values()) == [2] * accepted
    assert sorted(spans_of(standin, "beta").values()) == [1] * retried
    assert value(scrape(second.metrics_url), "items_maybe_delivered", signal="traces") == accepted
    said = (f"{accepted} spans of the projects without a queue of their own (sentry/(shared)) were accepted by "
            "Sentry in batches that the persistent queue kept at the last shutdown")
    assert sum(said in line for line in second.process.lines) == 1, second.process.output()
