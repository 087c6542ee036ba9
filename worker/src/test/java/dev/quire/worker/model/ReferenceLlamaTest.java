package dev.quire.worker.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Validates the oracle itself against llama2.c's greedy output for the real stories260K model. */
class ReferenceLlamaTest {

    private static ReferenceLlama model;
    private static int[] golden;

    @BeforeAll
    static void load() {
        ModelConfig config = ModelConfig.load(TestModels.stories260K());
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(TestModels.stories260K())) {
            LlamaCheckpointLayout.validate(config, checkpoint);
            model = new ReferenceLlama(config, checkpoint);
        }
        golden = TestModels.goldenGreedyIds();
    }

    /**
     * Greedy decoding picks, at every step, the argmax of the last position's logits. The model is
     * causal, so the logits at position t of the whole golden sequence are those of its first t + 1
     * tokens: one full pass over [BOS] + golden checks every greedy step at once.
     */
    @Test
    void everyGreedyStepOfTheGoldenSequenceIsReproduced() {
        int[] sequence = new int[golden.length];
        sequence[0] = 1;
        System.arraycopy(golden, 0, sequence, 1, golden.length - 1);
        double[][] logits = model.logits(sequence);

        int[] predicted = new int[golden.length];
        for (int t = 0; t < golden.length; t++) {
            predicted[t] = ReferenceLlama.argmax(logits[t]);
        }
        assertThat(predicted).containsExactly(golden);
    }

    @Test
    void greedyDecodingFromBosMatchesTheGoldenIds() {
        // Full recomputation is quadratic, so this runs the first 48 steps; the test above covers all.
        int[] generated = model.greedy(new int[] {1}, 48);
        assertThat(generated).containsExactly(Arrays.copyOf(golden, 48));
        assertThat(Arrays.copyOf(generated, 4)).containsExactly(403, 407, 261, 378); // "Once upon a time"
    }

    @Test
    void logitsAreCausal() {
        int[] sequence = {1, 403, 407, 261, 378, 432, 383, 286};
        double[][] full = model.logits(sequence);
        for (int t = 1; t <= sequence.length; t++) {
            double[][] prefix = model.logits(Arrays.copyOf(sequence, t));
            assertThat(prefix[t - 1]).as("position %d", t - 1).containsExactly(full[t - 1]);
        }
    }
}
