"""Raises real exceptions with the OpenTelemetry Python SDK and sends them over OTLP: one
recorded on its span by the span's context manager, one logged through the logging bridge
(`logger.exception`) inside another span, and one both recorded on its span and logged in that
span (the exporter must make one Sentry event of it). Prints, as JSON, what it produced: per
exception its kind, type, message, raising function, trace and span id; and the ids of every
span and log record sent."""

import argparse
import json
import logging
import uuid

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

# Seconds each OTLP export may take, retries included: an unreachable collector costs at most
# this per exporter, not the SDK's default of 10 s per batch.
EXPORT_TIMEOUT_S = 3


def exporters(protocol, endpoint):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return (OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=EXPORT_TIMEOUT_S),
                OTLPLogExporter(endpoint=endpoint, insecure=True, timeout=EXPORT_TIMEOUT_S))
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return (OTLPSpanExporter(endpoint=f"http://{endpoint}/v1/traces", timeout=EXPORT_TIMEOUT_S),
            OTLPLogExporter(endpoint=f"http://{endpoint}/v1/logs", timeout=EXPORT_TIMEOUT_S))


def raise_checkout_error():
    cards = {}
    try:
        return cards["card"]
    except KeyError as cause:
        raise ValueError("card declined 1234") from cause


def raise_refund_error():
    raise RuntimeError("refund gateway timeout 5678")


def raise_payout_error():
    raise TimeoutError("payout bank unreachable 9012")


def ids(span):
    context = span.get_span_context()
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True, help="host:port of the collector's OTLP receiver")
    parser.add_argument("--protocol", choices=["grpc", "http"], default="http")
    parser.add_argument("--service", required=True)
    parser.add_argument("--version", required=True, help="service.version")
    parser.add_argument("--environment", required=True, help="deployment.environment.name")
    args = parser.parse_args()

    resource = Resource.create({
        "service.name": args.service,
        "service.version": args.version,
        "deployment.environment.name": args.environment,
        "host.name": "e2e-host",
    })
    span_exporter, log_exporter = exporters(args.protocol, args.endpoint)
    sent = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter, export_timeout_millis=EXPORT_TIMEOUT_S * 1000))
    tracer_provider.add_span_processor(SimpleSpanProcessor(sent))
    tracer = tracer_provider.get_tracer("e2e.exceptions")

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(log_exporter, export_timeout_millis=EXPORT_TIMEOUT_S * 1000))
    logger = logging.getLogger(f"e2e.exceptions.{args.service}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(LoggingHandler(logger_provider=logger_provider))

    produced = []
    log_ids = []

    # (a) Recorded on the span by its context manager (escaped, status ERROR).
    try:
        with tracer.start_as_current_span("checkout") as span:
            checkout = ids(span)
            raise_checkout_error()
    except ValueError:
        pass
    produced.append({"kind": "span", "type": "ValueError", "message": "card declined 1234",
                     "function": "raise_checkout_error", "cause": "KeyError", **checkout})

    # (b) Logged through the logging bridge inside another span, which ends fine.
    with tracer.start_as_current_span("refund") as span:
        refund = ids(span)
        try:
            raise_refund_error()
        except RuntimeError:
            uid = uuid.uuid4().hex
            log_ids.append(uid)
            logger.exception("refund failed", extra={"log.record.uid": uid})
    produced.append({"kind": "log", "type": "RuntimeError", "message": "refund gateway timeout 5678",
                     "function": "raise_refund_error", **refund})

    # (c) Both recorded on the span and logged, in the same span: one Sentry event.
    with tracer.start_as_current_span("payout") as span:
        payout = ids(span)
        try:
            raise_payout_error()
        except TimeoutError as error:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, str(error)))
            uid = uuid.uuid4().hex
            log_ids.append(uid)
            logger.exception("payout failed", extra={"log.record.uid": uid})
    produced.append({"kind": "both", "type": "TimeoutError", "message": "payout bank unreachable 9012",
                     "function": "raise_payout_error", **payout})

    tracer_provider.shutdown()
    logger_provider.shutdown()
    spans = [f"{s.context.trace_id:032x}-{s.context.span_id:016x}" for s in sent.get_finished_spans()]
    print(json.dumps({"service": args.service, "exceptions": produced, "spans": spans, "logs": log_ids}))


if __name__ == "__main__":
    main()
