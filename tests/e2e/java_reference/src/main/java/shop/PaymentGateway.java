package shop;

import java.io.IOException;

/** The outside world of the `caught` case: the gateway's connection fails. */
class PaymentGateway {
  void send(String order, String marker) throws IOException {
    throw new IOException("connection reset by payment gateway [" + marker + "]");
  }
}
