package dev.quire.worker.engine;

import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.SamplingOptions;
import dev.quire.scheduler.engine.TokenLogprobs;
import dev.quire.worker.model.ServedModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A generation continued by another engine from its prompt plus the tokens already delivered
 * (what a gateway does when a worker dies mid-stream) gives the uninterrupted run's output: the
 * same tokens, and text that joins the delivered text exactly, for greedy and seeded sampling with
 * penalties and stop strings.
 */
class ResumedRequestTest {
    static LlamaEngine engine;
    static int counter;

    @BeforeAll
    static void start() {
        engine = new LlamaEngine(ServedModel.load(Path.of("../models/stories260K"), null),
                EngineConfig.defaults().withKvCacheBytes(32L << 20));
    }

    @AfterAll
    static void stop() {
        engine.close();
    }

    /** Each onTokens call: one token and the text emitted with it. */
    static final class Run implements GenerationListener {
        final List<Integer> tokens = new ArrayList<>();
        final List<String> texts = new ArrayList<>();
        final CompletableFuture<int[]> usage = new CompletableFuture<>();
        FinishReason reason;

        @Override
        public synchronized void onTokens(int[] tokenIds, String text, TokenLogprobs[] logprobs) {
            for (int t : tokenIds) {
                tokens.add(t);
            }
            texts.add(text);
        }

        @Override
        public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
            this.reason = reason;
            usage.complete(new int[]{promptTokens, completionTokens});
        }

        @Override
        public void onError(Throwable error) {
            usage.completeExceptionally(error);
        }

        int[] await() throws Exception {
            return usage.get(60, TimeUnit.SECONDS);
        }

        String text(int from, int to) {
            return String.join("", texts.subList(from, to));
        }
    }

    static synchronized String id() {
        return "resume-" + counter++;
    }

    static Run run(GenerationRequest request) throws Exception {
        Run r = new Run();
        engine.submit(request, r);
        r.await();
        return r;
    }

    @Test
    void aResumedGenerationContinuesExactlyWhereTheLostOneStopped() throws Exception {
        int[] prompt = {1, 403, 407, 261, 378};
        List<SamplingOptions> cases = List.of(
                SamplingOptions.builder().maxTokens(90).temperature(0f).ignoreEos(true).build(),
                SamplingOptions.builder().maxTokens(90).temperature(0.8f).topP(0.95f).seed(7L).ignoreEos(true)
                        .presencePenalty(0.5f).frequencyPenalty(0.3f).repetitionPenalty(1.1f).build(),
                // A stop string that never matches but keeps text held back at every "Th" / "T".
                SamplingOptions.builder().maxTokens(90).temperature(0.7f).seed(11L).ignoreEos(true)
                        .stop(List.of("The end of it", "Tim was never")).build());
        for (SamplingOptions options : cases) {
            Run full = run(new GenerationRequest(id(), prompt, options));
            assertThat(full.tokens).hasSize(90);
            String fullText = full.text(0, full.texts.size());
            for (int k : new int[]{1, 17, 60}) {
                int[] delivered = full.tokens.subList(0, k).stream().mapToInt(Integer::intValue).toArray();
                GenerationRequest resumed = new GenerationRequest(id(), prompt, options).resumedWith(delivered);
                Run rest = run(resumed);
                assertThat(rest.tokens).as("tokens after %d delivered, %s", k, options)
                        .isEqualTo(full.tokens.subList(k, full.tokens.size()));
                assertThat(full.text(0, k) + rest.text(0, rest.texts.size())).as("text after %d delivered", k)
                        .isEqualTo(fullText);
                assertThat(rest.await()).as("usage counts the whole request once").containsExactly(prompt.length, 90);
                assertThat(rest.reason).isEqualTo(FinishReason.LENGTH);
            }
        }
    }

    @Test
    void aResumedGenerationWhoseDeliveredOutputAlreadyEndedItEmitsNothingMore() throws Exception {
        int[] prompt = {1, 403, 407, 261, 378};
        // Stops at the model's end-of-sequence token: only the Finished event was lost.
        Run full = run(new GenerationRequest(id(), prompt, SamplingOptions.builder().maxTokens(400).temperature(0f)
                .build()));
        assertThat(full.reason).as("the bundled model ends this story within 400 tokens").isEqualTo(FinishReason.STOP);
        int[] all = full.tokens.stream().mapToInt(Integer::intValue).toArray();
        Run rest = run(new GenerationRequest(id(), prompt, SamplingOptions.builder().maxTokens(400).temperature(0f)
                .build()).resumedWith(all));
        assertThat(rest.tokens).as("nothing past the end-of-sequence token").isEmpty();
        assertThat(rest.reason).isEqualTo(FinishReason.STOP);
        assertThat(rest.await()).containsExactly(prompt.length, all.length);

        // Ended by max_tokens, and by a stop token id.
        SamplingOptions eight = SamplingOptions.builder().maxTokens(8).temperature(0f).ignoreEos(true).build();
        Run short8 = run(new GenerationRequest(id(), prompt, eight));
        Run after = run(new GenerationRequest(id(), prompt, eight)
                .resumedWith(short8.tokens.stream().mapToInt(Integer::intValue).toArray()));
        assertThat(after.tokens).isEmpty();
        assertThat(after.reason).isEqualTo(FinishReason.LENGTH);
        int stopId = short8.tokens.get(3);
        SamplingOptions stopping = SamplingOptions.builder().maxTokens(50).temperature(0f).ignoreEos(true)
                .stopTokenIds(stopId).build();
        Run stopped = run(new GenerationRequest(id(), prompt, stopping));
        assertThat(stopped.reason).isEqualTo(FinishReason.STOP);
        Run afterStop = run(new GenerationRequest(id(), prompt, stopping)
                .resumedWith(stopped.tokens.stream().mapToInt(Integer::intValue).toArray()));
        assertThat(afterStop.tokens).isEmpty();
        assertThat(afterStop.reason).isEqualTo(FinishReason.STOP);
    }

    @Test
    void resumedTokensMustLeaveAPrompt() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new GenerationRequest("x", new int[]{1, 2},
                SamplingOptions.greedy(4), 0, 2)).hasMessageContaining("resumed_tokens");
        assertThat(new GenerationRequest("x", new int[]{1, 2}, SamplingOptions.greedy(4)).resumedWith(new int[]{5, 6})
                .promptLength()).isEqualTo(2);
        assertThat(Arrays.toString(new GenerationRequest("x", new int[]{1}, SamplingOptions.greedy(4))
                .resumedWith(new int[]{5}).promptTokenIds())).isEqualTo("[1, 5]");
    }
}
