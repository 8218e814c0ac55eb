"""The exporter against Sentry over HTTPS with a private CA (the stand-in's
--tls-dir makes one at start), and through an HTTP proxy (http.proxy_url).

Without TLS settings the private CA is refused, loudly and without losing data;
with http.tls.ca_file or http.tls.insecure_skip_verify everything arrives
exactly once; with http.proxy_url the data goes through the proxy."""

import re
import time

from conftest import assert_exactly_once, run, scrape, projects_value, value, wait_until

TRACES = 20  # telemetrygen traces; each has one root and CHILD_SPANS children
CHILD_SPANS = 2
LOGS = 30
SPANS = TRACES * (1 + CHILD_SPANS)
SERVICE = "frontend"


def start_tls_standin(start_standin, tmp_path):
    standin = start_standin("--projects", SERVICE, "--tls-dir", str(tmp_path / "tls"))
    assert standin.api.startswith("https://127.0.0.1:"), standin.api
    assert standin.ca_file == str(tmp_path / "tls" / "ca.pem"), standin.ca_file
    return standin


def sentry_config(url, standin, http=None):
    config = {
        "url": url,
        "org_slug": standin.org,
        "auth_token": standin.token,
        "sending_queue": {"enabled": True},
        "retry_on_failure": {"enabled": True, "initial_interval": "100ms", "max_interval": "1s",
                             "max_elapsed_time": "0s"},
    }
    if http is not None:
        config["http"] = http
    return config


def send(telemetrygen, collector):
    run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
         "--service", SERVICE, "--traces", TRACES, "--child-spans", CHILD_SPANS, "--rate", 1000])
    run([telemetrygen, "logs", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
         "--service", SERVICE, "--logs", LOGS, "--rate", 1000])


def test_a_private_ca_is_refused_by_default_and_the_data_stays_queued(
    start_standin, start_collector, telemetrygen, tmp_path
):
    standin = start_tls_standin(start_standin, tmp_path)
    collector = start_collector(sentry_config(standin.api, standin))
    send(telemetrygen, collector)

    def certificate_errors():
        return [line for line in collector.process.output().splitlines()
                if re.search(r"certificate.*UnknownIssuer", line)]

    wait_until("a certificate error in the collector's log", certificate_errors, timeout=15)
    print("\n".join(certificate_errors()[:2]))
    # Retried meanwhile: the exporter says so, and its queue still holds the data.
    wait_until("the exporter to retry", lambda: "Exporting failed. Will retry" in collector.process.output(),
               timeout=15)
    time.sleep(2)
    metrics = scrape(collector.metrics_url)
    assert value(metrics, "items_failed") > 0
    assert value(metrics, "management_calls", result="unreachable") > 0
    assert value(metrics, "items_sent") == 0
    assert value(metrics, "items_dropped") == 0, "data dropped"
    held = projects_value(metrics, "otelcol_exporter_queue_size") + \
        projects_value(metrics, "otelcol_exporter_in_flight_requests")
    assert held >= 2, "the queue should hold the traces and logs batches"
    assert "Dropping data" not in collector.process.output()

    records = standin.records()
    assert not records["projects"][SERVICE]["spans"]
    assert not records["projects"][SERVICE]["logs"]
    assert not records["projects"][SERVICE]["requests"], "no ingest request got past the handshake"
    assert not records["mgmt_requests"], "no management request got past the handshake"


def test_the_ca_file_is_trusted_and_every_item_arrives_once(
    start_standin, start_collector, telemetrygen, tmp_path
):
    standin = start_tls_standin(start_standin, tmp_path)
    collector = start_collector(sentry_config(standin.api, standin, {"tls": {"ca_file": standin.ca_file}}))
    send(telemetrygen, collector)
    assert_exactly_once(standin, {SERVICE: (SERVICE, SPANS, LOGS)})
    assert "UnknownIssuer" not in collector.process.output()


def test_insecure_skip_verify_accepts_any_certificate_with_a_warning(
    start_standin, start_collector, telemetrygen, tmp_path
):
    standin = start_tls_standin(start_standin, tmp_path)
    collector = start_collector(sentry_config(standin.api, standin, {"tls": {"insecure_skip_verify": True}}))
    send(telemetrygen, collector)
    assert_exactly_once(standin, {SERVICE: (SERVICE, SPANS, LOGS)})
    warnings = [l for l in collector.process.output().splitlines() if "insecure_skip_verify" in l]
    print("\n".join(warnings))
    assert warnings and any("warn" in l.lower() for l in warnings), "no insecure_skip_verify warning"


def test_proxy_url_is_honoured(start_standin, start_collector, telemetrygen):
    # The collector cannot reach sentry.invalid itself: only the proxy (a plain stand-in,
    # which serves absolute-form requests by their path) gets the requests anywhere.
    standin = start_standin("--projects", SERVICE)
    collector = start_collector(sentry_config("http://sentry.invalid:9", standin,
                                              {"proxy_url": standin.api}))
    send(telemetrygen, collector)
    assert_exactly_once(standin, {SERVICE: (SERVICE, SPANS, LOGS)})


def test_https_through_a_proxy_tunnel(start_standin, start_collector, telemetrygen, tmp_path):
    # Sentry over HTTPS behind an HTTP proxy: CONNECT tunnels through a second, plain stand-in.
    target = start_tls_standin(start_standin, tmp_path)
    proxy = start_standin("--projects", "unused")
    url = target.api.replace("127.0.0.1", "localhost")
    collector = start_collector(sentry_config(url, target, {
        "proxy_url": proxy.api, "tls": {"ca_file": target.ca_file}}))
    send(telemetrygen, collector)
    assert_exactly_once(target, {SERVICE: (SERVICE, SPANS, LOGS)})

    tunnels = [l for l in proxy.process.output().splitlines() if "CONNECT" in l]
    print("\n".join(tunnels))
    port = url.rsplit(":", 1)[1]
    assert any(f"CONNECT localhost:{port}" in l for l in tunnels), "management API not tunnelled"
    assert any(f"CONNECT 127.0.0.1:{port}" in l for l in tunnels), "ingest not tunnelled"
