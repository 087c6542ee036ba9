package dev.quire.worker.model;

/**
 * An independent, deliberately plain Llama forward pass: double precision, no DJL, no KV cache,
 * every position recomputed from scratch. It is the oracle that faster implementations are checked
 * against, so it favours being obviously correct over being fast.
 *
 * <p>Conventions are Hugging Face's: projection weights are [out, in]; RoPE is "rotate half"
 * (dimension i is paired with i + headDim/2, the q/k rows having been permuted by the converter);
 * query head h reads key/value head h / (heads / kvHeads); RMSNorm is x * w / sqrt(mean(x²) + eps);
 * the MLP is down(silu(gate(x)) * up(x)).
 */
public final class ReferenceLlama {

    private final ModelConfig config;
    private final double[][] embedding; // [vocab][hidden]
    private final Layer[] layers;
    private final double[] finalNorm;
    private final double[][] lmHead; // [vocab][hidden]; the embedding itself when tied
    private final double[] inverseFrequencies;

    /** One decoder layer's weights; biases are null when the model has none. */
    private record Layer(
            double[] inputNorm,
            double[][] q, double[] qBias,
            double[][] k, double[] kBias,
            double[][] v, double[] vBias,
            double[][] o,
            double[] postAttentionNorm,
            double[][] gate, double[][] up, double[][] down) {}

    /** Loads every weight into double arrays (fine for test-sized models). */
    public ReferenceLlama(ModelConfig config, SafetensorsCheckpoint checkpoint) {
        this.config = config;
        this.embedding = matrix(checkpoint, "model.embed_tokens.weight", config.vocabSize(), config.hiddenSize());
        this.layers = new Layer[config.numLayers()];
        int hidden = config.hiddenSize();
        int qDim = config.numHeads() * config.headDim();
        int kvDim = config.numKvHeads() * config.headDim();
        int inter = config.intermediateSize();
        for (int i = 0; i < layers.length; i++) {
            String p = "model.layers." + i + ".";
            boolean bias = config.attentionBias();
            layers[i] = new Layer(
                    vector(checkpoint, p + "input_layernorm.weight", hidden),
                    matrix(checkpoint, p + "self_attn.q_proj.weight", qDim, hidden),
                    bias ? vector(checkpoint, p + "self_attn.q_proj.bias", qDim) : null,
                    matrix(checkpoint, p + "self_attn.k_proj.weight", kvDim, hidden),
                    bias ? vector(checkpoint, p + "self_attn.k_proj.bias", kvDim) : null,
                    matrix(checkpoint, p + "self_attn.v_proj.weight", kvDim, hidden),
                    bias ? vector(checkpoint, p + "self_attn.v_proj.bias", kvDim) : null,
                    matrix(checkpoint, p + "self_attn.o_proj.weight", hidden, qDim),
                    vector(checkpoint, p + "post_attention_layernorm.weight", hidden),
                    matrix(checkpoint, p + "mlp.gate_proj.weight", inter, hidden),
                    matrix(checkpoint, p + "mlp.up_proj.weight", inter, hidden),
                    matrix(checkpoint, p + "mlp.down_proj.weight", hidden, inter));
        }
        this.finalNorm = vector(checkpoint, "model.norm.weight", hidden);
        this.lmHead = config.tieWordEmbeddings()
                ? embedding
                : matrix(checkpoint, "lm_head.weight", config.vocabSize(), hidden);
        this.inverseFrequencies = inverseFrequencies(config);
    }

