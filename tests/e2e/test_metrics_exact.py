"""Counter deltas as docs/design.md ("Trace metrics and the collector's retries") specifies
them, checked series by series against what the sender counted: exact when a batch spans
several envelopes and Sentry refuses some, exact for several points of one series in a batch,
within the restart rule after a crash with the persistent queue, and within the series bound
(never more than was counted; less by exactly what is counted as dropped) with hundreds of
thousands of series. The cap counts what Sentry accepted, not attempts.

A cumulative histogram's points are sent as deltas whose min and max are the series' whole
life's: Sentry shows each delta's count and sum, and its min and max only where the delta
holds them (a new lowest or highest value), so the min and max Sentry shows over all of them
are the sender's.

The points are OTLP/HTTP protobuf requests built here: each test knows every series' true
total. The stand-in sums the `counter` items it received by name (`counter_sums`)."""

import signal
import threading
import time

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AGGREGATION_TEMPORALITY_CUMULATIVE, ResourceMetrics

from conftest import collector_config, example_config, free_port, scrape, value, wait_until
from harness import attribute, post

HOUR_NS = 3600 * 10**9
METRICS_PATH = "/v1/metrics"
# The OpenTelemetry SDKs' default explicit bucket bounds.
SDK_BOUNDS = (0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000)


def counters(service, points, start_ns):
    """One request of cumulative monotonic sums: `points` is [(name, time_ns, total)], or
    [(name, time_ns, total, {attribute: value})], all of series that started at `start_ns`."""
    resource = ResourceMetrics()
    resource.resource.attributes.append(attribute("service.name", service))
    scope = resource.scope_metrics.add()
    by_name = {}
    for name, time_ns, total, *attributes in points:
        metric = by_name.get(name)
        if metric is None:
            metric = by_name[name] = scope.metrics.add()
            metric.name = name
            metric.sum.is_monotonic = True
            metric.sum.aggregation_temporality = AGGREGATION_TEMPORALITY_CUMULATIVE
        point = metric.sum.data_points.add()
        point.start_time_unix_nano, point.time_unix_nano, point.as_double = start_ns, time_ns, total
        for key, text in (attributes[0] if attributes else {}).items():
            point.attributes.append(attribute(key, text))
    return ExportMetricsServiceRequest(resource_metrics=[resource])


def cumulative_histogram(service, name, recorded, start_ns):
    """One request of a cumulative histogram's points: `recorded` is [(time_ns, values)], each
    point holding every value recorded up to its time, with the SDKs' default bounds."""
    resource = ResourceMetrics()
    resource.resource.attributes.append(attribute("service.name", service))
    metric = resource.scope_metrics.add().metrics.add()
    metric.name, metric.unit = name, "ms"
    metric.histogram.aggregation_temporality = AGGREGATION_TEMPORALITY_CUMULATIVE
    for time_ns, values in recorded:
        point = metric.histogram.data_points.add()
        point.start_time_unix_nano, point.time_unix_nano = start_ns, time_ns
        point.count, point.sum, point.min, point.max = len(values), sum(values), min(values), max(values)
        point.explicit_bounds.extend(SDK_BOUNDS)
        counts = [0] * (len(SDK_BOUNDS) + 1)
        for value in values:
            counts[next((i for i, b in enumerate(SDK_BOUNDS) if value <= b), len(SDK_BOUNDS))] += 1
        point.bucket_counts.extend(counts)
    return ExportMetricsServiceRequest(resource_metrics=[resource])


def distribution_seen(items):
    """What Sentry shows of distribution items: count() and sum() extrapolated with each item's
    sentry.client_sample_rate (Σ 1/rate, Σ value/rate), min() and max() as they are."""
    rate = [m.get("attributes", {}).get("sentry.client_sample_rate", {}).get("value", 1.0) for m in items]
    values = [m["value"] for m in items]
    return {"count": sum(1 / r for r in rate), "sum": sum(v / r for v, r in zip(values, rate)),
            "min": min(values, default=None), "max": max(values, default=None)}


def sentry_config(standin, **extra):
    return {
        "url": standin.api, "org_slug": standin.org, "auth_token": standin.token,
        "sending_queue": {"enabled": True},
        "retry_on_failure": {"enabled": True, "initial_interval": "100ms", "max_interval": "1s"},
        **extra,
    }


def counter_sums(standin, project):
    return standin.records(ids=False)["projects"][project]["counter_sums"]


def trace_metrics(standin, project):
    return standin.records(ids=False)["projects"][project]["trace_metric_total"]


def envelope_statuses(standin, project):
    requests = standin.records()["projects"][project]["requests"]
    return [r["status"] for r in requests if r["signal"] == "envelope"]


