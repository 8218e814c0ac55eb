package shop;

import java.io.IOException;
import java.net.SocketTimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** `logged` and `warning`: exceptions caught and logged through slf4j/logback. */
class Inventory {
  private static final Logger log = LoggerFactory.getLogger(Inventory.class);

  void reserve(String sku, String marker) {
    try {
      lock(sku, marker);
    } catch (IllegalStateException e) {
      log.error("could not reserve {}", sku, e);
    }
  }

  private void lock(String sku, String marker) {
    try {
      waitForLock(sku, marker);
    } catch (SocketTimeoutException e) {
      throw new IllegalStateException("stock of " + sku + " is locked [" + marker + "]", e);
    }
  }

  private void waitForLock(String sku, String marker) throws SocketTimeoutException {
    throw new SocketTimeoutException("lock wait timed out [" + marker + "]");
  }

  void sync(String marker) {
    try {
      fetchStock(marker);
    } catch (IOException e) {
      // The uid names the record in the stand-in (its log id), so the test sees it arrive.
      log.atWarn().setMessage("inventory sync failed, retrying").addKeyValue("log.record.uid", marker)
          .setCause(e).log();
    }
  }

  private void fetchStock(String marker) throws IOException {
    throw new IOException("stock service unavailable [" + marker + "]");
  }
}
