"""The scale-out pattern: a front collector (examples/gateway-front.yaml) whose
load_balancing exporter routes by service to two back collectors
(examples/otel.yaml) that send to Sentry. Every item arrives exactly once, and
all of a service's data goes through one back collector."""

import subprocess

import pytest

from conftest import assert_exactly_once, example_config

# Enough services that both back collectors get some, whatever ports they listen on.
SERVICES = [f"service-{i:02d}" for i in range(12)]
TRACES, CHILD_SPANS, LOGS = 10, 2, 15


def run_all(commands, timeout=120):
    """Runs clients side by side; fails the test with the output of any that fails."""
    clients = [subprocess.Popen([str(a) for a in c], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for c in commands]
    for command, client in zip(commands, clients):
        output, _ = client.communicate(timeout=timeout)
        if client.returncode != 0:
            pytest.fail(f"{command} failed ({client.returncode}):\n{output}")


def test_each_service_goes_through_one_back_collector_exactly_once(launch_collector, start_standin, telemetrygen):
    standin = start_standin("--projects", ",".join(SERVICES))
    sentry_env = {"SENTRY_URL": standin.api, "SENTRY_ORG_SLUG": standin.org, "SENTRY_AUTH_TOKEN": standin.token}

    backs = {}
    for name in ("back-1", "back-2"):
        config = example_config("otel.yaml")
        # Tags each back collector's requests, so the stand-in's records show who sent what.
        config["exporters"]["sentry"]["http"] = {"headers": {"User-Agent": name}}
        backs[name] = launch_collector(config, env=sentry_env)
    front_config = example_config("gateway-front.yaml")
    front_config["exporters"]["load_balancing"]["resolver"]["static"]["hostnames"] = [
        back.grpc_endpoint for back in backs.values()
    ]
    front = launch_collector(front_config)

    run_all(
        [[telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", front.grpc_endpoint, "--service", service,
          "--traces", TRACES, "--child-spans", CHILD_SPANS, "--rate", 200] for service in SERVICES]
        + [[telemetrygen, "logs", "--otlp-insecure", "--otlp-endpoint", front.grpc_endpoint, "--service", service,
            "--logs", LOGS, "--rate", 200] for service in SERVICES]
    )
    records = assert_exactly_once(standin, {s: (s, TRACES * (1 + CHILD_SPANS), LOGS) for s in SERVICES})

    senders = {
        service: {(r["signal"], r["headers"]["user-agent"]) for r in records[service]["requests"] if r["status"] == 200}
        for service in SERVICES
    }
    print(f"signal and back collector of each service's requests: {senders}")
    split = {service: sent for service, sent in senders.items() if len({back for _, back in sent}) != 1}
    assert not split, f"services sent by more than one back collector: {split}"
    assert {back for sent in senders.values() for _, back in sent} == set(backs), "one back collector got every service"