def wait_for_sums(standin, project, want, timeout=90):
    """Waits until every series of `want` ({name: total}) reached its total, then a moment for
    late duplicates; returns the sums."""
    wait_until(f"{project}'s counters to reach their totals",
               lambda: all(counter_sums(standin, project).get(n, 0) >= t for n, t in want.items()),
               timeout=timeout)
    time.sleep(2)
    return counter_sums(standin, project)


def test_a_batch_over_several_envelopes_with_two_503s_is_exact(start_standin, launch_collector):
    """300 series, a point each every 0.5 s for 12 s, batched every 3 s: about 1,800 items and
    two envelopes per batch. A 503 on the first envelope of two batches: the batch comes back,
    and what the first attempt's other envelope held must count once."""
    project, series, step_s, steps, batch_s = "metrics-split", 300, 0.5, 24, 3
    standin = start_standin("--projects", project)
    config = collector_config(sentry_config(standin), batch_timeout=f"{batch_s}s", signals=("metrics",))
    collector = launch_collector(config)
    start_ns = time.time_ns()
    totals = {f"orders.s{i}": 0 for i in range(series)}
    faults = []

    def fail_the_next_batch_first_envelope():
        # Between batches (every envelope of the last one answered), the next envelope is the
        # first of a batch.
        seen = trace_metrics(standin, project)
        wait_until("a batch's envelopes", lambda: trace_metrics(standin, project) > seen, timeout=20)
        time.sleep(1)
        standin.fault({"target": "ingest", "project": project, "signal": "envelope", "status": 503, "times": 1})
        faults.append(time.monotonic())

    faulting = threading.Thread(target=lambda: [fail_the_next_batch_first_envelope() for _ in range(2)])
    faulting.start()
    for step in range(steps):
        points = []
        for i, name in enumerate(totals):
            totals[name] += 1 + (i + step) % 7
            points.append((name, time.time_ns(), float(totals[name])))
        post(collector, METRICS_PATH, counters(project, points, start_ns))
        time.sleep(step_s)
    faulting.join(timeout=60)
    assert len(faults) == 2

    sums = wait_for_sums(standin, project, totals)
    statuses = envelope_statuses(standin, project)
    assert statuses.count(503) == 2, statuses
    assert statuses.count(200) >= 2 * steps * step_s // batch_s, statuses
    wrong = {name: (sums.get(name), total) for name, total in totals.items() if sums.get(name) != total}
    assert not wrong, f"{len(wrong)} of {series} series not exact (received, counted): {list(wrong.items())[:5]}"


def test_points_of_a_series_older_than_the_exporter_in_one_batch_count_from_the_first(start_standin,
                                                                                       launch_collector):
    project = "metrics-batch"
    standin = start_standin("--projects", project)
    collector = launch_collector(collector_config(sentry_config(standin), signals=("metrics",)))
    before = time.time_ns() - HOUR_NS
    now = time.time_ns()
    # 10, 20, 30: a baseline, then 10 and 10. A reset inside the batch (to 4, same start: the
    # sender restarted its count) counts 4; a NaN and a duplicate change nothing.
    points = [("a", now + 1, 10.0), ("a", now + 2, 20.0), ("a", now + 3, 30.0),
              ("b", now + 1, 10.0), ("b", now + 2, float("nan")), ("b", now + 3, 15.0), ("b", now + 3, 15.0),
              ("b", now + 4, 4.0)]
    post(collector, METRICS_PATH, counters(project, points, before))
    assert wait_for_sums(standin, project, {"a": 20, "b": 9}) == {"a": 20, "b": 9}


def test_a_crash_with_the_persistent_queue_loses_each_series_first_point_only(tmp_path, start_standin,
                                                                              launch_collector):
    """Sentry down, one request of three points per series is queued on disk, the collector is
    killed and started again: each series' first point sets its baseline (the rule: what came
    before it may have been sent before the crash), its other points count."""
    project = "metrics-restart"
    sentry_address = f"127.0.0.1:{free_port()}"
    env = {"SENTRY_URL": f"http://{sentry_address}", "SENTRY_ORG_SLUG": "acme",
           "SENTRY_AUTH_TOKEN": "standin-token", "OTELCOL_STORAGE_DIR": str(tmp_path / "queue")}
    config = example_config("persistent-queue.yaml")
    config["exporters"]["sentry"]["retry_on_failure"].update(initial_interval="100ms", max_interval="500ms")
    config["service"]["pipelines"]["metrics"] = {"receivers": ["otlp"], "processors": ["memory_limiter"],
                                                 "exporters": ["sentry"]}
    first = launch_collector(config, env=env)
    start_ns, now = time.time_ns() - 60 * 10**9, time.time_ns()
    totals = {f"s{i}": (10.0 * (i + 1), 25.0 * (i + 1), 45.0 * (i + 1)) for i in range(55)}
    points = [(name, now + k, total) for name, values in totals.items() for k, total in enumerate(values)]
    post(first, METRICS_PATH, counters(project, points, start_ns))
    time.sleep(1)
    first.process.proc.send_signal(signal.SIGKILL)
    assert first.process.proc.wait(timeout=10) == -signal.SIGKILL

    launch_collector(config, env=env)
    standin = start_standin("--listen", sentry_address, "--projects", project)
    want = {name: values[-1] - values[0] for name, values in totals.items()}
    assert wait_for_sums(standin, project, want) == want


