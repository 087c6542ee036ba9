package dev.quire.loadtest.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quire.loadtest.soak.SoakLoad;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The soak test through the launcher: {@code ./quire serve}, then {@code ./quire soak} against it for
 * {@code -Dquire.soak.duration} (default 3m, what CI runs; e.g. {@code -Dquire.soak.duration=30s} while
 * developing). The soak must pass: memory plateaus, every gauge back to idle after the load, every request
 * answered as it must be. Its report lands in {@code target/soak/}.
 */
class SoakIT {
    static final String DURATION = System.getProperty("quire.soak.duration", "3m");
    static final String WARMUP = System.getProperty("quire.soak.warmup", "20s");

    @Test
    void aMixedLoadLeavesNothingBehind() throws Exception {
        int grpc = QuireProcess.freePort();
        int http = QuireProcess.freePort();
        Path report = QuireProcess.ROOT.resolve(Path.of("load-tests", "target", "soak", "soak-it.json"));
        Files.deleteIfExists(report);
        // The heap is committed and touched whole at start (-Xms = -Xmx, AlwaysPreTouch), so that the heap
        // growing to its working size does not read as resident memory growth: the heap has its own check.
        Map<String, String> env = Map.of("QUIRE_JAVA_OPTS", "-Xms512m -Xmx512m -XX:+AlwaysPreTouch "
                + "-Dai.djl.pytorch.num_threads=1 -Dai.djl.pytorch.num_interop_threads=1");
        try (QuireProcess serve = QuireProcess.start("soak-serve", env, "serve", "--host", "127.0.0.1",
                "--grpc-port", "" + grpc, "--http-port", "" + http, "--kv-cache-bytes", "64m", "--cluster-name",
                "soak-it-" + System.nanoTime())) {
            serve.awaitLog("Quire is serving", 180);
            QuireProcess soak = QuireProcess.start("soak", Map.of(), "soak", "--http", "http://127.0.0.1:" + http,
                    "--grpc", "grpc://127.0.0.1:" + grpc, "--duration", DURATION, "--warmup", WARMUP,
                    "--sample-interval", "2s", "--out", report.toString());
            try (soak) {
                long bound = seconds(DURATION) + seconds(WARMUP) + 300;
                assertThat(soak.awaitExit(bound)).as("the soak ends within %d s:%n%s", bound, soak.output()).isTrue();
                JsonNode json = new ObjectMapper().readTree(report.toFile());
                List<String> failed = new ArrayList<>();
                json.path("checks").forEach(c -> {
                    if (!c.path("passed").asBoolean()) {
                        failed.add(c.path("name").asText() + ": " + c.path("detail").asText());
                    }
                });
                assertThat(failed).as("failed checks; first unexpected answers: %s%n%s",
                        json.path("unexpected_messages"), soak.output()).isEmpty();
                assertThat(json.path("verdict").asText()).isEqualTo("pass");
                assertThat(soak.process.exitValue()).as(soak.output()).isZero();
                assertThat(json.path("config").path("command").asText()).startsWith("quire soak --http ");
                // The mix really ran: every kind of request was sent and answered as it must be.
                for (SoakLoad.Kind kind : SoakLoad.Kind.values()) {
                    JsonNode n = json.path("requests").path(kind.name().toLowerCase(Locale.ROOT));
                    assertThat(n.path("sent").asLong()).as(kind.name()).isPositive();
                    assertThat(n.path("ok").asLong() + n.path("refused_429").asLong()).as(kind.name())
                            .isEqualTo(n.path("sent").asLong());
                }
                long loadSamples = 0;
                for (JsonNode s : json.path("samples")) {
                    loadSamples += s.path("phase").asText().equals("load") ? 1 : 0;
                }
                assertThat(loadSamples).isGreaterThanOrEqualTo(6);
                assertThat(Files.readString(report.resolveSibling("soak-it.md"))).startsWith("# Soak: PASS");
            }
            assertThat(serve.process.isAlive()).as("the server outlived the soak:%n%s", serve.output()).isTrue();
        }
    }

    private static long seconds(String duration) {
        String d = duration.trim().toLowerCase(Locale.ROOT);
        if (d.endsWith("ms")) {
            return 1;
        }
        double n = Double.parseDouble(d.replaceAll("[a-z]+$", ""));
        return (long) Math.ceil(d.endsWith("h") ? n * 3600 : d.endsWith("m") ? n * 60 : n);
    }
}
