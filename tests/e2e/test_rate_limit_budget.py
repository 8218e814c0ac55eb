"""Under the default retry settings, data held back by a Sentry rate limit longer than
exporterhelper's retry budget (5 min by default) waits in the queue for the limit's end
instead of being dropped at once."""

import time

from conftest import run, scrape, projects_value, value, wait_until

LIMIT_S = 600
SERVICE = "telemetrygen"


def test_a_ten_minute_span_limit_keeps_the_data_queued(start_standin, start_collector, telemetrygen):
    standin = start_standin("--projects", SERVICE)
    standin.fault({"target": "ingest", "status": 429,
                   "headers": {"X-Sentry-Rate-Limits": f"{LIMIT_S}:span:key"}, "times": 1})
    # No retry_on_failure: the factory's defaults.
    collector = start_collector({"url": standin.api, "org_slug": standin.org, "auth_token": standin.token})
    run([telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", collector.grpc_endpoint,
         "--traces", 10, "--rate", 1000])

    wait_until("the 429", lambda: any(
        r["status"] == 429 for r in standin.records()["projects"][SERVICE]["requests"]), timeout=20)
    # exporterhelper decides at once whether to wait for the limit or to drop the data.
    time.sleep(3)
    metrics = scrape(collector.metrics_url)
    print({k: v for k, v in metrics.items() if v and "exporter" in k[0]})
    assert value(metrics, "ingest_requests", status_class="429") == 1
    assert value(metrics, "items_failed", signal="traces") > 0, "handed back to be retried after the limit"
    assert projects_value(metrics, "otelcol_exporter_send_failed_spans") == 0, "the spans were dropped"
    assert projects_value(metrics, "otelcol_exporter_queue_size") > 0, "the spans should wait in the queue"
    assert "Dropping data" not in collector.process.output()
    assert not standin.records()["projects"][SERVICE]["spans"], "nothing is sent while the limit holds"