    /** theta^(-2i/d) computed here for the plain case, so the oracle does not trust the code under test. */
    private static double[] inverseFrequencies(ModelConfig config) {
        RopeScaling scaling = config.ropeScaling();
        if (scaling != null && !scaling.type().equals("default")) {
            return config.ropeInverseFrequencies(); // scaled variants: tested on their own in ModelConfigTest
        }
        double[] inv = new double[config.headDim() / 2];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = Math.pow(config.ropeTheta(), -2.0 * i / config.headDim());
        }
        return inv;
    }

    /** @return logits[position][vocab] for every position of the sequence */
    public double[][] logits(int[] tokens) {
        int n = tokens.length;
        double[][] x = new double[n][];
        for (int t = 0; t < n; t++) {
            if (tokens[t] < 0 || tokens[t] >= config.vocabSize()) {
                throw new IllegalArgumentException("token " + tokens[t] + " outside the vocabulary");
            }
            x[t] = embedding[tokens[t]].clone();
        }
        for (Layer layer : layers) {
            attention(layer, x);
            mlp(layer, x);
        }
        double[][] logits = new double[n][];
        for (int t = 0; t < n; t++) {
            logits[t] = matVec(lmHead, rmsNorm(x[t], finalNorm));
        }
        return logits;
    }

    /** Greedy decoding by full recomputation: n tokens after the prompt (ties go to the lowest id). */
    public int[] greedy(int[] prompt, int n) {
        int[] sequence = prompt.clone();
        int[] generated = new int[n];
        for (int i = 0; i < n; i++) {
            double[][] logits = logits(sequence);
            generated[i] = argmax(logits[sequence.length - 1]);
            sequence = java.util.Arrays.copyOf(sequence, sequence.length + 1);
            sequence[sequence.length - 1] = generated[i];
        }
        return generated;
    }

    /** @return the index of the largest value (the first one on ties) */
    public static int argmax(double[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }

    /** x[t] += o(softmax(q k^T / sqrt(d)) v) for every position t, causally. */
    private void attention(Layer layer, double[][] x) {
        int n = x.length;
        int headDim = config.headDim();
        int groupSize = config.numHeads() / config.numKvHeads();
        double[][] q = new double[n][];
        double[][] k = new double[n][];
        double[][] v = new double[n][];
        for (int t = 0; t < n; t++) {
            double[] h = rmsNorm(x[t], layer.inputNorm());
            q[t] = addBias(matVec(layer.q(), h), layer.qBias());
            k[t] = addBias(matVec(layer.k(), h), layer.kBias());
            v[t] = addBias(matVec(layer.v(), h), layer.vBias());
            rotate(q[t], config.numHeads(), t);
            rotate(k[t], config.numKvHeads(), t);
        }
        double scale = 1.0 / Math.sqrt(headDim);
        for (int t = 0; t < n; t++) {
            double[] out = new double[config.numHeads() * headDim];
            for (int head = 0; head < config.numHeads(); head++) {
                int qOffset = head * headDim;
                int kvOffset = (head / groupSize) * headDim;
                double[] scores = new double[t + 1]; // causal: positions 0..t only
                for (int s = 0; s <= t; s++) {
                    double dot = 0;
                    for (int i = 0; i < headDim; i++) {
                        dot += q[t][qOffset + i] * k[s][kvOffset + i];
                    }
                    scores[s] = dot * scale;
                }
                softmaxInPlace(scores);
                for (int s = 0; s <= t; s++) {
                    for (int i = 0; i < headDim; i++) {
                        out[qOffset + i] += scores[s] * v[s][kvOffset + i];
                    }
                }
            }
            addInPlace(x[t], matVec(layer.o(), out));
        }
    }

    /** x[t] += down(silu(gate(h)) * up(h)) with h = rmsNorm(x[t]). */
    private void mlp(Layer layer, double[][] x) {
        for (double[] row : x) {
            double[] h = rmsNorm(row, layer.postAttentionNorm());
            double[] gate = matVec(layer.gate(), h);
            double[] up = matVec(layer.up(), h);
            double[] activated = new double[gate.length];
            for (int i = 0; i < gate.length; i++) {
                activated[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i]; // silu(g) = g * sigmoid(g)
            }
            addInPlace(row, matVec(layer.down(), activated));
        }
    }

    /** Rotate-half RoPE at position pos, head by head: (a, b) -> (a cos - b sin, b cos + a sin). */
    private void rotate(double[] vector, int heads, int pos) {
        int headDim = config.headDim();
        int half = headDim / 2;
        for (int head = 0; head < heads; head++) {
            int offset = head * headDim;
            for (int i = 0; i < half; i++) {
                double angle = pos * inverseFrequencies[i];
                double cos = Math.cos(angle);
                double sin = Math.sin(angle);
                double a = vector[offset + i];
                double b = vector[offset + i + half];
                vector[offset + i] = a * cos - b * sin;
                vector[offset + i + half] = b * cos + a * sin;
            }
        }
    }

    private double[] rmsNorm(double[] x, double[] weight) {
        double sumOfSquares = 0;
        for (double value : x) {
            sumOfSquares += value * value;
        }
        double inverseRms = 1.0 / Math.sqrt(sumOfSquares / x.length + config.rmsNormEps());
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * inverseRms * weight[i];
        }
        return out;
    }

    private static void softmaxInPlace(double[] values) {
        double max = Double.NEGATIVE_INFINITY;
        for (double value : values) {
            max = Math.max(max, value);
        }
        double sum = 0;
        for (int i = 0; i < values.length; i++) {
            values[i] = Math.exp(values[i] - max);
            sum += values[i];
        }
        for (int i = 0; i < values.length; i++) {
            values[i] /= sum;
        }
    }

    /** W x for W stored [out][in]. */
    private static double[] matVec(double[][] weight, double[] x) {
        double[] out = new double[weight.length];
        for (int r = 0; r < weight.length; r++) {
            double[] row = weight[r];
            double sum = 0;
            for (int c = 0; c < x.length; c++) {
                sum += row[c] * x[c];
            }
            out[r] = sum;
        }
        return out;
    }

    private static double[] addBias(double[] x, double[] bias) {
        if (bias != null) {
            addInPlace(x, bias);
        }
        return x;
    }

    private static void addInPlace(double[] x, double[] y) {
        for (int i = 0; i < x.length; i++) {
            x[i] += y[i];
        }
    }

    private static double[] vector(SafetensorsCheckpoint checkpoint, String name, int length) {
        float[] values = checkpoint.readFloats(name);
        if (values.length != length) {
            throw new IllegalArgumentException(name + ": expected " + length + " values, got " + values.length);
        }
        double[] out = new double[length];
        for (int i = 0; i < length; i++) {
            out[i] = values[i];
        }
        return out;
    }

    private static double[][] matrix(SafetensorsCheckpoint checkpoint, String name, int rows, int columns) {
        float[] values = checkpoint.readFloats(name);
        if (values.length != (long) rows * columns) {
            throw new IllegalArgumentException(
                    name + ": expected " + rows + "x" + columns + " values, got " + values.length);
        }
        double[][] out = new double[rows][columns];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < columns; c++) {
                out[r][c] = values[r * columns + c];
            }
        }
        return out;
    }
}
