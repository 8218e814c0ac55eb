"""Records metrics with the OpenTelemetry Python SDK and sends them over OTLP/HTTP every second,
with cumulative or delta temporality: a counter incremented by 5 and, after at least two
exports, by 7; a histogram recording 10, 20, 30 and 40; a gauge set to 7. Keeps exporting for a
while after each step, then shuts down (one last export). Prints, as JSON, the names and what
their items must add up to in Sentry."""

import argparse
import json
import time

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

EXPORT_INTERVAL_MS = 1000
EXPORT_TIMEOUT_S = 3
COUNTER_STEPS = (5, 7)
HISTOGRAM_VALUES = (10, 20, 30, 40)
GAUGE_VALUE = 7


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True, help="host:port of the collector's OTLP/HTTP receiver")
    parser.add_argument("--service", required=True)
    parser.add_argument("--temporality", choices=["cumulative", "delta"], required=True,
                        help="of the counter and the histogram (the SDK's default is cumulative)")
    parser.add_argument("--step-seconds", type=float, default=2.5,
                        help="how long to keep exporting after each counter step (at least two exports)")
    args = parser.parse_args()

    preferred = {}
    if args.temporality == "delta":
        preferred = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}
    exporter = OTLPMetricExporter(endpoint=f"http://{args.endpoint}/v1/metrics", timeout=EXPORT_TIMEOUT_S,
                                  preferred_temporality=preferred)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=EXPORT_INTERVAL_MS)
    provider = MeterProvider(resource=Resource.create({"service.name": args.service}), metric_readers=[reader])
    meter = provider.get_meter("e2e.metrics")

    counter = meter.create_counter("orders.placed", unit="{order}")
    histogram = meter.create_histogram("checkout.duration", unit="ms")
    gauge = meter.create_gauge("queue.depth", unit="{job}")

    for value in HISTOGRAM_VALUES:
        histogram.record(value)
    gauge.set(GAUGE_VALUE)
    for step in COUNTER_STEPS:
        counter.add(step)
        time.sleep(args.step_seconds)
    provider.shutdown()

    print(json.dumps({
        "service": args.service,
        "counter": {"name": "orders.placed", "total": sum(COUNTER_STEPS)},
        "histogram": {"name": "checkout.duration", "count": len(HISTOGRAM_VALUES), "sum": sum(HISTOGRAM_VALUES),
                      "min": min(HISTOGRAM_VALUES), "max": max(HISTOGRAM_VALUES)},
        "gauge": {"name": "queue.depth", "value": GAUGE_VALUE},
    }))


if __name__ == "__main__":
    main()
