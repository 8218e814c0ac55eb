"""examples/persistent-queue.yaml: data the collector accepted while Sentry was
down is still sent after the collector is killed (SIGKILL) and started again, and
after an upgrade from the version before one queue per project."""

import signal
import tarfile
from pathlib import Path

from conftest import assert_exactly_once, example_config, free_port, run

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
