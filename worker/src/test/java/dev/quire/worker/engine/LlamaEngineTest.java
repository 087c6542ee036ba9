package dev.quire.worker.engine;

import dev.quire.scheduler.engine.InvalidRequestException;

import dev.quire.scheduler.engine.SamplingOptions;

import dev.quire.scheduler.engine.RequestHandle;

import dev.quire.scheduler.engine.GenerationRequest;

import dev.quire.scheduler.engine.InferenceEngine;

import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.worker.model.PagedKvCache;
import dev.quire.worker.model.ServedModel;
import ai.djl.ndarray.types.DataType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The engine on the real stories260K model: golden output, batching, preemption, prefix cache. */
class LlamaEngineTest {
    static final Path MODEL = Path.of("../models/stories260K");
    static LlamaEngine engine;
    static int counter;

    @BeforeAll
    static void start() {
        engine = new LlamaEngine(ServedModel.load(MODEL, null), EngineConfig.defaults().withKvCacheBytes(32L << 20));
    }

    @AfterAll
    static void stop() {
        engine.close();
    }

    static int[] golden() throws Exception {
        return Arrays.stream(Files.readString(MODEL.resolve("golden-greedy-ids.txt")).trim().split(","))
                .mapToInt(s -> Integer.parseInt(s.trim())).toArray();
    }

    static synchronized String nextId() {
        return "t" + (counter++);
    }

    static CollectingListener submit(InferenceEngine e, int[] prompt, SamplingOptions options) {
        CollectingListener l = new CollectingListener();
        e.submit(new GenerationRequest(nextId(), prompt, options), l);
        return l;
    }

    @Test
    void greedyFromBosReproducesTheGoldenIds() throws Exception {
        int[] golden = golden();
        CollectingListener l = submit(engine, new int[]{1}, SamplingOptions.greedy(golden.length));
        assertThat(l.await()).isEqualTo(FinishReason.LENGTH);
        assertThat(l.tokenArray()).containsExactly(golden);
        String goldenText = Files.readString(MODEL.resolve("golden-greedy.txt")).strip();
        assertThat(l.text.toString()).startsWith(goldenText);
    }

    @Test
    void greedyOutputIsTheSameAloneOrAmong31ConcurrentRequests() throws Exception {
        Random random = new Random(11);
        int[] probe = {1, 403, 407, 261, 378, 432};
        int[] alone = runAlone(probe, SamplingOptions.builder().temperature(0f).maxTokens(60).ignoreEos(true).build());
        int[] seededAlone = runAlone(probe, seeded());

        List<CollectingListener> crowd = new ArrayList<>();
        CollectingListener greedy = null;
        CollectingListener sampled = null;
        for (int i = 0; i < 32; i++) {
            if (i == 13) {
                greedy = submit(engine, probe, SamplingOptions.builder().temperature(0f).maxTokens(60).ignoreEos(true)
                        .build());
            } else if (i == 21) {
                sampled = submit(engine, probe, seeded());
            } else {
                int[] prompt = new int[1 + random.nextInt(120)];
                prompt[0] = 1;
                for (int j = 1; j < prompt.length; j++) {
                    prompt[j] = 3 + random.nextInt(500);
                }
                crowd.add(submit(engine, prompt, SamplingOptions.builder().temperature(0.7f)
                        .maxTokens(20 + random.nextInt(80)).ignoreEos(true).seed((long) i).build()));
            }
        }
        for (CollectingListener l : crowd) {
            l.await();
        }
        greedy.await();
        sampled.await();
        assertThat(greedy.tokenArray()).containsExactly(alone);
        assertThat(sampled.tokenArray()).containsExactly(seededAlone);
    }

    private static SamplingOptions seeded() {
        return SamplingOptions.builder().temperature(1f).topK(40).topP(0.9f).seed(777L).maxTokens(60)
                .ignoreEos(true).build();
    }

    private static int[] runAlone(int[] prompt, SamplingOptions options) throws Exception {
        CollectingListener l = submit(engine, prompt, options);
        l.await();
        return l.tokenArray();
    }

