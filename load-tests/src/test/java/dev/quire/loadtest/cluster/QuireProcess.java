package dev.quire.loadtest.cluster;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A quire process started through the launcher users run ({@code ./quire ...}), with its output in
 * {@code target/cluster-logs/NAME.log}. The launcher {@code exec}s java, so the process is the JVM.
 */
final class QuireProcess implements AutoCloseable {
    /** The repository root: the tests run in load-tests/, the benchmarks from the root (-Dquire.home=.). */
    static final Path ROOT = Path.of(System.getProperty("quire.home", "..")).toAbsolutePath().normalize();
    static final Path LOGS = ROOT.resolve(Path.of("load-tests", "target", "cluster-logs"));

    final String name;
    final Process process;
    final Path log;

    private QuireProcess(String name, Process process, Path log) {
        this.name = name;
        this.process = process;
        this.log = log;
    }

    static QuireProcess start(String name, Map<String, String> env, String... args) throws IOException {
        Files.createDirectories(LOGS);
        Path log = LOGS.resolve(name + ".log");
        List<String> command = new ArrayList<>();
        command.add(ROOT.resolve("quire").toString());
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(ROOT.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().put("QUIRE_NO_BUILD", "1");
        pb.environment().put("QUIRE_JAVA_OPTS", "-Xmx512m -Dai.djl.pytorch.num_threads=1 "
                + "-Dai.djl.pytorch.num_interop_threads=1");
        pb.environment().putAll(env);
        return new QuireProcess(name, pb.start(), log);
    }

    /** A port free now (the process binds it soon after; a clash fails the test loudly, not silently). */
    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    String output() {
        try {
            return Files.readString(log, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /** Waits for a line matching {@code regex} and returns its first group (or the whole match). */
    String awaitLog(String regex, long timeoutSeconds) throws InterruptedException {
        Pattern p = Pattern.compile(regex);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(timeoutSeconds);
        while (System.nanoTime() < deadline) {
            Matcher m = p.matcher(output());
            if (m.find()) {
                return m.groupCount() > 0 ? m.group(1) : m.group();
            }
            if (!process.isAlive()) {
                throw new AssertionError(name + " exited with " + process.exitValue() + " before logging /" + regex
                        + "/:\n" + output());
            }
            Thread.sleep(50);
        }
        throw new AssertionError(name + " did not log /" + regex + "/ within " + timeoutSeconds + " s:\n" + output());
    }

    long pid() {
        return process.pid();
    }

    /** SIGTERM: the process drains and exits. */
    void terminate() {
        process.destroy();
    }

    /** SIGKILL: no goodbye. */
    void kill() {
        process.destroyForcibly();
    }

    boolean awaitExit(long seconds) throws InterruptedException {
        return process.waitFor(seconds, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
