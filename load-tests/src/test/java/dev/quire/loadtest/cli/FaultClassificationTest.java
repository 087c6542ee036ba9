package dev.quire.loadtest.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** How the report classifies misbehaving streams, over the real gRPC wire against {@link FaultyGrpcPeer}. */
class FaultClassificationTest {
    @TempDir
    Path dir;

    @Test
    void countsCompletedFailedTruncatedAndDuplicatedRequests() throws Exception {
        try (FaultyGrpcPeer peer = new FaultyGrpcPeer()) {
            Path out = dir.resolve("faults.json");
            Cli.Result r = Cli.run("--target", "grpc://127.0.0.1:" + peer.port(), "-n", "20", "-c", "5",
                    "--input-len", "8", "--output-len", "6", "--api-key", "k1", "--out", out.toString(),
                    "--save-requests");
            assertThat(r.exitCode()).as(r.err()).isZero();
            JsonNode p = Cli.json(out).path("points").path(0);
            assertThat(p.path("num_requests").asInt()).isEqualTo(20);
            assertThat(p.path("completed").asInt()).as("normal + duplicated").isEqualTo(8);
            assertThat(p.path("duplicated").asInt()).isEqualTo(4);
            assertThat(p.path("truncated").asInt()).as("no finish reason + ABORTED").isEqualTo(8);
            assertThat(p.path("failed").asInt()).isEqualTo(4);
            assertThat(p.path("errors").path("grpc_UNAVAILABLE").asInt()).isEqualTo(4);
            assertThat(p.path("errors").path("truncated").asInt()).isEqualTo(8);
            assertThat(p.path("error_examples").path("grpc_UNAVAILABLE").asText()).isEqualTo("worker lost");
            assertThat(p.path("total_output_tokens").asInt()).as("completed requests' usage").isEqualTo(8 * 6);
            assertThat(peer.authorizations).containsOnly("Bearer k1");
            for (JsonNode req : p.path("requests")) {
                if (req.path("outcome").asText().equals("failed")) {
                    assertThat(req.path("error_kind").asText()).isEqualTo("grpc_UNAVAILABLE");
                }
            }
            assertThat(r.out()).contains("Failed requests:", "Truncated requests:", "Requests with duplicated tokens:",
                    "grpc_UNAVAILABLE:");
        }
    }

    @Test
    void oneProcessCarriesThousandsOfConcurrentStreams() throws Exception {
        // 2000 gRPC streams opened at once over real sockets (the peer allows 100 per HTTP/2 connection, so the
        // client spreads them over connections), on the default event loops.
        try (FaultyGrpcPeer peer = new FaultyGrpcPeer()) {
            Path out = dir.resolve("many.json");
            Cli.Result r = Cli.run("--target", "grpc://127.0.0.1:" + peer.port(), "-n", "2000", "--input-len", "4",
                    "--output-len", "4", "--out", out.toString());
            assertThat(r.exitCode()).as(r.err()).isZero();
            JsonNode p = Cli.json(out).path("points").path(0);
            assertThat(p.path("num_requests").asInt()).isEqualTo(2000);
            assertThat(p.path("completed").asInt()).isEqualTo(800);
            assertThat(p.path("duplicated").asInt()).isEqualTo(400);
            assertThat(p.path("truncated").asInt()).isEqualTo(800);
            assertThat(p.path("failed").asInt()).isEqualTo(400);
            assertThat(p.path("max_concurrent_requests").asInt()).isGreaterThan(1000);
            assertThat(p.path("client_cpu_util").asDouble()).isPositive();
        }
    }
}
