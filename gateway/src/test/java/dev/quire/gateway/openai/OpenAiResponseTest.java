package dev.quire.gateway.openai;

import com.fasterxml.jackson.databind.JsonNode;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.RequestHandle;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.ext.web.Router;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Engine outcomes the real model cannot be made to produce on demand (a failure mid-stream, an
 * abort, a failure before admission completed), fed to {@link OpenAiResponse} from a thread
 * standing in for the engine's.
 */
class OpenAiResponseTest {
    static Vertx vertx;
    static int port;
    static final AtomicInteger cancels = new AtomicInteger();
    static volatile Scenario scenario;

    /** What the fake engine does, and whether the response streams. */
    record Scenario(boolean stream, boolean engineFirst, Consumer<GenerationListener> engine) {
    }

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        Router router = Router.router(vertx);
        router.post("/t").handler(ctx -> {
            Scenario s = scenario;
            OpenAiResponse out = new OpenAiResponse(OpenAiResponse.Api.COMPLETIONS, vertx.getOrCreateContext(),
                    ctx.response(), "cmpl-test", 1, s.stream(), false, -1, null);
            RequestHandle handle = new RequestHandle() {
                @Override
                public String requestId() {
                    return "cmpl-test";
                }

                @Override
                public void cancel() {
                    cancels.incrementAndGet();
                }
            };
            Thread engine = new Thread(() -> s.engine().accept(out.listener(0)));
            if (s.engineFirst()) {
                // The engine reports before admission completes; the response must still come out right.
                engine.start();
                vertx.setTimer(100, t -> out.start("m", List.of(handle)));
            } else {
                out.start("m", List.of(handle));
                engine.start();
            }
        });
        HttpServer server = vertx.createHttpServer().requestHandler(router).listen(0).await(10, TimeUnit.SECONDS);
        port = server.actualPort();
    }

    @AfterAll
    static void stop() throws Exception {
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    @Test
    void anEngineFailureMidStreamIsAnSseErrorEventThenTheEnd() {
        cancels.set(0);
        scenario = new Scenario(true, false, l -> {
            l.onTokens(new int[]{5}, "Hello", null);
            l.onError(new RuntimeException("boom"));
        });
        Http.Reply r = Http.post(port, "/t", "{}");
        assertThat(r.status()).isEqualTo(200);
        String[] events = r.body().split("\n\n");
        assertThat(r.body()).endsWith("\n\n").doesNotContain("[DONE]");
        assertThat(events).hasSize(2);
        assertThat(events[0]).startsWith("data: {").contains("\"text\":\"Hello\"");
        JsonNode error = new Http.Reply(200, r.headers(), events[1].substring("data: ".length()).getBytes()).error();
        assertThat(error.get("type").asText()).isEqualTo("server_error");
        // The engine's message is for the server log only.
        assertThat(error.get("message").asText()).isEqualTo("internal error; see the server log, request id cmpl-test");
        assertThat(cancels.get()).isEqualTo(1);
    }

    @Test
    void anAbortedGenerationFinishesWithAbort() {
        scenario = new Scenario(true, false, l -> {
            l.onTokens(new int[]{5}, "Hi", null);
            l.onFinish(FinishReason.ABORTED, 3, 1);
        });
        List<JsonNode> chunks = Http.events(Http.post(port, "/t", "{}"));
        assertThat(Http.text(chunks)).isEqualTo("Hi");
        assertThat(chunks.get(chunks.size() - 1).get("choices").get(0).get("finish_reason").asText()).isEqualTo("abort");
    }

    @Test
    void aFailureBeforeAdmissionCompletedIsAPlainErrorResponse() {
        scenario = new Scenario(true, true, l -> l.onError(new RuntimeException("early")));
        Http.Reply r = Http.post(port, "/t", "{}");
        assertThat(r.status()).isEqualTo(500);
        assertThat(r.error().get("message").asText())
                .isEqualTo("internal error; see the server log, request id cmpl-test");
    }

    @Test
    void outputBeforeAdmissionCompletedIsKept() {
        scenario = new Scenario(false, true, l -> {
            l.onTokens(new int[]{5}, "Early ", null);
            l.onTokens(new int[]{6}, "bird", null);
            l.onFinish(FinishReason.STOP_STRING, 2, 2);
        });
        JsonNode body = Http.post(port, "/t", "{}").json();
        assertThat(body.get("choices").get(0).get("text").asText()).isEqualTo("Early bird");
        assertThat(body.get("choices").get(0).get("finish_reason").asText()).isEqualTo("stop");
        assertThat(body.get("usage").toString()).isEqualTo("{\"prompt_tokens\":2,\"completion_tokens\":2,\"total_tokens\":4}");
    }
}
