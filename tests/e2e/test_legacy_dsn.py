"""The legacy `dsn` mode of older guides (issue 15): FastStream's otel.yaml, as the guide writes
it but for the DSN (tests/configs/faststream.yaml reads it from $SENTRY_DSN), sends every
service's data to that DSN's project of the stand-in, and the exporter never calls the
management API: no preload, no lookup, no organization check, no creation. A config that mixes
`dsn` with the management API's settings is refused at load, naming both."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, assert_exactly_once, free_port, listen_on, run, validate, wait_until

FASTSTREAM = ROOT / "tests" / "configs" / "faststream.yaml"
SDK_CLIENT = Path(__file__).with_name("sdk_client.py")
SPANS = 30
LOGS = 25


def faststream(logs=False, **sentry):
    """The guide's config with what the harness needs to reach it (a health_check, both OTLP
    protocols, loopback ports); `logs` adds a logs pipeline, `sentry` more exporter settings."""
    config = yaml.safe_load(FASTSTREAM.read_text())
    config["exporters"]["sentry"].update(sentry)
    protocols = config["receivers"]["otlp"]["protocols"]
    protocols.setdefault("grpc", {})
    protocols.setdefault("http", {})
    config.setdefault("extensions", {})["health_check"] = {"endpoint": ""}
    config["service"].setdefault("extensions", []).append("health_check")
    if logs:
        config["service"]["pipelines"]["logs"] = dict(config["service"]["pipelines"]["traces"])
    return config


def dsn_of(standin, project):
    """The project's DSN, read through the management API before the collector starts; the
    records are reset after, so that `mgmt_requests` holds only the exporter's."""
    key = next(k for k in standin.project_keys(project) if k["isActive"])
    standin.control("POST", "reset")
    assert not standin.records()["mgmt_requests"]
    return key["dsn"]["public"]


def sdk(collector, service, spans, logs):
    out = run([sys.executable, SDK_CLIENT, "--protocol", "grpc", "--endpoint", collector.grpc_endpoint,
               "--service", service, "--spans", spans, "--logs", logs])
    return json.loads(out.strip().splitlines()[-1])


def arrived(standin, project, spans, logs):
    def check():
        got = standin.records()["projects"][project]
        return len(got["spans"]) >= spans and len(got["logs"]) >= logs
    wait_until(f"{spans} spans and {logs} log records in {project}", check, timeout=60)


def test_the_faststream_guide_sends_its_spans_to_the_dsns_project(start_standin, launch_collector):
    standin = start_standin("--projects", "frontend,backend")
    dsn = dsn_of(standin, "backend")
    collector = launch_collector(faststream(), env={"SENTRY_DSN": dsn})

    # The guide's service, named after no project: the DSN decides, not service.name.
    sent = sdk(collector, "faststream", SPANS, 0)
    arrived(standin, "backend", SPANS, 0)
    records = standin.records()
    assert records["mgmt_requests"] == [], "dsn mode never calls the management API"
    assert not records["unknown_project_requests"]

    got = assert_exactly_once(standin, {"backend": ("faststream", SPANS, 0)})
    assert set(got["backend"]["spans"]) == set(sent["spans"])
    assert not got["frontend"]["spans"] and not got["frontend"]["logs"]


def test_every_service_and_signal_goes_to_the_one_project(start_standin, launch_collector):
    standin = start_standin("--projects", "frontend,backend,worker")
    dsn = dsn_of(standin, "frontend")
    # The guide's config with a logs pipeline and the other legacy keys (issue 15).
    config = faststream(logs=True, environment="production", insecure_skip_verify=True)
    collector = launch_collector(config, env={"SENTRY_DSN": dsn})

    sent = [sdk(collector, service, SPANS, LOGS) for service in ("faststream", "worker")]
    arrived(standin, "frontend", 2 * SPANS, 2 * LOGS)
    records = standin.records()
    assert records["mgmt_requests"] == [], "dsn mode never calls the management API"

    got = records["projects"]
    assert set(got["frontend"]["spans"]) == {s for one in sent for s in one["spans"]}
    assert set(got["frontend"]["logs"]) == {r for one in sent for r in one["logs"]}
    duplicates = {k: n for k, n in {**got["frontend"]["spans"], **got["frontend"]["logs"]}.items() if n != 1}
    assert not duplicates
    assert got["frontend"]["services"] == ["faststream", "worker"]
    for other in ("backend", "worker"):
        assert not got[other]["spans"] and not got[other]["logs"], other


@pytest.mark.parametrize("settings, problem", [
    ({"url": "https://sentry.io"}, "dsn: cannot be used with url"),
    ({"org_slug": "acme"}, "dsn: cannot be used with org_slug"),
    ({"auth_token": "sntrys_abc"}, "dsn: cannot be used with auth_token"),
    ({"auto_create_projects": True}, "dsn: cannot be used with auto_create_projects"),
    ({"routing": {"fallback_project": "catch-all"}}, "dsn: cannot be used with routing.fallback_project"),
    ({"dsn": "https://o1.ingest.sentry.io/42"}, "dsn: is not a usable DSN"),
])
def test_a_dsn_mixed_with_the_management_api_is_refused_at_load(tmp_path, settings, problem):
    config = listen_on(faststream(**{"dsn": "https://0123456789abcdef@o1.ingest.sentry.io/42", **settings}),
                       *[free_port() for _ in range(4)])
    result = validate(config, tmp_path)
    assert result.returncode != 0
    assert problem in result.stdout + result.stderr, result.stderr
    assert "0123456789abcdef" not in result.stdout + result.stderr, "the DSN is never printed"
