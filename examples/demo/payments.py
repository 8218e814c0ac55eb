"""A small payments service instrumented with the OpenTelemetry Python SDK, the sample service
of `make demo`. It charges a few orders: each order makes a server span with a child span, a
log record and metric points; one card is declined, an exception recorded on its span, which
the sentry exporter turns into a Sentry issue. It sends everything over OTLP/HTTP to
$OTEL_EXPORTER_OTLP_ENDPOINT (the SDK's default: http://localhost:4318, `make run`'s
collector), then exits.

  .venv/bin/python examples/demo/payments.py
"""

import logging
import time

from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

# The sentry exporter routes by service.name: this service's data goes to the project `payments`.
RESOURCE = Resource.create({
    "service.name": "payments",
    "service.version": "1.4.2",
    "deployment.environment.name": "demo",
})
# Order id and amount in cents.
ORDERS = [("order-1", 1250), ("order-2", 4999), ("order-3", 120000), ("order-4", 780), ("order-5", 2300)]
# Above it the bank declines the card.
CARD_LIMIT_CENTS = 100000


class CardDeclined(Exception):
    pass


class Payments:
    def __init__(self, tracer_provider, meter_provider, logger_provider):
        self.tracer = tracer_provider.get_tracer("payments")
        meter = meter_provider.get_meter("payments")
        self.charges = meter.create_counter("payments.charges", unit="{charge}")
        self.duration = meter.create_histogram("payments.checkout.duration", unit="ms")
        self.log = logging.getLogger("payments")
        self.log.setLevel(logging.INFO)
        self.log.addHandler(LoggingHandler(logger_provider=logger_provider))

    def checkout(self, order, cents):
        started = time.monotonic()
        with self.tracer.start_as_current_span("POST /checkout", kind=SpanKind.SERVER,
                                               attributes={"order.id": order}) as span:
            try:
                self.charge(order, cents)
                outcome = "paid"
                self.log.info("order %s paid: %d cents", order, cents)
            except CardDeclined:
                # Already recorded on the `charge card` span, where it was raised: the one issue.
                outcome = "declined"
                span.set_status(Status(StatusCode.ERROR, "card declined"))
                self.log.warning("order %s declined", order)
        self.charges.add(1, {"outcome": outcome})
        self.duration.record((time.monotonic() - started) * 1000, {"outcome": outcome})

    def charge(self, order, cents):
        # The span's context manager records an exception that leaves it as an `exception` event.
        with self.tracer.start_as_current_span("charge card", kind=SpanKind.CLIENT,
                                               attributes={"payment.amount_cents": cents}):
            time.sleep(0.01)  # the bank's answer
            if cents > CARD_LIMIT_CENTS:
                raise CardDeclined(f"card declined for {order}: over the limit")


def main():
    tracer_provider = TracerProvider(resource=RESOURCE)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    # Metrics go out when the provider shuts down (and every minute before, in a longer run).
    meter_provider = MeterProvider(resource=RESOURCE,
                                   metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
    logger_provider = LoggerProvider(resource=RESOURCE)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))

    payments = Payments(tracer_provider, meter_provider, logger_provider)
    for order, cents in ORDERS:
        payments.checkout(order, cents)

    # Shutting down sends what each provider still holds.
    for provider in (tracer_provider, logger_provider, meter_provider):
        provider.shutdown()


if __name__ == "__main__":
    main()
