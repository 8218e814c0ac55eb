// The Node.js reference of tests/e2e/test_native_parity.py (issue 24): ONE process that runs
// @sentry/node (sending to the `reference` project's DSN, default integrations) beside the
// OpenTelemetry JS SDK (its own BasicTracerProvider and LoggerProvider, never registered
// globally, so @sentry/node's own OpenTelemetry setup and ours do not meet; traces over OTLP/HTTP
// to the collector), and throws each case's error once, so that both SDKs see the same object:
//
// - caught: a PaymentDeclined with a `cause` (a TypeError), caught, recorded on its span with
//   span.recordException and captured with Sentry.captureException;
// - escaped: an async handler rejects inside a SERVER span; the span's instrumentation records
//   the error and rethrows it, as OpenTelemetry's instrumentations do, and nothing catches it:
//   @sentry/node's onUnhandledRejection integration (mode 'warn', so the process lives on)
//   captures it as unhandled. OTel JS writes no exception.escaped (sdk-trace Span.recordException);
// - code: an Error whose `code` is 'ECONNREFUSED', recorded and captured: OTel JS writes the
//   code as exception.type, @sentry/node titles it `Error`.
//
// Every case's error message carries a marker unique to the case and the run. Prints one JSON
// line: per case its marker and whether an issue is expected.
//
//   node index.js --endpoint 127.0.0.1:4318 --dsn http://key@127.0.0.1:9000/2 --service shop

'use strict';

const { randomUUID } = require('node:crypto');
const { parseArgs } = require('node:util');

const Sentry = require('@sentry/node');
const { SpanKind, SpanStatusCode } = require('@opentelemetry/api');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { defaultResource, resourceFromAttributes } = require('@opentelemetry/resources');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');

const EXPORT_TIMEOUT_MS = 3000;

// --- the application's code: each case's error is thrown here ------------------------------

class PaymentDeclined extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'PaymentDeclined';
  }
}

function loadCard(cards, id) {
  return cards[id].number;
}

async function charge(marker) {
  await new Promise((resolve) => setImmediate(resolve));
  try {
    return loadCard({}, 'visa-4242');
  } catch (cause) {
    throw new PaymentDeclined(`card declined ${marker}`, { cause });
  }
}

async function handleOrder(marker) {
  await new Promise((resolve) => setImmediate(resolve));
  const order = { items: [] };
  if (order.items.length === 0) {
    throw new RangeError(`order has no items ${marker}`);
  }
}

function connectDatabase(marker) {
  const error = new Error(`connect ECONNREFUSED 127.0.0.1:5432 ${marker}`);
  error.code = 'ECONNREFUSED';
  error.errno = -111;
  error.syscall = 'connect';
  throw error;
}

// --- the cases ---------------------------------------------------------------------------------

async function main() {
  const { values: args } = parseArgs({
    options: {
      endpoint: { type: 'string' },
      dsn: { type: 'string' },
      service: { type: 'string' },
      version: { type: 'string', default: '1.0.0' },
      environment: { type: 'string', default: 'production' },
    },
  });
  for (const name of ['endpoint', 'dsn', 'service']) {
    if (!args[name]) throw new Error(`--${name} is required`);
  }

  Sentry.init({
    dsn: args.dsn,
    release: args.version,
    environment: args.environment,
    integrations: [Sentry.onUnhandledRejectionIntegration({ mode: 'warn' })],
  });

  const resource = defaultResource().merge(resourceFromAttributes({
    'service.name': args.service,
    'service.version': args.version,
    'deployment.environment.name': args.environment,
  }));
  const tracerProvider = new BasicTracerProvider({
    resource,
    spanProcessors: [
      new BatchSpanProcessor(new OTLPTraceExporter({
        url: `http://${args.endpoint}/v1/traces`, timeoutMillis: EXPORT_TIMEOUT_MS,
      }), { exportTimeoutMillis: EXPORT_TIMEOUT_MS }),
    ],
  });
  const tracer = tracerProvider.getTracer('shop.reference');

  const run = randomUUID().slice(0, 8);
  const cases = {};
  const newCase = (name, issue) => {
    const marker = `m-${name}-${run}`;
    cases[name] = { marker, issue };
    return marker;
  };

  // caught
  let marker = newCase('caught', true);
  let span = tracer.startSpan('POST /checkout', { kind: SpanKind.SERVER });
  try {
    await charge(marker);
  } catch (err) {
    span.recordException(err);
    span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
    Sentry.captureException(err);
  } finally {
    span.end();
  }

  // escaped: recorded by the span's instrumentation, rethrown, caught by nothing.
  marker = newCase('escaped', true);
  const rejected = new Promise((resolve) => {
    process.once('unhandledRejection', (reason) => setImmediate(() => resolve(reason)));
  });
  span = tracer.startSpan('POST /orders', { kind: SpanKind.SERVER });
  const serverSpan = span;
  handleOrder(marker).catch((err) => {
    serverSpan.recordException(err);
    serverSpan.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
    serverSpan.end();
    throw err;
  });
  await rejected;

  // code
  marker = newCase('code', true);
  span = tracer.startSpan('GET /orders', { kind: SpanKind.SERVER });
  try {
    connectDatabase(marker);
  } catch (err) {
    span.recordException(err);
    span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
    Sentry.captureException(err);
  } finally {
    span.end();
  }

  await Sentry.flush(10000);
  await tracerProvider.shutdown();
  process.stdout.write(`${JSON.stringify({ service: args.service, sdk: Sentry.SDK_VERSION, cases })}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
