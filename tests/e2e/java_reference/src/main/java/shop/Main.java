package shop;

import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Scope;
import io.opentelemetry.exporter.otlp.http.logs.OtlpHttpLogRecordExporter;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.instrumentation.logback.appender.v1_0.OpenTelemetryAppender;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.logs.SdkLoggerProvider;
import io.opentelemetry.sdk.logs.export.BatchLogRecordProcessor;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.sentry.Sentry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * The Java reference client of tests/e2e/test_native_parity_java.py: one JVM with sentry-java
 * and the OpenTelemetry Java SDK, each case raising one exception (one Throwable object) that both
 * SDKs see. sentry-java sends its events to the reference project's DSN; OpenTelemetry sends
 * traces and logs over OTLP/HTTP to the collector. Each exception's message carries a marker of
 * its case, so the test pairs our exporter's event with sentry-java's.
 *
 * <p>Usage: --dsn DSN --endpoint HOST:PORT --service NAME. Prints one JSON line:
 * {"sdk": sentry-java's version, "service": ..., "cases": {NAME: {"marker", "issue", "type",
 * "trace_id", "span_id"}, ...}}.
 */
public final class Main {
  static final String RELEASE = "1.0.0";
  static final String ENVIRONMENT = "test";

  public static void main(String[] args) throws Exception {
    Map<String, String> options = parse(args);
    String run = UUID.randomUUID().toString().substring(0, 8);

    // As a Spring Boot app has it: in-app is the application's package.
    Sentry.init(o -> {
      o.setDsn(options.get("dsn"));
      o.addInAppInclude("shop");
      o.setRelease(RELEASE);
      o.setEnvironment(ENVIRONMENT);
    });
    OpenTelemetrySdk otel = openTelemetry(options.get("endpoint"), options.get("service"));
    // Configures logback (logback.xml) and hands the OpenTelemetry appender its SDK; Sentry is
    // already initialized, so sentry-logback's appender uses it.
    OpenTelemetryAppender.install(otel);
    Tracer tracer = otel.getTracer("shop");

    List<String> cases = new ArrayList<>();
    cases.add(caught(tracer, "caught-" + run));
    cases.add(logged(tracer, "logged-" + run));
    cases.add(escaped(tracer, "escaped-" + run));
    cases.add(warning("warning-" + run));

    Sentry.flush(10_000);
    otel.shutdown().join(10, TimeUnit.SECONDS);
    Sentry.close();
    System.out.println("{\"sdk\": " + json(io.sentry.BuildConfig.VERSION_NAME)
        + ", \"service\": " + json(options.get("service")) + ", \"cases\": {"
        + String.join(", ", cases) + "}}");
  }

  /** An app exception with a cause, caught: recorded on its span, captured by Sentry. */
  static String caught(Tracer tracer, String marker) throws Exception {
    Span server = tracer.spanBuilder("POST /checkout").setSpanKind(SpanKind.SERVER).startSpan();
    Span charge;
    try (Scope ignored = server.makeCurrent()) {
      charge = tracer.spanBuilder("charge card").startSpan();
      try (Scope alsoIgnored = charge.makeCurrent()) {
        new Checkout().placeOrder("o-1001", marker);
      } catch (PaymentDeclinedException e) {
        charge.recordException(e);
        charge.setStatus(StatusCode.ERROR, e.getMessage());
        Sentry.captureException(e);
      } finally {
        charge.end();
      }
    } finally {
      server.end();
    }
    return result("caught", marker, true, PaymentDeclinedException.class, charge);
  }

  /** An error log with the exception, inside a server span: both logback appenders see it. */
  static String logged(Tracer tracer, String marker) {
    Span server = tracer.spanBuilder("POST /reserve").setSpanKind(SpanKind.SERVER).startSpan();
    try (Scope ignored = server.makeCurrent()) {
      new Inventory().reserve("sku-42", marker);
    } finally {
      server.end();
    }
    return result("logged", marker, true, IllegalStateException.class, server);
  }

  /** An exception escaping a server span on its own thread: nothing catches it, so sentry-java's
   * UncaughtExceptionHandlerIntegration captures it (handled false). */
  static String escaped(Tracer tracer, String marker) throws InterruptedException {
    Refunds refunds = new Refunds(tracer);
    Thread worker = new Thread(() -> refunds.handle("o-1002", marker), "http-worker-1");
    worker.start();
    worker.join(30_000);
    if (worker.isAlive()) {
      throw new IllegalStateException("the escaped case's thread did not end");
    }
    return result("escaped", marker, true, UnsupportedOperationException.class, refunds.span);
  }

  /** A WARN log with an exception: below sentry-logback's minimumEventLevel (ERROR), no issue. */
  static String warning(String marker) {
    new Inventory().sync(marker);
    return result("warning", marker, false, java.io.IOException.class, null);
  }

  static OpenTelemetrySdk openTelemetry(String endpoint, String service) {
    String base = endpoint.contains("://") ? endpoint : "http://" + endpoint;
    Resource resource = Resource.getDefault().merge(Resource.create(Attributes.builder()
        .put("service.name", service)
        .put("service.version", RELEASE)
        .put("deployment.environment.name", ENVIRONMENT)
        .build()));
    SdkTracerProvider tracing = SdkTracerProvider.builder()
        .setResource(resource)
        .addSpanProcessor(BatchSpanProcessor.builder(
            OtlpHttpSpanExporter.builder().setEndpoint(base + "/v1/traces").build()).build())
        .build();
    SdkLoggerProvider logging = SdkLoggerProvider.builder()
        .setResource(resource)
        .addLogRecordProcessor(BatchLogRecordProcessor.builder(
            OtlpHttpLogRecordExporter.builder().setEndpoint(base + "/v1/logs").build()).build())
        .build();
    return OpenTelemetrySdk.builder().setTracerProvider(tracing).setLoggerProvider(logging).build();
  }

  static String result(String name, String marker, boolean issue, Class<?> type, Span span) {
    String ids = span == null ? ""
        : ", \"trace_id\": " + json(span.getSpanContext().getTraceId())
            + ", \"span_id\": " + json(span.getSpanContext().getSpanId());
    return json(name) + ": {\"marker\": " + json(marker) + ", \"issue\": " + issue
        + ", \"type\": " + json(type.getName()) + ids + "}";
  }

  static Map<String, String> parse(String[] args) {
    Map<String, String> options = new HashMap<>();
    for (int i = 0; i + 1 < args.length; i += 2) {
      if (!args[i].startsWith("--")) {
        throw new IllegalArgumentException("unexpected argument " + args[i]);
      }
      options.put(args[i].substring(2), args[i + 1]);
    }
    for (String required : new String[] {"dsn", "endpoint", "service"}) {
      if (!options.containsKey(required)) {
        throw new IllegalArgumentException("--" + required + " is required");
      }
    }
    return options;
  }

  static String json(String s) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        default -> {
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.append('"').toString();
  }
}
