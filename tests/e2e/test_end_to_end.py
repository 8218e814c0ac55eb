"""The whole path: OTLP clients -> the built collector -> our exporter (Go shim,
C ABI, Rust core) -> the Sentry stand-in. Every span and log record must arrive
exactly once, in its service's project, with that project's key, gzip-encoded."""

import json
import sys
from pathlib import Path

from conftest import assert_exactly_once, run

SDK_CLIENT = Path(__file__).with_name("sdk_client.py")
TRACES = 40  # telemetrygen traces; each has one root and CHILD_SPANS children
CHILD_SPANS = 2
LOGS = 60
SDK_SPANS = 50
SDK_LOGS = 70


def sentry_config(standin):
    return {
        "url": standin.api,
        "org_slug": standin.org,
        "auth_token": standin.token,
        "routing": {"attribute_to_project_mapping": {"orders-service": "ecommerce-orders"}},
        "sending_queue": {"enabled": True},
        "retry_on_failure": {"enabled": True, "initial_interval": "100ms"},
    }


def sdk(collector, protocol, endpoint, service):
    out = run(
        [sys.executable, SDK_CLIENT, "--protocol", protocol, "--endpoint", endpoint,
         "--service", service, "--spans", SDK_SPANS, "--logs", SDK_LOGS]
    )
    return json.loads(out.strip().splitlines()[-1])


def test_every_item_arrives_once_in_its_services_project(start_standin, start_collector, telemetrygen):
    standin = start_standin("--projects", "frontend,backend,ecommerce-orders,payments")
    collector = start_collector(sentry_config(standin))

    run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
         "--service", "frontend", "--traces", TRACES, "--child-spans", CHILD_SPANS, "--rate", 1000])
    run([telemetrygen, "logs", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
         "--service", "frontend", "--logs", LOGS, "--rate", 1000])
    backend = sdk(collector, "grpc", collector.grpc_endpoint, "backend")
    orders = sdk(collector, "http", collector.http_endpoint, "orders-service")

    records = assert_exactly_once(standin, {
        "frontend": ("frontend", TRACES * (1 + CHILD_SPANS), LOGS),
        "backend": ("backend", SDK_SPANS, SDK_LOGS),
        "ecommerce-orders": ("orders-service", SDK_SPANS, SDK_LOGS),
    })

    assert set(records["backend"]["spans"]) == set(backend["spans"])
    assert set(records["backend"]["logs"]) == set(backend["logs"])
    assert set(records["ecommerce-orders"]["spans"]) == set(orders["spans"])
    assert set(records["ecommerce-orders"]["logs"]) == set(orders["logs"])
    assert not records["payments"]["spans"] and not records["payments"]["logs"]


def test_a_new_service_gets_its_project_and_loses_nothing_of_its_first_batches(
    start_standin, start_collector, telemetrygen
):
    standin = start_standin("--projects", "frontend")
    collector = start_collector({**sentry_config(standin), "auto_create_projects": True})

    run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
         "--service", "Brand.New_Service", "--traces", TRACES, "--child-spans", CHILD_SPANS, "--rate", 1000])
    run([telemetrygen, "logs", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
         "--service", "Brand.New_Service", "--logs", LOGS, "--rate", 1000])
    sdk_sent = sdk(collector, "http", collector.http_endpoint, "another-new-service")

    records = assert_exactly_once(standin, {
        "brand-new-service": ("Brand.New_Service", TRACES * (1 + CHILD_SPANS), LOGS),
        "another-new-service": ("another-new-service", SDK_SPANS, SDK_LOGS),
    })
    assert set(records["another-new-service"]["spans"]) == set(sdk_sent["spans"])
    assert set(records["another-new-service"]["logs"]) == set(sdk_sent["logs"])
    assert sorted(standin.records()["projects_created"]) == ["another-new-service", "brand-new-service"]
