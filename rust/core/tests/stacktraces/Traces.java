// Prints real JVM stack traces for tests/stacktraces.rs: one section per case, each after a
// `=== name` line. Not run by Java's own tests; `java Traces.java` compiles and runs it.
public class Traces {
    static int parsePort(String text) {
        return Integer.parseInt(text);
    }

    static int loadConfig(String text) {
        try {
            return parsePort(text);
        } catch (NumberFormatException e) {
            throw new IllegalStateException("config broken:\nport is not a number", e);
        }
    }

    static void start() {
        try {
            loadConfig("80x");
        } catch (IllegalStateException e) {
            RuntimeException failed = new RuntimeException("startup failed", e);
            failed.addSuppressed(new Exception("cleanup failed"));
            throw failed;
        }
    }

    static void recurse(int depth) {
        if (depth == 0) {
            throw new IllegalArgumentException("too deep");
        }
        recurse(depth - 1);
    }

    public static void main(String[] args) {
        System.out.println("=== chain");
        try {
            start();
        } catch (RuntimeException e) {
            e.printStackTrace(System.out);
        }
        System.out.println("=== deep");
        try {
            recurse(300);
        } catch (IllegalArgumentException e) {
            e.printStackTrace(System.out);
        }
    }
}
