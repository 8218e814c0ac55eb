"""Items the exporter drops for good are counted by the collector as failed, never as sent:
the exporter returns a permanent error for them."""

from conftest import run, scrape, projects_value, value, wait_until

TRACES = 10  # telemetrygen: a parent and a child span each


def test_spans_of_a_project_that_does_not_exist_count_as_failed(start_standin, start_collector, telemetrygen):
    standin = start_standin("--projects", "frontend")
    # No auto-creation and no fallback: the spans of `ghost` are dropped (project_not_found).
    collector = start_collector({"url": standin.api, "org_slug": standin.org, "auth_token": standin.token})
    run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
         "--service", "ghost", "--traces", TRACES, "--rate", 1000])

    spans = 2 * TRACES
    metrics = wait_until("the exporter to count the dropped spans", lambda: (
        m := scrape(collector.metrics_url)) and value(m, "items_dropped", signal="traces") >= spans and m,
        timeout=20)
    metrics = wait_until("exporterhelper to count the batches", lambda: (
        m := scrape(collector.metrics_url))
        and projects_value(m, "otelcol_exporter_send_failed_spans")
        + projects_value(m, "otelcol_exporter_sent_spans") >= spans and m, timeout=20)
    print({k: v for k, v in metrics.items() if v and "spans" in k[0]})
    assert value(metrics, "items_dropped", signal="traces", reason="project_not_found") == spans
    assert projects_value(metrics, "otelcol_exporter_sent_spans") == 0
    assert projects_value(metrics, "otelcol_exporter_send_failed_spans") == spans
    assert not standin.records()["projects"]["frontend"]["spans"]