    @Test
    void preemptionUnderATinyPoolDoesNotChangeAnyOutput() throws Exception {
        ServedModel model = ServedModel.load(MODEL, "tiny-pool");
        long blockBytes = PagedKvCache.bytesPerBlock(model.config(), 16, DataType.FLOAT32);
        // 40 blocks: one full-length sequence (32 blocks) fits, eight 300-token sequences do not.
        EngineConfig tiny = EngineConfig.defaults().withKvCacheBytes(40 * blockBytes);
        Random random = new Random(5);
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            int[] p = new int[20 + random.nextInt(60)];
            p[0] = 1;
            for (int j = 1; j < p.length; j++) {
                p[j] = 3 + random.nextInt(500);
            }
            prompts.add(p);
        }
        SamplingOptions options = SamplingOptions.builder().temperature(0.8f).seed(3L).maxTokens(200)
                .ignoreEos(true).build();
        List<int[]> expected = new ArrayList<>();
        for (int[] p : prompts) {
            expected.add(runAlone(p, options));
        }
        try (LlamaEngine small = new LlamaEngine(model, tiny)) {
            List<CollectingListener> ls = new ArrayList<>();
            for (int[] p : prompts) {
                ls.add(submit(small, p, options));
            }
            for (int i = 0; i < ls.size(); i++) {
                assertThat(ls.get(i).await()).isEqualTo(FinishReason.LENGTH);
                assertThat(ls.get(i).tokenArray()).as("request %d", i).containsExactly(expected.get(i));
            }
            assertThat(small.stats().preemptions()).as("the pool was small enough to force preemption")
                    .isGreaterThan(0);
            awaitNoBlocksUsed(small);
        }
    }

    @Test
    void aSecondRequestSharingATenBlockPrefixComputesOnlyItsSuffix() throws Exception {
        ServedModel model = ServedModel.load(MODEL, "prefix");
        try (LlamaEngine fresh = new LlamaEngine(model, EngineConfig.defaults().withKvCacheBytes(32L << 20))) {
            Random random = new Random(9);
            int[] prefix = new int[160];
            prefix[0] = 1;
            for (int j = 1; j < prefix.length; j++) {
                prefix[j] = 3 + random.nextInt(500);
            }
            int[] first = Arrays.copyOf(prefix, 170);
            int[] second = Arrays.copyOf(prefix, 175);
            for (int j = 160; j < 175; j++) {
                if (j < 170) {
                    first[j] = 3 + random.nextInt(500);
                }
                second[j] = 3 + random.nextInt(500);
            }
            SamplingOptions greedy = SamplingOptions.builder().temperature(0f).maxTokens(10).ignoreEos(true).build();
            submit(fresh, first, greedy).await();
            SchedulerStats before = fresh.stats();
            CollectingListener l = submit(fresh, second, greedy);
            l.await();
            SchedulerStats after = fresh.stats();
            assertThat(after.prefixCacheHitTokens() - before.prefixCacheHitTokens()).isEqualTo(160);
            assertThat(after.prefixCacheQueryTokens() - before.prefixCacheQueryTokens()).isEqualTo(175);

            // Same output as without the cache.
            try (LlamaEngine uncached = new LlamaEngine(ServedModel.load(MODEL, "nocache"),
                    EngineConfig.defaults().withKvCacheBytes(32L << 20).withPrefixCaching(false))) {
                CollectingListener ref = submit(uncached, second, greedy);
                ref.await();
                assertThat(l.tokenArray()).containsExactly(ref.tokenArray());
            }
        }
    }

    @Test
    void cancellingFreesTheSequencesBlocks() throws Exception {
        CollectingListener l = new CollectingListener();
        RequestHandle handle = engine.submit(new GenerationRequest(nextId(), new int[]{1, 403},
                SamplingOptions.builder().temperature(0f).ignoreEos(true).build()), l);
        while (l.tokenArray().length < 5) {
            Thread.sleep(1);
        }
        handle.cancel();
        assertThat(l.await()).isEqualTo(FinishReason.ABORTED);
        awaitNoBlocksUsed(engine);
    }

    /** The stats snapshot is refreshed after listeners are told, so give the engine a moment. */
    static void awaitNoBlocksUsed(LlamaEngine e) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 5000;
        while (e.stats().kvBlocksUsed() != 0 && System.currentTimeMillis() < deadline) {
            Thread.sleep(5);
        }
        assertThat(e.stats().kvBlocksUsed()).isZero();
    }

    @Test
    void stopTokensEosAndRequestChecks() throws Exception {
        int[] golden = golden();
        CollectingListener l = submit(engine, new int[]{1}, SamplingOptions.builder().temperature(0f).maxTokens(50)
                .stopTokenIds(golden[5]).build());
        assertThat(l.await()).isEqualTo(FinishReason.STOP);
        assertThat(l.tokenArray()).containsExactly(Arrays.copyOf(golden, 6));

        assertThatThrownBy(() -> submit(engine, new int[600], SamplingOptions.greedy(1)))
                .isInstanceOfSatisfying(InvalidRequestException.class, e -> assertThat(e.field()).isEqualTo("prompt"));
        assertThatThrownBy(() -> submit(engine, new int[]{1, 9999}, SamplingOptions.greedy(1)))
                .isInstanceOfSatisfying(InvalidRequestException.class,
                        e -> assertThat(e.field()).isEqualTo("prompt_token_ids"));
    }
}
