"""Sends spans and log records with the OpenTelemetry Python SDK over OTLP
(gRPC or HTTP) and prints, as JSON, the ids of what it sent."""

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


def exporters(protocol, endpoint):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint, insecure=True), OTLPLogExporter(endpoint=endpoint, insecure=True)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return (
        OTLPSpanExporter(endpoint=f"http://{endpoint}/v1/traces"),
        OTLPLogExporter(endpoint=f"http://{endpoint}/v1/logs"),
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--protocol", choices=["grpc", "http"], required=True)
    parser.add_argument("--endpoint", required=True, help="host:port of the collector's OTLP receiver")
    parser.add_argument("--service", required=True, help='"" sends resources without service.name')
    parser.add_argument("--spans", type=int, default=0)
    parser.add_argument("--logs", type=int, default=0)
    args = parser.parse_args()

    # Resource.create would add a default service.name; an empty --service means none at all.
    resource = Resource.create({"service.name": args.service}) if args.service else Resource({})
    span_exporter, log_exporter = exporters(args.protocol, args.endpoint)

    sent = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter, max_export_batch_size=64))
    tracer_provider.add_span_processor(SimpleSpanProcessor(sent))
    tracer = tracer_provider.get_tracer("e2e")
    for i in range(args.spans):
        with tracer.start_as_current_span(f"op-{i}"):
            pass

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter, max_export_batch_size=64))
    logger = logging.getLogger(f"e2e.{args.service}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(LoggingHandler(logger_provider=logger_provider))
    log_ids = []
    for i in range(args.logs):
        uid = uuid.uuid4().hex
        log_ids.append(uid)
        logger.info("record %d", i, extra={"log.record.uid": uid})

    tracer_provider.shutdown()
    logger_provider.shutdown()
    span_ids = [
        f"{s.context.trace_id:032x}-{s.context.span_id:016x}" for s in sent.get_finished_spans()
    ]
    print(json.dumps({"spans": span_ids, "logs": log_ids}))


if __name__ == "__main__":
    main()
