package dev.quire.worker.model;

/**
 * The {@code rope_scaling} entry of a Hugging Face config. Which fields matter depends on the type:
 * {@code "linear"} uses {@code factor}; {@code "llama3"} uses all four (see
 * {@link ModelConfig#ropeInverseFrequencies()}). Unused fields are 0.
 *
 * @param type the scaling type in lower case, as written under {@code rope_type} (or the older
 *     {@code type})
 * @param factor the context extension factor
 * @param lowFreqFactor llama3: wavelengths above {@code originalMaxPositionEmbeddings / lowFreqFactor}
 *     are divided by {@code factor}
 * @param highFreqFactor llama3: wavelengths below {@code originalMaxPositionEmbeddings / highFreqFactor}
 *     are left alone; in between they are interpolated
 * @param originalMaxPositionEmbeddings llama3: the context length the model was pre-trained with
 */
public record RopeScaling(
        String type,
        double factor,
        double lowFreqFactor,
        double highFreqFactor,
        int originalMaxPositionEmbeddings) {

    /** Linear position interpolation: every frequency divided by {@code factor}. */
    public static RopeScaling linear(double factor) {
        return new RopeScaling("linear", factor, 0, 0, 0);
    }

    /** Llama 3.x frequency-dependent scaling. */
    public static RopeScaling llama3(
            double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositionEmbeddings) {
        return new RopeScaling("llama3", factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings);
    }
}