def test_the_cap_counts_what_sentry_accepted(start_standin, launch_collector):
    """9,500 gauge points of one project under a 10,000 cap, their first envelope refused with
    503: all are sent."""
    project, points = "metrics-cap", 9500
    standin = start_standin("--projects", project)
    standin.fault({"target": "ingest", "project": project, "signal": "envelope", "status": 503, "times": 1})
    config = collector_config(sentry_config(standin, metrics={"max_items_per_minute": 10_000}),
                              batch_timeout="1s", signals=("metrics",))
    collector = launch_collector(config)
    now = time.time_ns()
    request = counters(project, [(f"g{i}", now, 1.0) for i in range(points)], now - 10**9)
    for metric in request.resource_metrics[0].scope_metrics[0].metrics:
        data = list(metric.sum.data_points)
        metric.ClearField("sum")
        metric.gauge.data_points.extend(data)
    post(collector, METRICS_PATH, request)
    wait_until("every gauge point", lambda: trace_metrics(standin, project) >= points, timeout=60)
    time.sleep(2)
    assert trace_metrics(standin, project) == points
    assert value(scrape(collector.metrics_url), "metric_items_dropped", reason="capped") == 0
    assert 503 in envelope_statuses(standin, project)


def many_series(start_standin, launch_collector, project, series, ticks, began):
    """`series` counters of one project, each +1 per tick, that `began` "before" or "after"
    the exporter started (a first point then sets a baseline, or counts whole). Returns what
    Sentry received, what the rule says it must, and the exporter's own metrics."""
    standin = start_standin("--projects", project)
    sentry = sentry_config(standin, metrics={"max_items_per_minute": 0})
    config = collector_config(sentry, batch_timeout="1s", signals=("metrics",))
    config["exporters"]["sentry"]["sending_queue"]["queue_size"] = 100_000
    collector = launch_collector(config)
    start_ns = time.time_ns() + {"before": -HOUR_NS, "after": 0}[began]
    per_request = 20_000
    for tick in range(1, ticks + 1):
        for first in range(0, series, per_request):
            points = [("load", time.time_ns(), float(tick), {"series": str(i)})
                      for i in range(first, min(series, first + per_request))]
            post(collector, METRICS_PATH, counters(project, points, start_ns))

    def done():
        metrics = scrape(collector.metrics_url)
        return value(metrics, "metric_points_received") >= series * ticks and metrics

    wait_until(f"{series * ticks} points handled", done, timeout=240)
    time.sleep(2)
    metrics = scrape(collector.metrics_url)
    received = counter_sums(standin, project).get("load", 0)
    # Never more than was counted; less by exactly one increment per point dropped for want of
    # room, one per eviction, and (series older than the exporter) each held series' baseline.
    refused = value(metrics, "metric_items_dropped", reason="series_limit")
    evicted = value(metrics, "metric_series_evicted")
    baselines = value(metrics, "metric_series") if began == "before" else 0
    print(f"received {received} of {series * ticks}: refused {refused}, evicted {evicted}, baselines {baselines}, "
          f"series {value(metrics, 'metric_series')}, bytes {value(metrics, 'metric_series_bytes')}")
    assert received <= series * ticks
    assert received == series * ticks - refused - evicted - baselines
    # The series the table holds are exact: a flood of others does not push them out.
    held = value(metrics, "metric_series")
    assert received >= held * (ticks - (1 if began == "before" else 0))
    return metrics


def test_110000_series_begun_after_the_exporter_never_count_twice(start_standin, launch_collector):
    metrics = many_series(start_standin, launch_collector, "metrics-110k", 110_000, 3, "after")
    assert value(metrics, "metric_items_dropped", reason="series_limit") == 0, "within the default bound"


