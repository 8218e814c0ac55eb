"""Batching in the sentry exporter's queue (its default; no `batch` processor): a batch formed
in a queue holds many client requests, and in `sentry/(shared)` many projects. Each project of
such a batch is still handled on its own: the one Sentry refuses above a size is halved, the
one rate limited waits out its limit, the other is sent at once; every span arrives exactly
once, with the queue in memory and on disk (file_storage)."""

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from conftest import assert_exactly_once, collector_config
from harness import post, resource_spans

REQUESTS, PER_SERVICE = 20, 25
HEALTHY, HALVED, LIMITED = "healthy", "halved", "limited"
# Above this many bytes (gzipped) of spans, `halved`'s ingest answers 413: a whole batch of its
# spans is more, one client request's less.
HALVED_MAX_BODY = 4096
LIMIT_SECONDS = 2


@pytest.mark.parametrize("storage", ["memory", "file_storage"])
@pytest.mark.parametrize("queues", ["own", "shared"])
def test_each_project_of_a_queue_batch_is_handled_on_its_own(start_standin, launch_collector, tmp_path, queues,
                                                             storage):
    standin = start_standin("--projects", ",".join((HEALTHY, HALVED, LIMITED)))
    standin.fault({"target": "ingest", "project": HALVED, "signal": "traces", "max_body_bytes": HALVED_MAX_BODY})
    standin.fault({"target": "ingest", "project": LIMITED, "signal": "traces", "times": 1,
                   "rate_limit": {"categories": ["span"], "retry_after": LIMIT_SECONDS}})
    sentry = {"url": standin.api, "org_slug": standin.org, "auth_token": standin.token,
              "retry_on_failure": {"initial_interval": "100ms", "max_interval": "500ms"}}
    if queues == "shared":
        # Every project shares `sentry/(shared)`: its batches hold all three.
        sentry["max_project_queues"] = 0
    # Longer than sending every request takes: the queue makes a batch of all of them.
    config = collector_config(sentry, batch_timeout="2s")
    if storage == "file_storage":
        (tmp_path / "storage").mkdir()
        config["extensions"]["file_storage"] = {"directory": str(tmp_path / "storage")}
        config["service"]["extensions"].append("file_storage")
        sentry["sending_queue"]["storage"] = "file_storage"
    collector = launch_collector(config)

    for i in range(REQUESTS):
        post(collector, "/v1/traces", ExportTraceServiceRequest(resource_spans=[
            resource_spans(service, PER_SERVICE, first=PER_SERVICE * i) for service in (HEALTHY, HALVED, LIMITED)]))

    spans = REQUESTS * PER_SERVICE
    records = assert_exactly_once(standin, {s: (s, spans, 0) for s in (HEALTHY, HALVED, LIMITED)})
    answers = {s: [r for r in records[s]["requests"] if r["signal"] == "traces"] for s in records}
    statuses = {s: [r["status"] for r in requests] for s, requests in answers.items()}
    print(statuses)
    # Batched: far fewer requests to Sentry than clients sent.
    assert len(answers[HEALTHY]) <= REQUESTS // 4, statuses[HEALTHY]
    # The batch was over `halved`'s limit, and halved until its parts were taken.
    assert statuses[HALVED].count(413) >= 1, statuses[HALVED]
    assert statuses[LIMITED].count(429) == 1, statuses[LIMITED]
    # `healthy` waited for neither: all its spans were in before `limited`'s limit ended.
    limited_from = min(r["at_ms"] for r in answers[LIMITED] if r["status"] == 429)
    healthy_done = max(r["at_ms"] for r in answers[HEALTHY] if r["status"] == 200)
    limited_sent = min(r["at_ms"] for r in answers[LIMITED] if r["status"] == 200)
    assert healthy_done < limited_from + LIMIT_SECONDS * 1000 <= limited_sent + 100, (
        healthy_done, limited_from, limited_sent)
