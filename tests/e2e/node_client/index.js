// Throws real errors with the OpenTelemetry JS SDK and sends them over OTLP/HTTP: one thrown in
// an async function inside a span, recorded with span.recordException and status ERROR; another
// emitted as a log record through the Logs Bridge API (exception.type, exception.message,
// exception.stacktrace) inside another span. Prints, as JSON, what it produced, as
// tests/e2e/exceptions_client.py does.
//
//   node index.js --endpoint 127.0.0.1:4318 --service web --version 2.0.1 --environment staging

'use strict';

const { randomUUID } = require('node:crypto');
const { parseArgs } = require('node:util');

const { context, trace, SpanStatusCode } = require('@opentelemetry/api');
const { SeverityNumber } = require('@opentelemetry/api-logs');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-http');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { defaultResource, resourceFromAttributes } = require('@opentelemetry/resources');
const { BatchLogRecordProcessor, LoggerProvider } = require('@opentelemetry/sdk-logs');
const {
  BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor,
} = require('@opentelemetry/sdk-trace-base');

// Milliseconds each OTLP export may take: an unreachable collector costs at most this.
const EXPORT_TIMEOUT_MS = 3000;

class PaymentError extends Error {
  constructor(message) {
    super(message);
    this.name = 'PaymentError';
  }
}

async function chargeCard(amount) {
  await new Promise((resolve) => setImmediate(resolve));
  throw new PaymentError(`card declined ${amount}`);
}

async function refundOrder() {
  await new Promise((resolve) => setImmediate(resolve));
  throw new TypeError('refund amount missing 8765');
}

function ids(span) {
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

async function main() {
  const { values: args } = parseArgs({
    options: {
      endpoint: { type: 'string' },
      service: { type: 'string' },
      version: { type: 'string' },
      environment: { type: 'string' },
    },
  });
  for (const name of ['endpoint', 'service', 'version', 'environment']) {
    if (!args[name]) throw new Error(`--${name} is required`);
  }

  // defaultResource() brings telemetry.sdk.language (nodejs), name and version.
  const resource = defaultResource().merge(resourceFromAttributes({
    'service.name': args.service,
    'service.version': args.version,
    'deployment.environment.name': args.environment,
    'host.name': 'e2e-host',
  }));
  const sent = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    resource,
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({
        url: `http://${args.endpoint}/v1/traces`, timeoutMillis: EXPORT_TIMEOUT_MS,
      }), { exportTimeoutMillis: EXPORT_TIMEOUT_MS }),
      new SimpleSpanProcessor(sent),
    ],
  });
  const loggerProvider = new LoggerProvider({
    resource,
    processors: [
      // sdk-logs 0.2xx takes one options object, the exporter in it.
      new BatchLogRecordProcessor({
        exporter: new OTLPLogExporter({
          url: `http://${args.endpoint}/v1/logs`, timeoutMillis: EXPORT_TIMEOUT_MS,
        }),
        exportTimeoutMillis: EXPORT_TIMEOUT_MS,
      }),
    ],
  });
  const tracer = tracerProvider.getTracer('e2e.node');
  const logger = loggerProvider.getLogger('e2e.node');
  const produced = [];
  const logIds = [];

  // A real error thrown in an async function, recorded on its span, status ERROR.
  const charge = tracer.startSpan('charge');
  try {
    await chargeCard(4321);
  } catch (err) {
    charge.recordException(err);
    charge.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
    produced.push({
      kind: 'span', type: err.name, message: err.message, function: 'chargeCard', ...ids(charge),
    });
  } finally {
    charge.end();
  }

  // Another error, emitted as a log record through the Logs Bridge API inside its span.
  const refund = tracer.startSpan('refund');
  try {
    await refundOrder();
  } catch (err) {
    const uid = randomUUID().replace(/-/g, '');
    logIds.push(uid);
    logger.emit({
      severityNumber: SeverityNumber.ERROR,
      severityText: 'ERROR',
      body: 'refund failed',
      context: trace.setSpan(context.active(), refund),
      attributes: {
        'exception.type': err.name,
        'exception.message': err.message,
        'exception.stacktrace': err.stack,
        'log.record.uid': uid,
      },
    });
    produced.push({
      kind: 'log', type: err.name, message: err.message, function: 'refundOrder', ...ids(refund),
    });
  } finally {
    refund.end();
  }

  // Read before shutdown, which empties the in-memory exporter.
  const spans = sent.getFinishedSpans().map((s) => `${s.spanContext().traceId}-${s.spanContext().spanId}`);
  const failures = [];
  for (const provider of [tracerProvider, loggerProvider]) {
    try {
      await provider.shutdown();
    } catch (err) {
      failures.push(err);
    }
  }
  process.stdout.write(`${JSON.stringify({
    service: args.service, exceptions: produced, spans, logs: logIds,
  })}\n`);
  if (failures.length) {
    // Printed what it produced; the exit code says the export failed.
    throw failures[0];
  }
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