def test_300000_series_begun_before_the_exporter_lose_only_what_is_counted(start_standin, launch_collector):
    metrics = many_series(start_standin, launch_collector, "metrics-300k", 300_000, 3, "before")
    assert value(metrics, "metric_items_dropped", reason="series_limit") > 0, "over the default bound"


def test_a_counter_over_a_minute_of_503s_a_rate_limit_and_a_restart_sums_to_the_rule(start_standin,
                                                                                     launch_collector):
    """20 counter series, a point each every 0.5 s for about a minute, through 503s and a
    `trace_metric` rate limit on the envelopes, and a collector restart halfway (the points sent
    before it all settled, the sender paused while the collector was down): Sentry's sum of
    each series is its total less exactly the restart's interval (the increase from its last
    point before the stop to its first after the start, which sets the new baseline)."""
    project, step_s = "metrics-minute", 0.5
    standin = start_standin("--projects", project)
    config = collector_config(sentry_config(standin), batch_timeout="2s", signals=("metrics",))
    collector = launch_collector(config)
    start_ns = time.time_ns()
    totals = {f"minute.s{i}": 0.0 for i in range(20)}

    def faults():
        standin.fault({"target": "ingest", "project": project, "signal": "envelope", "status": 503, "times": 2})
        standin.fault({"target": "ingest", "project": project, "signal": "envelope", "times": 1,
                       "rate_limit": {"categories": ["trace_metric"], "retry_after": 3, "scope": "key"}})

    def send(collector, steps):
        for step in range(steps):
            points = []
            for i, name in enumerate(totals):
                totals[name] += 1 + (i * step) % 5
                points.append((name, time.time_ns(), totals[name]))
            post(collector, METRICS_PATH, counters(project, points, start_ns))
            time.sleep(step_s)

    faults()
    send(collector, 60)
    before_stop = dict(totals)
    wait_for_sums(standin, project, before_stop)
    collector.process.stop()
    collector = launch_collector(config)
    faults()
    send(collector, 60)
    # The first point after the start added 1 to each series (step 0): the restart's interval.
    want = {name: total - 1 for name, total in totals.items()}
    sums = wait_for_sums(standin, project, want)
    statuses = envelope_statuses(standin, project)
    assert statuses.count(503) == 4 and statuses.count(429) == 2, statuses
    assert sums == want


def test_a_cumulative_histograms_deltas_show_the_senders_count_sum_min_and_max(start_standin, launch_collector):
    """10, 20, 30, 40; then 5 and 50 (a new min and max: the delta holds them); then 30 and 45
    (min and max unchanged: they only bound the delta, which must not show them). Three points
    of one cumulative series, each in its own batch."""
    project, name = "metrics-histogram", "checkout.duration"
    standin = start_standin("--projects", project)
    collector = launch_collector(collector_config(sentry_config(standin), batch_timeout="200ms",
                                                  signals=("metrics",)))
    start_ns = time.time_ns()
    steps = ([10, 20, 30, 40], [5, 50], [30, 45])
    recorded, shown = [], []

    def histogram_items():
        kept = standin.records()["projects"][project]["trace_metrics"]
        return [m for m in kept if m.get("name") == name and m.get("type") == "distribution"]

    for values in steps:
        recorded.extend(values)
        before = len(histogram_items())
        post(collector, METRICS_PATH, cumulative_histogram(project, name, [(time.time_ns(), list(recorded))],
                                                           start_ns))
        wait_until(f"the items of {values}", lambda: len(histogram_items()) > before, timeout=30)
        time.sleep(0.5)
        shown.append(distribution_seen(histogram_items()[before:]))

    record = standin.records()["projects"][project]
    assert not record["trace_metric_drops"] and not record["trace_metric_notes"], record
    for values, seen in zip(steps, shown):
        assert round(seen["count"], 6) == len(values), (values, seen)
        assert abs(seen["sum"] - sum(values)) <= 1e-9 * sum(values), (values, seen)
    assert (shown[0]["min"], shown[0]["max"]) == (10, 40), shown[0]
    assert (shown[1]["min"], shown[1]["max"]) == (5, 50), shown[1]
    # Their bucket (25, 50] within the series' [5, 50]: neither bound shown as a value.
    assert 25 <= shown[2]["min"] and shown[2]["max"] < 50, shown[2]
    total = distribution_seen(histogram_items())
    assert round(total["count"], 6) == len(recorded)
    assert abs(total["sum"] - sum(recorded)) <= 0.01 * sum(recorded), total
    assert (total["min"], total["max"]) == (min(recorded), max(recorded)), total
    for item in histogram_items():
        attributes = item.get("attributes", {})
        assert attributes.get("resource.service.name") == {"type": "string", "value": project}, attributes
        assert "service.name" not in attributes, attributes
