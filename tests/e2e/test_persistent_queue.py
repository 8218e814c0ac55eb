"""examples/persistent-queue.yaml: data the collector accepted while Sentry was
down is still sent after the collector is killed (SIGKILL) and started again."""

import signal

from conftest import assert_exactly_once, example_config, free_port, run

TRACES, CHILD_SPANS = 200, 2
SERVICE = "checkout"


def test_accepted_data_survives_sentry_down_and_a_killed_collector(tmp_path, launch_collector, start_standin,
                                                                   telemetrygen):
    # The stand-in's address is chosen now, but nothing listens there yet: Sentry is down.
    sentry_address = f"127.0.0.1:{free_port()}"
    env = {
        "SENTRY_URL": f"http://{sentry_address}",
        "SENTRY_ORG_SLUG": "acme",
        "SENTRY_AUTH_TOKEN": "standin-token",
        "OTELCOL_STORAGE_DIR": str(tmp_path / "queue"),
    }

    def config():
        config = example_config("persistent-queue.yaml")
        # Quicker retries than the example's defaults, so the test does not wait for backoff.
        config["exporters"]["sentry"]["retry_on_failure"].update(initial_interval="100ms", max_interval="500ms")
        return config

    first = launch_collector(config(), env=env)
    # Each client export returns once its data is in the queue on disk.
    run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", first.grpc_endpoint,
         "--service", SERVICE, "--traces", TRACES, "--child-spans", CHILD_SPANS, "--rate", 500])
    first.process.proc.send_signal(signal.SIGKILL)
    assert first.process.proc.wait(timeout=10) == -signal.SIGKILL

    launch_collector(config(), env=env)
    standin = start_standin("--listen", sentry_address, "--projects", SERVICE)
    assert_exactly_once(standin, {SERVICE: (SERVICE, TRACES * (1 + CHILD_SPANS), 0)})
