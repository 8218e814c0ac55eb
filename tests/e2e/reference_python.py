"""The Python reference of the parity test (test_native_parity.py, issue 24): ONE process that
runs sentry-python (sending to the `reference` project's DSN, default integrations: logging,
threading, excepthook...) beside the OpenTelemetry Python SDK (traces and logs over OTLP/HTTP to
the collector, a LoggingHandler on the same logger), and raises each case's exception once, so
that both SDKs see the same exception object:

- `caught`: shop_errors.PaymentDeclined raised from a KeyError, caught, recorded on its span
  (`span.record_exception`) and captured (`sentry_sdk.capture_exception`);
- `logged`: `logger.exception("reserve failed %s", sku)` on logger `shop.inventory` after a
  caught KeyError: the OTel LoggingHandler and sentry-python's logging integration see the
  same log call;
- `escaped`: an exception escaping a SERVER span in a thread that nothing catches: the span's
  own context manager records it with exception.escaped "True", sentry-python's threading
  integration captures it as unhandled;
- `warning`: `logger.warning("retrying %s", ..., exc_info=True)` after a caught exception:
  below sentry-python's event level (ERROR), so no issue;
- `group`: an ExceptionGroup of a ValueError and a TypeError (each raised and caught first),
  caught, recorded on its span and captured.

Every case's exception message (and log arguments) carries a marker unique to the case and the
run. Prints one JSON line: per case its marker and whether an issue is expected."""

import argparse
import json
import logging
import sys
import threading
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import sentry_sdk  # noqa: E402
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler  # noqa: E402
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: E402
from opentelemetry.trace import SpanKind, Status, StatusCode  # noqa: E402

from shop_errors import PaymentDeclined  # noqa: E402

EXPORT_TIMEOUT_S = 3


# --- the application's code: each case's exception is raised here ---------------------------

def charge(card, marker):
    cards = {}
    try:
        return cards[card]
    except KeyError as cause:
        raise PaymentDeclined(f"card declined {marker}") from cause


def reserve(sku):
    stock = {}
    return stock[sku]


def handle_order(marker):
    order = {"items": []}
    if not order["items"]:
        raise RuntimeError(f"order has no items {marker}")


def fetch_quote(marker):
    raise ConnectionError(f"quote service unavailable {marker}")


def parse_row(marker):
    return int(f"row-{marker}")


def coerce_row(marker):
    return "total: " + len(marker)


def import_batch(marker):
    errors = []
    for step in (parse_row, coerce_row):
        try:
            step(marker)
        except (ValueError, TypeError) as error:
            errors.append(error)
    raise ExceptionGroup(f"batch failed {marker}", errors)


# --- the cases ---------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True, help="host:port of the collector's OTLP/HTTP receiver")
    parser.add_argument("--dsn", required=True, help="the reference project's DSN, for sentry-python")
    parser.add_argument("--service", required=True)
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument("--environment", default="production")
    args = parser.parse_args()

    sentry_sdk.init(
        dsn=args.dsn,
        release=args.version,
        environment=args.environment,
        # The application's code is this directory, as it would be the project's root.
        project_root=str(Path(__file__).parent),
    )

    resource = Resource.create({
        "service.name": args.service,
        "service.version": args.version,
        "deployment.environment.name": args.environment,
    })
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"http://{args.endpoint}/v1/traces", timeout=EXPORT_TIMEOUT_S),
        export_timeout_millis=EXPORT_TIMEOUT_S * 1000))
    tracer = tracer_provider.get_tracer("shop.reference")
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(
        OTLPLogExporter(endpoint=f"http://{args.endpoint}/v1/logs", timeout=EXPORT_TIMEOUT_S),
        export_timeout_millis=EXPORT_TIMEOUT_S * 1000))
    logger = logging.getLogger("shop.inventory")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(LoggingHandler(level=logging.INFO, logger_provider=logger_provider))

    run = uuid.uuid4().hex[:8]
    cases = {}

    def case(name, issue):
        marker = f"m-{name}-{run}"
        cases[name] = {"marker": marker, "issue": issue}
        return marker

    # caught
    marker = case("caught", True)
    with tracer.start_as_current_span("POST /checkout") as span:
        try:
            charge("visa-4242", marker)
        except PaymentDeclined as error:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error)))
            sentry_sdk.capture_exception(error)

    # logged
    marker = case("logged", True)
    with tracer.start_as_current_span("GET /inventory"):
        sku = f"sku-42-{marker}"
        try:
            reserve(sku)
        except KeyError:
            logger.exception("reserve failed %s", sku)

    # escaped: nothing catches it; the thread dies of it.
    marker = case("escaped", True)

    def serve():
        # The span itself as the context manager: its __exit__ records the exception with
        # exception.escaped "True". (`start_as_current_span` would record the same escape
        # through the API's `use_span`, which calls record_exception without `escaped`, so it
        # writes "False": OTel Python 1.45, opentelemetry/trace/__init__.py.)
        with tracer.start_span("POST /orders", kind=SpanKind.SERVER):
            handle_order(marker)

    worker = threading.Thread(target=serve, name="order-worker")
    worker.start()
    worker.join()

    # warning
    marker = case("warning", False)
    with tracer.start_as_current_span("GET /quote"):
        try:
            fetch_quote(marker)
        except ConnectionError:
            # The uid names the record in the stand-in (its log id), to check it still arrives.
            logger.warning("retrying %s", marker, exc_info=True, extra={"log.record.uid": marker})

    # group
    marker = case("group", True)
    with tracer.start_as_current_span("POST /import") as span:
        try:
            import_batch(marker)
        except ExceptionGroup as group:
            span.record_exception(group)
            span.set_status(Status(StatusCode.ERROR, str(group)))
            sentry_sdk.capture_exception(group)

    sentry_sdk.flush(timeout=10)
    tracer_provider.shutdown()
    logger_provider.shutdown()
    print(json.dumps({"service": args.service, "sdk": sentry_sdk.VERSION, "cases": cases}))


if __name__ == "__main__":
    main()
