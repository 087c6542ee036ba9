package dev.quire.server.cli;

import java.util.concurrent.CountDownLatch;

/** How a long-running quire process ends: on SIGTERM or SIGINT it runs its drain, then exits. */
final class ProcessLifecycle {
    /** The drain-and-close step of a process. */
    interface Shutdown {
        void run() throws Exception;
    }

    private ProcessLifecycle() {
    }

    /** Blocks until the JVM is asked to stop, and lets {@code shutdown} finish before it exits. */
    static void awaitTermination(Shutdown shutdown) throws InterruptedException {
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                shutdown.run();
            } catch (Exception e) {
                System.err.println("quire: error while shutting down: " + e.getMessage());
            } finally {
                stopped.countDown();
            }
        }, "quire-shutdown"));
        stopped.await();
    }
}
