package shop;

/** The app's own exception: its Sentry type is `PaymentDeclinedException`, its module `shop`. */
public class PaymentDeclinedException extends RuntimeException {
  public PaymentDeclinedException(String message, Throwable cause) {
    super(message, cause);
  }
}
