package dev.quire.worker.model;

/** RoPE inverse frequencies of a {@link ModelConfig}, with its {@code rope_scaling} applied. */
final class RopeFrequencies {

    private RopeFrequencies() {}

    /**
     * See {@link ModelConfig#ropeInverseFrequencies()}.
     *
     * @param source how to name config.json in errors
     */
    static double[] inverse(ModelConfig config, String source) {
        int headDim = config.headDim();
        double ropeTheta = config.ropeTheta();
        RopeScaling s = config.ropeScaling();
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = 1.0 / Math.pow(ropeTheta, (2.0 * i) / headDim);
        }
        if (s == null) {
            return inv;
        }
        switch (s.type()) {
            case "default" -> { }
            case "linear" -> {
                requireScaling(s.factor() > 0, source, "linear factor must be positive, got " + s.factor());
                for (int i = 0; i < inv.length; i++) {
                    inv[i] /= s.factor();
                }
            }
            case "llama3" -> {
                requireScaling(s.factor() > 0, source, "llama3 factor must be positive, got " + s.factor());
                requireScaling(s.lowFreqFactor() > 0 && s.highFreqFactor() > s.lowFreqFactor(), source,
                        "llama3 needs 0 < low_freq_factor < high_freq_factor, got "
                                + s.lowFreqFactor() + " and " + s.highFreqFactor());
                requireScaling(s.originalMaxPositionEmbeddings() > 0, source,
                        "llama3 original_max_position_embeddings must be positive, got "
                                + s.originalMaxPositionEmbeddings());
                double original = s.originalMaxPositionEmbeddings();
                double lowFreqWavelength = original / s.lowFreqFactor();
                double highFreqWavelength = original / s.highFreqFactor();
                for (int i = 0; i < inv.length; i++) {
                    double wavelength = 2 * Math.PI / inv[i];
                    if (wavelength > lowFreqWavelength) {
                        inv[i] /= s.factor();
                    } else if (wavelength >= highFreqWavelength) {
                        double smooth = (original / wavelength - s.lowFreqFactor())
                                / (s.highFreqFactor() - s.lowFreqFactor());
                        inv[i] = (1 - smooth) * inv[i] / s.factor() + smooth * inv[i];
                    }
                }
            }
            default -> throw new CheckpointException(source + ": unsupported rope_scaling type '" + s.type()
                    + "' (supported: default, linear, llama3)");
        }
        return inv;
    }

    private static void requireScaling(boolean ok, String source, String problem) {
        if (!ok) {
            throw new CheckpointException(source + ": bad rope_scaling: " + problem);
        }
    }
}
