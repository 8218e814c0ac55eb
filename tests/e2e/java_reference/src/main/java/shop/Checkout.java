package shop;

import io.opentelemetry.context.Context;
import java.io.IOException;

/** `caught`: an app exception with a cause, thrown a few calls deep; the charge runs through a
 * third-party frame (OpenTelemetry's Context.wrap), as app code runs under a framework's. */
class Checkout {
  private final PaymentGateway gateway = new PaymentGateway();

  void placeOrder(String order, String marker) throws Exception {
    Context.current().wrap(() -> charge(order, marker)).call();
  }

  private Void charge(String order, String marker) {
    try {
      gateway.send(order, marker);
    } catch (IOException e) {
      throw new PaymentDeclinedException("payment declined for order " + order + " [" + marker + "]", e);
    }
    return null;
  }
}
