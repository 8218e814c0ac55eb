"""One service whose project lookup hangs must not hold the exporter: an export waits for a
lookup at most a short bound (counted from the lookup's start), then hands that project's
data back while the lookup goes on in the background; the batch's other projects are sent at
once. With one queue consumer and no retries, a batch that waited for the hanging lookup
until the export timeout would hold every later batch behind it."""

import time

from conftest import scrape, value, wait_until
from test_hostile import post_traces, resource_spans, sentry


def test_a_hanging_lookup_holds_no_batch_for_long(start_standin, start_collector):
    standin = start_standin("--projects", "frontend,slow")
    # The keys lookup of `slow` never answers. The preload fails, so `frontend` is looked up
    # too (its lookup answers).
    standin.fault([{"target": "mgmt", "path_contains": "/projects/acme/slow/keys/", "hang": True},
                   {"target": "mgmt", "path_contains": "/project-keys/", "status": 500}])
    # One consumer and no retries isolate the time each export takes: `slow`'s part is handed
    # back (and, without retries, given up) instead of being waited for.
    collector = start_collector(sentry(standin, timeout="30s", sending_queue={"num_consumers": 1},
                                       retry_on_failure={"enabled": False}))
    batches = 8
    for n in range(batches):
        post_traces(collector, resource_spans("frontend", 5, first=5 * n), resource_spans("slow", 5, first=5 * n))
        time.sleep(0.5)
    # Each export takes at most the lookup bound (2 s, counted from the lookup's start): all
    # of frontend's spans are out within seconds, not one batch per export timeout (30 s).
    wait_until("every frontend span to arrive",
               lambda: len(standin.records()["projects"]["frontend"]["spans"]) == 5 * batches, timeout=15)
    assert not standin.records()["projects"]["slow"]["spans"]
    # The lookup itself was made once, however many batches asked for it meanwhile.
    lookups = [r for r in standin.records()["mgmt_requests"] if "/projects/acme/slow/keys/" in r["path"]]
    assert len(lookups) == 1, lookups
    metrics = scrape(collector.metrics_url)
    assert value(metrics, "items_failed", signal="traces") >= 5 * batches
