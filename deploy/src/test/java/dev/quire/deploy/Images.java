package dev.quire.deploy;

import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;
import org.testcontainers.DockerClientFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The images under test, built once per test JVM by {@code deploy/build-images.sh} (what users
 * run) from the jars this build packaged, on the base image named by QUIRE_BASE_IMAGE; without
 * it, on the CI's local base ({@value #LOCAL_BASE}) when present, else on the Dockerfile's default.
 * Where Docker cannot run the tests are skipped with one line saying why, unless
 * {@code -Dquire.requireDocker=true} (set in CI), where that is a failure.
 */
final class Images {
    static final Path ROOT = Path.of(System.getProperty("quire.home", "..")).toAbsolutePath().normalize();
    static final Path LOGS = ROOT.resolve(Path.of("deploy", "target", "container-logs"));
    static final String LOCAL_BASE = "quire/base-jre17:local";
    static final String DEFAULT_BASE = "eclipse-temurin:17-jre";
    static final String TAG = "it";
    static final String GATEWAY = "quire/gateway:" + TAG;
    static final String WORKER = "quire/worker:" + TAG;
    static final String DEMO = "quire/demo:" + TAG;

    private static boolean built;

    private Images() {
    }

    /** Builds the images the first time it is called; skips or fails (see above) where it cannot. */
    static synchronized void build() throws IOException, InterruptedException {
        if (built) {
            return;
        }
        if (!DockerClientFactory.instance().isDockerAvailable()) {
            unavailable("no Docker daemon answers (see Testcontainers' log above)");
        }
        int version = run(30, "docker", "version");
        if (version != 0) {
            unavailable(version == -1 ? "the docker command line is not installed"
                    : "`docker version` cannot reach the daemon");
        }
        String base = System.getenv("QUIRE_BASE_IMAGE");
        if (base == null || base.isBlank()) {
            base = run(30, "docker", "image", "inspect", LOCAL_BASE) == 0 ? LOCAL_BASE : DEFAULT_BASE;
        }
        if (run(30, "docker", "image", "inspect", base) != 0 && run(300, "docker", "pull", base) != 0) {
            unavailable("the base image " + base + " is neither present nor pullable (set QUIRE_BASE_IMAGE)");
        }
        Files.createDirectories(LOGS);
        try (var old = Files.list(LOGS)) { // each run's container logs start empty
            for (Path f : old.toList()) {
                Files.delete(f);
            }
        }
        Path log = LOGS.resolve("build-images.log");
        ProcessBuilder pb = new ProcessBuilder(ROOT.resolve("deploy/build-images.sh").toString(), "--base-image", base,
                "--tag", TAG, "gateway", "worker", "demo").directory(ROOT.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().put("QUIRE_NO_BUILD", "1"); // this build packaged the jars already
        long start = System.nanoTime();
        Process p = pb.start();
        if (!p.waitFor(20, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            Assertions.fail("building the images took over 20 minutes; see " + log);
        }
        String output = Files.readString(log);
        Assertions.assertEquals(0, p.exitValue(), () -> "deploy/build-images.sh failed:\n" + tail(output));
        System.out.printf("images built on %s in %.0f s%n", base, (System.nanoTime() - start) / 1e9);
        built = true;
    }

    private static void unavailable(String why) {
        String message = "Container tests cannot run: " + why;
        if (Boolean.getBoolean("quire.requireDocker")) {
            Assertions.fail(message + " (and -Dquire.requireDocker=true: CI must run them)");
        }
        System.out.println(message + "; skipped");
        Assumptions.abort(message);
    }

    /** Runs a command quietly; its exit status, -1 when it is not installed, -2 when it did not end in time. */
    static int run(long timeoutSeconds, String... command) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
        } catch (IOException e) {
            return -1; // not installed
        }
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return -2;
        }
        return p.exitValue();
    }

    static String tail(String text) {
        List<String> lines = new ArrayList<>(text.lines().toList());
        return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
    }
}
