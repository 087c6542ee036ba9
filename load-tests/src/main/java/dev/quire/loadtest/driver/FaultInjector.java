package dev.quire.loadtest.driver;

import io.vertx.core.Vertx;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Injects a fault at a set time into the measured run: SIGKILLs the process whose pid is in a file (a
 * worker), and/or runs a shell command (any other fault: stop a container, drop a network link). The report
 * then shows what the clients saw: failed, truncated and duplicated-token requests.
 */
public final class FaultInjector {
    /**
     * @param at      when, after measuring starts
     * @param pidFile file holding the pid to SIGKILL, or null
     * @param command shell command to run ({@code sh -c}), or null
     */
    public record Plan(Duration at, Path pidFile, String command) {
        public Plan {
            if (at == null || at.isNegative()) {
                throw new IllegalArgumentException("the fault time must be >= 0");
            }
            if (pidFile == null && (command == null || command.isBlank())) {
                throw new IllegalArgumentException("--kill-worker-at needs --worker-pid-file or --fault-command");
            }
        }
    }

    /**
     * One injected fault.
     *
     * @param atSeconds seconds after measuring began
     * @param action    what was done, e.g. {@code kill -9 12345} or {@code sh -c '...'}
     * @param ok        whether it worked (the process died, the command exited 0)
     * @param detail    the outcome in words
     * @param firedNanos {@link System#nanoTime()} when it was fired (0 when unknown)
     */
    public record Event(double atSeconds, String action, boolean ok, String detail, long firedNanos) {
        public Event(double atSeconds, String action, boolean ok, String detail) {
            this(atSeconds, action, ok, detail, 0);
        }
    }

    private final Plan plan;
    private final List<Event> events = new ArrayList<>();
    private boolean armed;

    public FaultInjector(Plan plan) {
        this.plan = plan;
    }

    public Plan plan() {
        return plan;
    }

    /** Schedules the fault once, relative to {@code startNanos}; later calls do nothing. */
    public synchronized void arm(Vertx vertx, long startNanos) {
        if (armed) {
            return;
        }
        armed = true;
        long delayMs = Math.max(1, plan.at().toMillis());
        // Reading files, killing and running commands block: off the event loop.
        vertx.setTimer(delayMs, id -> vertx.executeBlocking(() -> {
            fire(startNanos);
            return null;
        }, false));
    }

    /** The faults injected so far. */
    public synchronized List<Event> events() {
        return List.copyOf(events);
    }

    void fire(long startNanos) {
        if (plan.pidFile() != null) {
            long fired = System.nanoTime();
            record(startNanos, fired, killFromPidFile(plan.pidFile()));
        }
        if (plan.command() != null && !plan.command().isBlank()) {
            long fired = System.nanoTime();
            record(startNanos, fired, runCommand(plan.command()));
        }
    }

    private synchronized void record(long startNanos, long firedNanos, Event partial) {
        events.add(new Event((firedNanos - startNanos) / 1e9, partial.action(), partial.ok(), partial.detail(),
                firedNanos));
    }

    static Event killFromPidFile(Path file) {
        long pid;
        try {
            pid = Long.parseLong(Files.readString(file).trim());
        } catch (IOException e) {
            return new Event(0, "kill -9 (pid from " + file + ")", false, "cannot read the pid file: " + e.getMessage());
        } catch (NumberFormatException e) {
            return new Event(0, "kill -9 (pid from " + file + ")", false, "the pid file does not hold a number");
        }
        String action = "kill -9 " + pid;
        Optional<ProcessHandle> process = ProcessHandle.of(pid);
        if (process.isEmpty() || !process.get().isAlive()) {
            return new Event(0, action, false, "no live process with pid " + pid);
        }
        // destroyForcibly is SIGKILL on Unix: the worker gets no chance to drain.
        if (!process.get().destroyForcibly()) {
            return new Event(0, action, false, "the kill was refused (permissions?)");
        }
        try {
            process.get().onExit().get(10, TimeUnit.SECONDS);
            return new Event(0, action, true, "process " + pid + " killed");
        } catch (Exception e) {
            return new Event(0, action, false, "process " + pid + " still alive 10 s after SIGKILL");
        }
    }

    static Event runCommand(String command) {
        String action = "sh -c '" + command + "'";
        try {
            Process p = new ProcessBuilder("/bin/sh", "-c", command).redirectErrorStream(true).start();
            String output;
            try (InputStream in = p.getInputStream()) {
                output = new String(in.readNBytes(4096), StandardCharsets.UTF_8).strip();
            }
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Event(0, action, false, "still running after 60 s; killed");
            }
            String first = output.lines().findFirst().orElse("");
            return new Event(0, action, p.exitValue() == 0, "exit " + p.exitValue() + (first.isEmpty() ? "" : ": " + first));
        } catch (IOException e) {
            return new Event(0, action, false, "cannot run: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Event(0, action, false, "interrupted");
        }
    }
}
