package dev.quire.loadtest.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quire.loadtest.cli.KeepAlivePeer.Action;
import dev.quire.loadtest.driver.ClientEventLoops;
import dev.quire.loadtest.driver.OpenAiDriver;
import dev.quire.loadtest.driver.Outcome;
import dev.quire.loadtest.driver.RequestOptions;
import dev.quire.loadtest.driver.RequestRecorder;
import dev.quire.loadtest.driver.RequestResult;
import dev.quire.loadtest.driver.Target;
import dev.quire.loadtest.workload.Prompt;
import dev.quire.loadtest.workload.RequestSpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The HTTP driver against {@link KeepAlivePeer}, a server that closes idle and spent keep-alive connections
 * the way llama.cpp's does ({@code Keep-Alive: timeout=1, max=5}): no request may be lost to those closes, a
 * request that still meets one is sent again on a new connection, and a request the server had started is
 * never sent twice.
 */
class KeepAliveTest {
    /** Longer than the peer's 1 s idle timeout, whatever the margin the client keeps. */
    private static final long PAUSE_MS = 1_300;

    private KeepAlivePeer peer;

    @TempDir
    Path dir;

    @BeforeEach
    void start() throws Exception {
        peer = new KeepAlivePeer();
    }

    @AfterEach
    void stop() throws Exception {
        peer.close();
    }

    /**
     * Four clients at a time: seven rounds back to back (so connections reach the server's limit of 5
     * requests), then a round after a pause longer than the server's idle timeout.
     */
    @ParameterizedTest(name = "stream={0}, Connection: close every {1} responses")
    @CsvSource({"true, 0", "false, 3"})
    void noRequestIsWrittenOnAConnectionTheServerClosed(boolean stream, int closeEvery) throws Exception {
        peer.keepAlive = "timeout=1, max=5";
        peer.policy = KeepAlivePeer.httplib(1_000, 5, closeEvery);
        Target target = Target.parse(peer.url(), false);
        RequestOptions options = new RequestOptions("peer-model", 0, false, stream, null, Duration.ofMinutes(1));
        List<RequestResult> results = new ArrayList<>();
        List<Integer> afterPause = new ArrayList<>(); // each request's place on its connection
        try (ClientEventLoops loops = ClientEventLoops.start(1, vertx -> new OpenAiDriver(vertx, target, options, 8))) {
            for (int round = 0; round < 7; round++) {
                results.addAll(round(loops, 4, stream));
            }
            Thread.sleep(PAUSE_MS);
            int before = peer.seen.size();
            results.addAll(round(loops, 4, stream));
            peer.seen.subList(before, peer.seen.size()).forEach(s -> afterPause.add(s.index()));
        }

        assertThat(results).hasSize(32);
        assertThat(results).allSatisfy(r -> assertThat(r.outcome()).as(r.errorKind() + ": " + r.errorMessage())
                .isEqualTo(Outcome.COMPLETED));
        assertThat(results).allSatisfy(r -> assertThat(r.outputTokens()).isEqualTo(3));
        // What the server saw: never a sixth request on a connection, never a request after Connection: close,
        // and after each pause only new connections.
        assertThat(peer.seen).allSatisfy(s -> assertThat(s.index()).isBetween(1, 5));
        if (closeEvery > 0) {
            assertThat(peer.seen).allSatisfy(s -> assertThat(s.index()).isLessThanOrEqualTo(closeEvery));
        }
        assertThat(afterPause).hasSize(4).containsOnly(1);
        // Anything the server dropped anyway (a machine stalled for longer than the margin) was sent again.
        assertThat(peer.seen).hasSize(32 + peer.seen(Action.DROP).size());
        assertThat(results.stream().mapToInt(RequestResult::retries).sum()).isEqualTo(peer.seen(Action.DROP).size());
    }

