"""Configs from the wild: those of the Sentry exporter's setup guide, FastStream's guide and our
Kubernetes gateway example load in the built collector (`otelcol-sentry validate`), and those
that need no cluster also run against the stand-in: every span and log record arrives exactly
once, in the project the guide says.

The guide configs are copied in tests/configs/ (each names its source), with URLs, tokens and
the org slug read from the environment. To run one, the test adds only what the harness needs
to reach it: a `health_check` extension and loopback ports (`listen_on`)."""


import pytest
import yaml

from conftest import ROOT, assert_exactly_once, run, validate

CONFIGS = ROOT / "tests" / "configs"
TRACES = 10  # telemetrygen traces; each has one root and CHILD_SPANS children
CHILD_SPANS = 2
SPANS = TRACES * (1 + CHILD_SPANS)
LOGS = 15

GUIDE = ["setup-guide-basic.yaml", "setup-guide-auto-create.yaml", "setup-guide-mapping.yaml",
         "setup-guide-route-by-attribute.yaml", "setup-guide-self-hosted.yaml"]


def placeholder_env(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    return {
        "SENTRY_URL": "https://sentry.example.com",
        "SENTRY_ORG_SLUG": "acme",
        "SENTRY_AUTH_TOKEN": "sntrys_placeholder",
        "SENTRY_CA_FILE": str(ca),
        "SENTRY_DSN": "https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/42",
        "OTELCOL_BEARER_TOKEN": "placeholder-bearer-token",
        "OTELCOL_STORAGE_DIR": str(tmp_path / "storage"),
    }


# Every example too, among them kubernetes-gateway.yaml (which needs a cluster to run).
@pytest.mark.parametrize("path", [*(CONFIGS / name for name in [*GUIDE, "faststream.yaml"]),
                                  *sorted((ROOT / "examples").glob("*.yaml"))],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_config_loads(path, tmp_path):
    result = validate(path, tmp_path, placeholder_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def runnable(name):
    """A config of tests/configs/ with what the harness needs to reach it."""
    config = yaml.safe_load((CONFIGS / name).read_text())
    protocols = config["receivers"]["otlp"]["protocols"]
    protocols.setdefault("grpc", {})
    protocols.setdefault("http", {})
    config.setdefault("extensions", {})["health_check"] = {"endpoint": ""}
    config["service"].setdefault("extensions", []).append("health_check")
    return config


def send(telemetrygen, collector, service, logs=True, attributes=()):
    extra = [arg for attribute in attributes for arg in ("--otlp-attributes", attribute)]
    run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint, "--service", service,
         "--traces", TRACES, "--child-spans", CHILD_SPANS, "--rate", 1000, *extra])
    if logs:
        run([telemetrygen, "logs", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint, "--service", service,
             "--logs", LOGS, "--rate", 1000, *extra])


def sentry_env(standin):
    return {"SENTRY_URL": standin.api, "SENTRY_ORG_SLUG": standin.org, "SENTRY_AUTH_TOKEN": standin.token}


def test_basic(start_standin, launch_collector, telemetrygen):
    standin = start_standin("--projects", "frontend,backend")
    collector = launch_collector(runnable("setup-guide-basic.yaml"), env=sentry_env(standin))
    send(telemetrygen, collector, "frontend")
    send(telemetrygen, collector, "backend")
    assert_exactly_once(standin, {"frontend": ("frontend", SPANS, LOGS), "backend": ("backend", SPANS, LOGS)})


def test_auto_create(start_standin, launch_collector, telemetrygen):
    standin = start_standin("--projects", "frontend")
    collector = launch_collector(runnable("setup-guide-auto-create.yaml"), env=sentry_env(standin))
    send(telemetrygen, collector, "checkout")
    assert_exactly_once(standin, {"checkout": ("checkout", SPANS, LOGS)})
    assert standin.records()["projects_created"] == ["checkout"]


def test_mapping(start_standin, launch_collector, telemetrygen):
    standin = start_standin("--projects", "ecommerce-orders,ecommerce-products,frontend")
    collector = launch_collector(runnable("setup-guide-mapping.yaml"), env=sentry_env(standin))
    for service in ("orders-service", "products-service", "frontend"):
        send(telemetrygen, collector, service)
    assert_exactly_once(standin, {
        "ecommerce-orders": ("orders-service", SPANS, LOGS),
        "ecommerce-products": ("products-service", SPANS, LOGS),
        # not in the mapping: service.name is the slug
        "frontend": ("frontend", SPANS, LOGS),
    })


def test_route_by_another_attribute(start_standin, launch_collector, telemetrygen):
    standin = start_standin("--projects", "prod-monitoring,staging-monitoring,frontend")
    collector = launch_collector(runnable("setup-guide-route-by-attribute.yaml"), env=sentry_env(standin))
    send(telemetrygen, collector, "frontend", attributes=['deployment.environment="production"'])
    send(telemetrygen, collector, "backend", attributes=['deployment.environment="staging"'])
    records = assert_exactly_once(standin, {
        "prod-monitoring": ("frontend", SPANS, LOGS),
        "staging-monitoring": ("backend", SPANS, LOGS),
    })
    assert not records["frontend"]["spans"] and not records["frontend"]["logs"]


def test_self_hosted_with_a_private_ca(start_standin, launch_collector, telemetrygen, tmp_path):
    standin = start_standin("--projects", "frontend", "--tls-dir", str(tmp_path / "tls"))
    assert standin.api.startswith("https://")
    collector = launch_collector(runnable("setup-guide-self-hosted.yaml"),
                                 env={**sentry_env(standin), "SENTRY_CA_FILE": standin.ca_file})
    send(telemetrygen, collector, "frontend")
    assert_exactly_once(standin, {"frontend": ("frontend", SPANS, LOGS)})
