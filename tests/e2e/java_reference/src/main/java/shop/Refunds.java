package shop;

import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Scope;

/** `escaped`: a request handler whose exception nothing catches. Its SERVER span records the
 * exception and ends with status ERROR as it propagates, as server instrumentation does. */
class Refunds {
  private final Tracer tracer;
  /** The request's span, for the client's output. */
  volatile Span span;

  Refunds(Tracer tracer) {
    this.tracer = tracer;
  }

  void handle(String order, String marker) {
    Span span = tracer.spanBuilder("POST /refunds").setSpanKind(SpanKind.SERVER).startSpan();
    this.span = span;
    try (Scope ignored = span.makeCurrent()) {
      refund(order, marker);
    } catch (RuntimeException e) {
      span.recordException(e);
      span.setStatus(StatusCode.ERROR);
      throw e;
    } finally {
      span.end();
    }
  }

  private void refund(String order, String marker) {
    checkRefundable(order, marker);
  }

  private void checkRefundable(String order, String marker) {
    throw new UnsupportedOperationException("order " + order + " cannot be refunded [" + marker + "]");
  }
}
