"""A project the exporter creates gets the Sentry platform of the service's OpenTelemetry SDK
language (`telemetry.sdk.language`, mapped by rust/core/src/platform.rs): `node` for a
Node.js service, `other` for one whose resource does not say its language (telemetrygen's
resource does not, unless told)."""

from conftest import assert_exactly_once, run

TRACES = 5  # telemetrygen traces; each has one root and CHILD_SPANS children
CHILD_SPANS = 1
SPANS = TRACES * (1 + CHILD_SPANS)


def test_created_projects_get_the_platform_of_the_sdk_language(
    start_standin, start_collector, telemetrygen
):
    standin = start_standin("--projects", "frontend")
    collector = start_collector({
        "url": standin.api,
        "org_slug": standin.org,
        "auth_token": standin.token,
        "auto_create_projects": True,
        "sending_queue": {"enabled": True},
        "retry_on_failure": {"enabled": True, "initial_interval": "100ms"},
    })

    # A resource attribute, set once on the OTLP resource.
    run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
         "--service", "checkout-web", "--otlp-attributes", 'telemetry.sdk.language="nodejs"',
         "--traces", TRACES, "--child-spans", CHILD_SPANS, "--rate", 1000])
    run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
         "--service", "inventory", "--traces", TRACES, "--child-spans", CHILD_SPANS,
         "--rate", 1000])

    assert_exactly_once(standin, {
        "checkout-web": ("checkout-web", SPANS, 0),
        "inventory": ("inventory", SPANS, 0),
    })
    assert standin.records()["created_platforms"] == {"checkout-web": "node", "inventory": "other"}
