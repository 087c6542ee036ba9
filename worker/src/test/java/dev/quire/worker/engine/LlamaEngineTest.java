package dev.quire.worker.engine;

import dev.quire.scheduler.engine.EngineUnavailableException;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.InvalidRequestException;
import dev.quire.scheduler.engine.TokenLogprobs;

import dev.quire.scheduler.engine.SamplingOptions;

import dev.quire.scheduler.engine.RequestHandle;

import dev.quire.scheduler.engine.GenerationRequest;

import dev.quire.scheduler.engine.InferenceEngine;

import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.batch.SchedulerConfig;
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
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicInteger;

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

    @Test
    void stopAbortsWhatRunsButKeepsTheTokenizerUntilClose() throws Exception {
        LlamaEngine e = new LlamaEngine(ServedModel.load(MODEL, "stop-then-close"),
                EngineConfig.defaults().withKvCacheBytes(32L << 20));
        try {
            CollectingListener l = new CollectingListener();
            e.submit(new GenerationRequest(nextId(), new int[]{1, 403},
                    SamplingOptions.builder().temperature(0f).ignoreEos(true).build()), l);
            while (l.tokenArray().length < 3) {
                Thread.sleep(1);
            }
            int[] before = e.text().encode("Once upon a time", true);
            e.stop();
            // The running request got its final event, and new ones are refused.
            assertThat(l.await()).isEqualTo(FinishReason.ABORTED);
            assertThatThrownBy(() -> e.submit(new GenerationRequest(nextId(), new int[]{1, 403},
                    SamplingOptions.builder().build()), new CollectingListener()))
                    .isInstanceOf(EngineUnavailableException.class);
            // A text job still running for a gateway can finish: the tokenizer is freed by close() only.
            assertThat(e.text().encode("Once upon a time", true)).containsExactly(before);
            e.stop();
        } finally {
            e.close();
            e.close();
        }
    }

    static int[] randomPrompt(Random random, int length) {
        int[] p = new int[length];
        p[0] = 1;
        for (int j = 1; j < length; j++) {
            p[j] = 3 + random.nextInt(500);
        }
        return p;
    }

    /**
     * A step budget of 16 tokens: three short requests decode while three long prompts, more urgent and so ahead of
     * them in the step, are prefilled in chunks that sample nothing. Only sampling rows have logits, and the forward
     * pass puts decodes before prefills, so a prompt's last chunk comes after the decodes in the logits while it
     * comes before them in the step. A row given to the wrong request shows as a different output: each request's
     * greedy output must be the one it has alone.
     */
    @Test
    void prefillChunksThatDoNotSampleLeaveEveryRequestsOutputAsItIsAlone() throws Exception {
        Random random = new Random(16);
        List<int[]> prompts = new ArrayList<>();
        for (int length : new int[]{3, 4, 2, 150, 201, 233}) {
            prompts.add(randomPrompt(random, length));
        }
        SamplingOptions greedy = SamplingOptions.builder().temperature(0f).maxTokens(60).ignoreEos(true).build();
        List<int[]> alone = new ArrayList<>();
        for (int[] p : prompts) {
            alone.add(runAlone(p, greedy));
        }
        // No prefix caching: every prompt is computed in full, chunk by chunk.
        EngineConfig smallBudget = new EngineConfig("cpu", 16, 32L << 20, 0.8, 16, 256, 0, false);
        Map<Long, List<String>> computed = new ConcurrentHashMap<>();
        Map<Long, List<String>> sampledRows = new ConcurrentHashMap<>();
        try (LlamaEngine e = new LlamaEngine(ServedModel.load(MODEL, "chunked"), smallBudget)) {
            e.injectFaults(new LlamaEngine.StepFaults() {
                @Override
                public void beforeForward(long stepIndex, List<String> requestIds) {
                    computed.put(stepIndex, List.copyOf(requestIds));
                }

                @Override
                public void afterForward(long stepIndex, List<String> rowRequestIds, float[] logits) {
                    sampledRows.put(stepIndex, List.copyOf(rowRequestIds));
                }
            });
            List<CollectingListener> ls = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                if (i == 3) {
                    // The short ones decode before the long ones arrive.
                    for (CollectingListener l : ls) {
                        while (l.tokenArray().length == 0 && !l.finished.isDone()) {
                            Thread.sleep(1);
                        }
                    }
                }
                CollectingListener l = new CollectingListener();
                e.submit(new GenerationRequest("chunked-" + i, prompts.get(i), greedy, i < 3 ? 10 : 0), l);
                ls.add(l);
            }
            for (int i = 0; i < ls.size(); i++) {
                assertThat(ls.get(i).await()).isEqualTo(FinishReason.LENGTH);
                assertThat(ls.get(i).tokenArray()).as("request %d (prompt of %d)", i, prompts.get(i).length)
                        .containsExactly(alone.get(i));
            }
            awaitIdle(e);
        }
        // The test exercised what it means to: steps mixing decodes with a chunk that samples nothing, and long
        // prompts spread over several steps before their first token.
        long mixed = computed.keySet().stream().filter(step -> {
            List<String> rows = sampledRows.getOrDefault(step, List.of());
            return !rows.isEmpty() && rows.size() < computed.get(step).size();
        }).count();
        assertThat(mixed).as("steps where decodes share the step with a prefill chunk").isGreaterThan(10);
        long reordered = computed.keySet().stream().filter(step -> {
            List<String> rows = sampledRows.getOrDefault(step, List.of());
            return !computed.get(step).stream().filter(rows::contains).toList().equals(rows);
        }).count();
        assertThat(reordered).as("steps whose logits rows are not in the step's order").isPositive();
        for (int i = 3; i < prompts.size(); i++) {
            String id = "chunked-" + i;
            long chunks = computed.keySet().stream()
                    .filter(step -> computed.get(step).contains(id)
                            && !sampledRows.getOrDefault(step, List.of()).contains(id)).count();
            assertThat(chunks).as("non-sampling prefill chunks of %s", id)
                    .isGreaterThanOrEqualTo(prompts.get(i).length / 16);
        }
    }

    @Test
    void aKvBudgetBelowOneFullLengthSequenceIsRefusedAtStartWithTheNumbers() {
        ServedModel model = ServedModel.load(MODEL, "tiny-budget");
        try {
            long blockBytes = PagedKvCache.bytesPerBlock(model.config(), 16, DataType.FLOAT32);
            // 512 positions need 32 blocks of 16; the budget holds 31.
            assertThatThrownBy(() -> new LlamaEngine(model, EngineConfig.defaults().withKvCacheBytes(31 * blockBytes)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("holds 31 blocks")
                    .hasMessageContaining("fewer than one full-length sequence needs (32)");
        } finally {
            if (model.tokenizer() != null) {
                model.tokenizer().close();
            }
        }
        // The check is against the configured length, and one full-length sequence exactly is enough.
        ServedModel shorter = ServedModel.load(MODEL, "short-context");
        long blockBytes = PagedKvCache.bytesPerBlock(shorter.config(), 16, DataType.FLOAT32);
        try (LlamaEngine e = new LlamaEngine(shorter, new EngineConfig("cpu", 16, 16 * blockBytes, 0.8, 2048, 256,
                256, true))) {
            assertThat(e.maxModelLen()).isEqualTo(256);
        }
        try (LlamaEngine e = new LlamaEngine(ServedModel.load(MODEL, "exact-budget"),
                EngineConfig.defaults().withKvCacheBytes(32 * blockBytes))) {
            assertThat(e.maxModelLen()).isEqualTo(512);
        }
    }

    @Test
    void aDuplicateRequestIdIsRefusedAndTheFirstRequestCarriesOn() throws Exception {
        int[] golden = Arrays.copyOf(golden(), 120);
        String id = nextId();
        CollectingListener first = new CollectingListener();
        engine.submit(new GenerationRequest(id, new int[]{1}, SamplingOptions.greedy(golden.length)), first);
        CollectingListener second = new CollectingListener();
        assertThatThrownBy(() -> engine.submit(new GenerationRequest(id, new int[]{1, 403},
                SamplingOptions.greedy(5)), second))
                .isInstanceOfSatisfying(InvalidRequestException.class, e -> {
                    assertThat(e.field()).isEqualTo("request_id");
                    assertThat(e.getMessage()).contains("'" + id + "' is already running");
                });

        assertThat(first.await()).isEqualTo(FinishReason.LENGTH);
        assertThat(first.tokenArray()).containsExactly(golden);
        assertThat(second.finished).as("the refused request never reached the engine").isNotDone();
        assertThat(second.tokenArray()).isEmpty();

        // Once the first has ended, its id is free again.
        CollectingListener again = new CollectingListener();
        engine.submit(new GenerationRequest(id, new int[]{1}, SamplingOptions.greedy(10)), again);
        assertThat(again.await()).isEqualTo(FinishReason.LENGTH);
        assertThat(again.tokenArray()).containsExactly(Arrays.copyOf(golden, 10));
    }

    /** The stats snapshot is refreshed after listeners are told, so give the engine a moment. */
    static void awaitNoBlocksUsed(LlamaEngine e) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 5000;
        while (e.stats().kvBlocksUsed() != 0 && System.currentTimeMillis() < deadline) {
            Thread.sleep(5);
        }
        assertThat(e.stats().kvBlocksUsed()).isZero();
    }

    /**
     * 64 greedy streams on a pool of 64 blocks, which holds 8 sequences at the context limit of 128 tokens: the
     * streams need about seven times the pool, so they are preempted over and over. Each must produce what it
     * produces alone, be preempted at most {@link SchedulerConfig#DEFAULT_MAX_PREEMPTIONS}
     * times, and once first scheduled wait (be left out of) at most {@code MAX_WAIT_STEPS} engine steps in all.
     *
     * <p>The step budget (2048 tokens) exceeds what the pool can hold (1024), so a running stream is computed in every
     * step: a stream is left out of a step only while it is preempted, and every preemption leaves it out of at least
     * the step that preempted it. So the gaps in the steps that compute a stream count its preemptions, and their
     * lengths its waits. Steps, not time, keep the check independent of the machine's load.
     */
    @Test
    void sixtyFourStreamsOnAPoolForEightAreEachPreemptedAtMostThreeTimesAndWaitBoundedSteps() throws Exception {
        int streams = 64;
        int contextLimit = 128;
        int maxTokens = 100;
        // The stated bound: at most 3 waits, each shorter than the 128 steps in which the sequences running when it
        // began reach the context limit and leave (about 220 steps in all are seen; unbounded preemption gave 9 waits).
        int maxWaitSteps = SchedulerConfig.DEFAULT_MAX_PREEMPTIONS * contextLimit;
        ServedModel model = ServedModel.load(MODEL, "starvation");
        long blockBytes = PagedKvCache.bytesPerBlock(model.config(), 16, DataType.FLOAT32);
        EngineConfig config = new EngineConfig("cpu", 16, 64 * blockBytes, 0.8, 2048, 256, contextLimit, true);
        Random random = new Random(64);
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            int[] p = new int[4 + random.nextInt(contextLimit - maxTokens - 4)];
            p[0] = 1;
            for (int j = 1; j < p.length; j++) {
                p[j] = 3 + random.nextInt(500);
            }
            prompts.add(p);
        }
        SamplingOptions greedy = SamplingOptions.builder().temperature(0f).maxTokens(maxTokens).ignoreEos(true)
                .build();
        List<int[]> alone = new ArrayList<>();
        for (int[] p : prompts) {
            alone.add(runAlone(p, greedy));
        }

        Map<String, List<Long>> computedIn = new ConcurrentHashMap<>();
        try (LlamaEngine small = new LlamaEngine(model, config)) {
            small.injectFaults(new LlamaEngine.StepFaults() {
                @Override
                public void beforeForward(long stepIndex, List<String> requestIds) {
                    for (String id : requestIds) {
                        computedIn.computeIfAbsent(id, k -> new ArrayList<>()).add(stepIndex);
                    }
                }
            });
            List<CollectingListener> ls = new ArrayList<>();
            for (int i = 0; i < streams; i++) {
                CollectingListener l = new CollectingListener();
                small.submit(new GenerationRequest("stream-" + i, prompts.get(i % prompts.size()), greedy), l);
                ls.add(l);
            }
            for (int i = 0; i < streams; i++) {
                assertThat(ls.get(i).await()).isEqualTo(FinishReason.LENGTH);
                assertThat(ls.get(i).tokenArray()).as("stream %d", i).containsExactly(alone.get(i % prompts.size()));
            }
            assertThat(small.stats().preemptions()).as("the pool forced preemption").isGreaterThan(streams);
            awaitNoBlocksUsed(small);
        }
        int maxPreemptions = 0;
        for (int i = 0; i < streams; i++) {
            List<Long> steps = computedIn.get("stream-" + i);
            int gaps = 0;
            long waited = 0;
            for (int k = 1; k < steps.size(); k++) {
                long gap = steps.get(k) - steps.get(k - 1) - 1;
                if (gap > 0) {
                    gaps++;
                    waited += gap;
                }
            }
            assertThat(gaps).as("preemptions of stream %d (computed in steps %s)", i, steps)
                    .isLessThanOrEqualTo(SchedulerConfig.DEFAULT_MAX_PREEMPTIONS);
            assertThat(waited).as("steps stream %d waited after its first step", i).isLessThanOrEqualTo(maxWaitSteps);
            maxPreemptions = Math.max(maxPreemptions, gaps);
        }
        assertThat(maxPreemptions).as("some stream reached the bound").isEqualTo(3);
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

    private static int[] greedyToTheContextLimit;

    /** Greedy from BOS, ignoring EOS and with max_tokens unset: only the context limit ends it (run once). */
    private static synchronized int[] greedyToTheContextLimit() throws Exception {
        if (greedyToTheContextLimit == null) {
            CollectingListener l = submit(engine, new int[]{1}, SamplingOptions.builder().temperature(0f)
                    .ignoreEos(true).build());
            assertThat(l.await()).isEqualTo(FinishReason.LENGTH);
            greedyToTheContextLimit = l.tokenArray();
        }
        return greedyToTheContextLimit.clone();
    }

    @Test
    void withMaxTokensUnsetARequestEndsAtTheContextLimit() throws Exception {
        int[] golden = golden();
        int[] all = greedyToTheContextLimit();
        // Prompt plus output fill the context exactly: 1 + 511 = 512 positions.
        assertThat(engine.maxModelLen()).isEqualTo(512);
        assertThat(all).hasSize(engine.maxModelLen() - 1).startsWith(golden);

        // A long prompt leaves only the rest of the context to generate, and the output continues the same text.
        int[] prompt = new int[500];
        prompt[0] = 1;
        System.arraycopy(all, 0, prompt, 1, prompt.length - 1);
        CollectingListener l = submit(engine, prompt, SamplingOptions.builder().temperature(0f).ignoreEos(true)
                .build());
        assertThat(l.await()).isEqualTo(FinishReason.LENGTH);
        assertThat(l.completionTokens).isEqualTo(12);
        assertThat(l.tokenArray()).containsExactly(Arrays.copyOfRange(all, prompt.length - 1, all.length));
        awaitIdle(engine);
    }

    @Test
    void withoutIgnoreEosGenerationStopsAtTheFirstEndOfSequenceTokenAndEmitsIt() throws Exception {
        int[] all = greedyToTheContextLimit();
        int eos = engine.servedModel().config().eosTokenIds()[0];
        int eosAt = -1;
        for (int i = 0; i < all.length && eosAt < 0; i++) {
            eosAt = all[i] == eos ? i : -1;
        }
        // The story ends (EOS, id 2) at output position 345, well before the context limit.
        assertThat(eosAt).as("the model's greedy story ends with EOS before the context limit").isPositive();

        CollectingListener l = submit(engine, new int[]{1}, SamplingOptions.builder().temperature(0f).build());
        assertThat(l.await()).isEqualTo(FinishReason.STOP);
        assertThat(l.tokenArray()).containsExactly(Arrays.copyOf(all, eosAt + 1));
        assertThat(l.completionTokens).isEqualTo(eosAt + 1);
    }

    /** One sequence per step, so a second request waits while the first runs. */
    static EngineConfig oneSequenceAtATime() {
        return new EngineConfig("cpu", 16, 32L << 20, 0.8, 2048, 1, 0, true);
    }

    static void assertFailedWith(CollectingListener l, Class<? extends Throwable> type, String message) {
        assertThatThrownBy(l::await).isInstanceOf(ExecutionException.class).cause().isInstanceOf(type)
                .hasMessageContaining(message);
    }

    /** No KV blocks used, nothing running or waiting (the snapshot may lag the listeners a little). */
    static void awaitIdle(LlamaEngine e) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 5000;
        while (!idle(e.stats()) && System.currentTimeMillis() < deadline) {
            Thread.sleep(5);
        }
        assertThat(e.stats().kvBlocksUsed()).isZero();
        assertThat(e.stats().running()).isZero();
        assertThat(e.stats().waiting()).isZero();
    }

    private static boolean idle(SchedulerStats s) {
        return s.kvBlocksUsed() == 0 && s.running() == 0 && s.waiting() == 0;
    }

    @Test
    void aFailingStepFailsOnlyItsOwnRequestsAndWaitingOnesStayQueued() throws Exception {
        int[] golden = Arrays.copyOf(golden(), 60);
        try (LlamaEngine e = new LlamaEngine(ServedModel.load(MODEL, "step-fault"), oneSequenceAtATime())) {
            String victim = nextId();
            AtomicInteger victimSteps = new AtomicInteger();
            e.injectFaults(new LlamaEngine.StepFaults() {
                @Override
                public void beforeForward(long stepIndex, List<String> requestIds) {
                    if (requestIds.contains(victim) && victimSteps.incrementAndGet() == 4) {
                        throw new IllegalStateException("injected fault in step " + stepIndex);
                    }
                }
            });
            CollectingListener failing = new CollectingListener();
            e.submit(new GenerationRequest(victim, new int[]{1},
                    SamplingOptions.builder().temperature(0f).maxTokens(50).ignoreEos(true).build()), failing);
            CollectingListener waiting = submit(e, new int[]{1}, SamplingOptions.greedy(golden.length));

            assertFailedWith(failing, IllegalStateException.class, "injected fault");
            assertThat(failing.tokenArray()).hasSize(3);
            assertThat(waiting.await()).isEqualTo(FinishReason.LENGTH);
            assertThat(waiting.tokenArray()).containsExactly(golden);
            assertThat(e.health().alive()).isTrue();
            awaitIdle(e);
        }
    }

    @Test
    void nonFiniteLogitsFailOnlyTheirOwnRequest() throws Exception {
        int[] golden = Arrays.copyOf(golden(), 60);
        try (LlamaEngine e = new LlamaEngine(ServedModel.load(MODEL, "nan-logits"),
                EngineConfig.defaults().withKvCacheBytes(32L << 20))) {
            String victim = nextId();
            AtomicInteger victimRows = new AtomicInteger();
            int vocab = e.model().vocabSize();
            e.injectFaults(new LlamaEngine.StepFaults() {
                @Override
                public void afterForward(long stepIndex, List<String> rowRequestIds, float[] logits) {
                    int row = rowRequestIds.indexOf(victim);
                    if (row >= 0 && victimRows.incrementAndGet() == 3) {
                        logits[row * vocab + 7] = Float.NaN;
                    }
                }
            });
            CollectingListener poisoned = new CollectingListener();
            CollectingListener healthy = new CollectingListener();
            // Submitted together, so they share steps: the healthy row sits next to the poisoned one.
            e.submit(new GenerationRequest(victim, new int[]{1},
                    SamplingOptions.builder().temperature(0.8f).seed(1L).maxTokens(50).ignoreEos(true).build()),
                    poisoned);
            e.submit(new GenerationRequest(nextId(), new int[]{1}, SamplingOptions.greedy(golden.length)), healthy);

            assertFailedWith(poisoned, IllegalStateException.class, "non-finite logit");
            assertThat(poisoned.tokenArray()).hasSize(2);
            assertThat(healthy.await()).isEqualTo(FinishReason.LENGTH);
            assertThat(healthy.tokenArray()).containsExactly(golden);
            awaitIdle(e);
        }
    }

    /** Forwards to a CollectingListener, except that the chosen callback throws instead. */
    static GenerationListener throwingListener(CollectingListener into, boolean onScheduled, int onTokensCall) {
        AtomicInteger calls = new AtomicInteger();
        return new GenerationListener() {
            @Override
            public void onScheduled() {
                if (onScheduled) {
                    throw new IllegalStateException("listener broke in onScheduled");
                }
            }

            @Override
            public void onTokens(int[] tokenIds, String text, TokenLogprobs[] logprobs) {
                if (calls.incrementAndGet() == onTokensCall) {
                    throw new IllegalStateException("listener broke in onTokens");
                }
                into.onTokens(tokenIds, text, logprobs);
            }

            @Override
            public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
                into.onFinish(reason, promptTokens, completionTokens);
            }

            @Override
            public void onError(Throwable error) {
                into.onError(error);
            }
        };
    }

    @Test
    void aListenerThatThrowsFailsOnlyItsOwnRequest() throws Exception {
        int[] golden = Arrays.copyOf(golden(), 60);
        SamplingOptions long60 = SamplingOptions.builder().temperature(0f).maxTokens(60).ignoreEos(true).build();
        CollectingListener brokenTokens = new CollectingListener();
        CollectingListener brokenScheduled = new CollectingListener();
        engine.submit(new GenerationRequest(nextId(), new int[]{1, 403}, long60),
                throwingListener(brokenTokens, false, 3));
        CollectingListener healthy = submit(engine, new int[]{1}, SamplingOptions.greedy(golden.length));
        engine.submit(new GenerationRequest(nextId(), new int[]{1, 407}, long60),
                throwingListener(brokenScheduled, true, 0));

        assertFailedWith(brokenTokens, IllegalStateException.class, "listener broke in onTokens");
        assertThat(brokenTokens.tokenArray()).hasSize(2);
        assertFailedWith(brokenScheduled, IllegalStateException.class, "listener broke in onScheduled");
        assertThat(brokenScheduled.tokenArray()).isEmpty();
        assertThat(healthy.await()).isEqualTo(FinishReason.LENGTH);
        assertThat(healthy.tokenArray()).containsExactly(golden);
        awaitIdle(engine);
    }

    @Test
    void anErrorThatKillsTheEngineThreadMakesItUnavailable() throws Exception {
        LlamaEngine e = new LlamaEngine(ServedModel.load(MODEL, "fatal"), oneSequenceAtATime());
        try {
            String victim = nextId();
            AtomicInteger victimSteps = new AtomicInteger();
            e.injectFaults(new LlamaEngine.StepFaults() {
                @Override
                public void beforeForward(long stepIndex, List<String> requestIds) {
                    if (requestIds.contains(victim) && victimSteps.incrementAndGet() == 3) {
                        throw new OutOfMemoryError("injected: no memory for step " + stepIndex);
                    }
                }
            });
            CollectingListener running = new CollectingListener();
            e.submit(new GenerationRequest(victim, new int[]{1},
                    SamplingOptions.builder().temperature(0f).maxTokens(50).ignoreEos(true).build()), running);
            CollectingListener waiting = submit(e, new int[]{1}, SamplingOptions.greedy(20));

            assertThatThrownBy(running::await).isInstanceOf(ExecutionException.class).cause()
                    .isInstanceOf(EngineUnavailableException.class).hasMessageContaining("stopped after an internal error")
                    .rootCause().isInstanceOf(OutOfMemoryError.class).hasMessageContaining("no memory for step");
            assertThatThrownBy(waiting::await).isInstanceOf(ExecutionException.class).cause()
                    .isInstanceOf(EngineUnavailableException.class);
            long deadline = System.currentTimeMillis() + 5000;
            while (e.health().alive() && System.currentTimeMillis() < deadline) {
                Thread.sleep(5);
            }
            assertThat(e.health().alive()).isFalse();
            assertThatThrownBy(() -> submit(e, new int[]{1}, SamplingOptions.greedy(5)))
                    .isInstanceOf(EngineUnavailableException.class).hasMessageContaining("stopped after an internal error")
                    .hasRootCauseInstanceOf(OutOfMemoryError.class);
        } finally {
            e.close();
        }
    }

    @Test
    void aThousandRequestsCancelledRightAfterSubmissionAllEndAndFreeEverything() throws Exception {
        try (LlamaEngine e = new LlamaEngine(ServedModel.load(MODEL, "cancel-storm"),
                EngineConfig.defaults().withKvCacheBytes(32L << 20))) {
            // Without a cancel these would run to the full context, far longer than the test waits.
            SamplingOptions endless = SamplingOptions.builder().temperature(0.8f).seed(2L).ignoreEos(true).build();
            Map<String, CollectingListener> listeners = new ConcurrentHashMap<>();
            List<Thread> submitters = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                Thread thread = new Thread(() -> {
                    for (int i = 0; i < 250; i++) {
                        String id = nextId();
                        CollectingListener l = new CollectingListener();
                        listeners.put(id, l);
                        e.submit(new GenerationRequest(id, new int[]{1, 403, 407}, endless), l).cancel();
                    }
                });
                submitters.add(thread);
                thread.start();
            }
            for (Thread thread : submitters) {
                thread.join();
            }
            assertThat(listeners).hasSize(1000);
            long deadline = System.nanoTime() + 60_000_000_000L;
            Map<String, Long> outcomes = new java.util.TreeMap<>();
            for (CollectingListener l : listeners.values()) {
                outcomes.merge(outcome(l, deadline), 1L, Long::sum);
            }
            assertThat(outcomes).containsExactly(Map.entry("ABORTED", 1000L));
            awaitIdle(e);
        }
    }

    @Test
    void aCancelThatLandsWhileTheEngineIsEndingOtherRequestsIsNotLost() throws Exception {
        // Each request, when it ends, submits the next one and cancels it at once. Its onFinish runs on
        // the engine thread while the engine works through its cancellations, so every such cancel
        // reaches the engine before the request it cancels has been admitted.
        try (LlamaEngine e = new LlamaEngine(ServedModel.load(MODEL, "cancel-chain"),
                EngineConfig.defaults().withKvCacheBytes(32L << 20))) {
            SamplingOptions options = SamplingOptions.builder().temperature(0f).maxTokens(200).ignoreEos(true).build();
            List<CollectingListener> chain = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                chain.add(new CollectingListener());
            }
            for (int i = 0; i < chain.size() - 1; i++) {
                CollectingListener next = chain.get(i + 1);
                chain.get(i).finished.thenRun(() ->
                        e.submit(new GenerationRequest(nextId(), new int[]{1, 403}, options), next).cancel());
            }
            e.submit(new GenerationRequest(nextId(), new int[]{1, 403}, options), chain.get(0)).cancel();
            long deadline = System.nanoTime() + 60_000_000_000L;
            Map<String, Long> outcomes = new java.util.TreeMap<>();
            for (CollectingListener l : chain.subList(1, chain.size())) {
                outcomes.merge(outcome(l, deadline), 1L, Long::sum);
            }
            assertThat(outcomes).containsExactly(Map.entry("ABORTED", 99L));
            awaitIdle(e);
        }
    }

    /** How a request ended by {@code deadline} (System.nanoTime): its finish reason, "error" or "unfinished". */
    static String outcome(CollectingListener l, long deadline) throws InterruptedException {
        try {
            return l.finished.get(Math.max(0, deadline - System.nanoTime()), java.util.concurrent.TimeUnit.NANOSECONDS)
                    .name();
        } catch (ExecutionException e) {
            return "error";
        } catch (java.util.concurrent.TimeoutException e) {
            return "unfinished";
        }
    }
}
