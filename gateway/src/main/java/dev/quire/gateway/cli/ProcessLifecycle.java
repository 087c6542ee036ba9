package dev.quire.gateway.cli;

import java.util.concurrent.CountDownLatch;

/**
 * How a long-running quire process ends: on SIGTERM or SIGINT it runs its drain, then exits with
 * status 0 (1 if the drain failed), so that an orchestrator sees a clean stop rather than the
 * JVM's 143 for a signal.
 */
public final class ProcessLifecycle {
    /** The drain-and-close step of a process. */
    public interface Shutdown {
        void run() throws Exception;
    }

    private ProcessLifecycle() {
    }

    /** Blocks until the JVM is asked to stop, and lets {@code shutdown} finish before it exits. */
    public static void awaitTermination(Shutdown shutdown) throws InterruptedException {
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            int status = 0;
            try {
                shutdown.run();
            } catch (Exception e) {
                System.err.println("quire: error while shutting down: " + e.getMessage());
                status = 1;
            } finally {
                stopped.countDown();
            }
            System.out.flush();
            System.err.flush();
            Runtime.getRuntime().halt(status);
        }, "quire-shutdown"));
        stopped.await();
    }
}