    @ParameterizedTest
    @EnumSource(value = Action.class, names = {"DROP", "RESET"})
    void aReusedConnectionClosedWithoutAnAnswerIsRetriedOnceOnANewOne(Action loss) throws Exception {
        // The server keeps connections for long but loses the second request on each: the close racing a write.
        peer.keepAlive = "timeout=30, max=100";
        peer.policy = (index, idle) -> index == 2 ? loss : Action.ANSWER;
        Path out = dir.resolve("retry.json");
        Cli.Result r = Cli.run("--base-url", peer.url(), "-n", "6", "-c", "1", "--client-threads", "1",
                "--prompt-format", "text", "--input-len", "2", "--output-len", "3", "--out", out.toString(),
                "--save-requests");
        assertThat(r.exitCode()).as(r.err()).isZero();

        JsonNode p = Cli.json(out).path("points").path(0);
        assertThat(p.path("completed").asInt()).isEqualTo(6);
        assertThat(p.path("failed").asInt()).isZero();
        // The test request opens a connection; each measured request then meets a reused one, is lost and is
        // sent again on a new one, which the next request reuses.
        assertThat(p.path("retried").asInt()).isEqualTo(6);
        assertThat(p.path("requests")).allSatisfy(q -> assertThat(q.path("retries").asInt()).isEqualTo(1));
        assertThat(r.out()).contains("Requests resent on a new connection:     6");
        List<KeepAlivePeer.Seen> lost = peer.seen(loss);
        assertThat(lost).hasSize(6).allSatisfy(s -> assertThat(s.index()).isEqualTo(2));
        assertThat(peer.seen).hasSize(1 + 12);
        // Each lost request went out again, as it was, as the first request of a new connection.
        for (KeepAlivePeer.Seen s : lost) {
            int at = peer.seen.indexOf(s);
            KeepAlivePeer.Seen again = peer.seen.get(at + 1);
            assertThat(again.index()).isEqualTo(1);
            assertThat(again.connection()).isNotEqualTo(s.connection());
            assertThat(again.body()).isEqualTo(s.body());
        }
    }

    @ParameterizedTest
    @EnumSource(value = Action.class, names = {"PARTIAL_HEAD", "PARTIAL_BODY"})
    void aRequestTheServerStartedIsNotRetried(Action partial) throws Exception {
        peer.keepAlive = "timeout=30, max=100";
        peer.policy = (index, idle) -> index == 2 ? partial : Action.ANSWER;
        Path out = dir.resolve("started.json");
        Cli.Result r = Cli.run("--base-url", peer.url(), "-n", "4", "-c", "1", "--client-threads", "1",
                "--prompt-format", "text", "--input-len", "2", "--output-len", "3", "--out", out.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();

        JsonNode p = Cli.json(out).path("points").path(0);
        // Test request on connection 1; measured: 1 on it (cut off), 2 on a new one, 3 on it (cut off), 4 new.
        assertThat(p.path("completed").asInt()).isEqualTo(2);
        assertThat(p.path("failed").asInt()).isEqualTo(2);
        assertThat(p.path("retried").asInt()).isZero();
        assertThat(peer.seen).hasSize(5);
        assertThat(peer.seen(partial)).hasSize(2);
    }

    @Test
    void aRequestOnANewConnectionIsNeverRetried() {
        peer.policy = (index, idle) -> Action.DROP;
        Cli.Result r = Cli.run("--base-url", peer.url(), "-n", "2", "--client-threads", "1", "--prompt-format", "text");
        assertThat(r.exitCode()).isEqualTo(1);
        assertThat(r.err()).contains("first test request", "connection_closed");
        assertThat(peer.seen).hasSize(1);
    }

    /** Sends {@code n} requests at once on the first event loop and waits for all of them. */
    private static List<RequestResult> round(ClientEventLoops loops, int n, boolean stream) throws Exception {
        ClientEventLoops.Shard shard = loops.shards().get(0);
        List<CompletableFuture<RequestResult>> done = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            CompletableFuture<RequestResult> f = new CompletableFuture<>();
            done.add(f);
            long seed = i;
            shard.context().runOnContext(v -> shard.driver().send(new RequestSpec(Prompt.ofText("hello there"), 2, 3),
                    seed, new RequestRecorder(System.nanoTime(), 2, 3, stream, f::complete)));
        }
        List<RequestResult> results = new ArrayList<>();
        for (CompletableFuture<RequestResult> f : done) {
            results.add(f.get(30, TimeUnit.SECONDS));
        }
        return results;
    }
}
