package dev.quire.worker.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The tensors a Llama-family model of a given config needs, under Hugging Face names, and a check
 * of a checkpoint against them before any weights are loaded (so a mismatch fails with a clear
 * message instead of a shape error deep inside the forward pass).
 */
public final class LlamaCheckpointLayout {

    /** Lists at most this many problems in one message. */
    private static final int MAX_LISTED = 10;

    private LlamaCheckpointLayout() {}

    /**
     * A tensor the model needs.
     *
     * @param name its Hugging Face name
     * @param shape its dimensions ([out, in] for projection weights)
     */
    public record ExpectedTensor(String name, long[] shape) {
        /** Copies the shape. */
        public ExpectedTensor {
            Objects.requireNonNull(name, "name");
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof ExpectedTensor t && name.equals(t.name) && Arrays.equals(shape, t.shape);
        }

        @Override
        public int hashCode() {
            return 31 * name.hashCode() + Arrays.hashCode(shape);
        }

        @Override
        public String toString() {
            return name + Arrays.toString(shape);
        }
    }

    /**
     * The tensors of a Llama of this config, embedding first, then layer by layer, then the final
     * norm and (unless tied) the LM head.
     */
    public static List<ExpectedTensor> expectedTensors(ModelConfig config) {
        long hidden = config.hiddenSize();
        long inter = config.intermediateSize();
        long qDim = (long) config.numHeads() * config.headDim();
        long kvDim = (long) config.numKvHeads() * config.headDim();
        long vocab = config.vocabSize();
        List<ExpectedTensor> out = new ArrayList<>();
        out.add(new ExpectedTensor("model.embed_tokens.weight", new long[] {vocab, hidden}));
        for (int i = 0; i < config.numLayers(); i++) {
            String p = "model.layers." + i + ".";
            out.add(new ExpectedTensor(p + "input_layernorm.weight", new long[] {hidden}));
            out.add(new ExpectedTensor(p + "self_attn.q_proj.weight", new long[] {qDim, hidden}));
            out.add(new ExpectedTensor(p + "self_attn.k_proj.weight", new long[] {kvDim, hidden}));
            out.add(new ExpectedTensor(p + "self_attn.v_proj.weight", new long[] {kvDim, hidden}));
            if (config.attentionBias()) {
                out.add(new ExpectedTensor(p + "self_attn.q_proj.bias", new long[] {qDim}));
                out.add(new ExpectedTensor(p + "self_attn.k_proj.bias", new long[] {kvDim}));
                out.add(new ExpectedTensor(p + "self_attn.v_proj.bias", new long[] {kvDim}));
            }
            out.add(new ExpectedTensor(p + "self_attn.o_proj.weight", new long[] {hidden, qDim}));
            out.add(new ExpectedTensor(p + "post_attention_layernorm.weight", new long[] {hidden}));
            out.add(new ExpectedTensor(p + "mlp.gate_proj.weight", new long[] {inter, hidden}));
            out.add(new ExpectedTensor(p + "mlp.up_proj.weight", new long[] {inter, hidden}));
            out.add(new ExpectedTensor(p + "mlp.down_proj.weight", new long[] {hidden, inter}));
        }
        out.add(new ExpectedTensor("model.norm.weight", new long[] {hidden}));
        if (!config.tieWordEmbeddings()) {
            out.add(new ExpectedTensor("lm_head.weight", new long[] {vocab, hidden}));
        }
        return List.copyOf(out);
    }

    /**
     * Checks that every expected tensor is present with the right shape and a readable dtype.
     * Extra tensors are ignored (e.g. an {@code lm_head.weight} next to tied embeddings).
     *
     * @throws CheckpointException naming the file, the tensor and the problem (for a wrong shape:
     *     expected and actual); with several problems, the first ten are listed
     */
    public static void validate(ModelConfig config, SafetensorsCheckpoint checkpoint) {
        List<String> problems = new ArrayList<>();
        for (ExpectedTensor expected : expectedTensors(config)) {
            if (!checkpoint.contains(expected.name())) {
                problems.add(checkpoint.sourceName() + ": missing tensor '" + expected.name() + "'");
                continue;
            }
            TensorInfo info;
            try {
                info = checkpoint.info(expected.name()); // throws for dtypes Quire cannot read
            } catch (CheckpointException e) {
                problems.add(e.getMessage());
                continue;
            }
            if (!Arrays.equals(info.shape(), expected.shape())) {
                problems.add(info.file().getFileName() + ": tensor '" + expected.name() + "' has shape "
                        + Arrays.toString(info.shape()) + " but the config needs " + Arrays.toString(expected.shape()));
            }
        }
        if (problems.size() == 1) {
            throw new CheckpointException(problems.get(0));
        }
        if (!problems.isEmpty()) {
            StringBuilder message = new StringBuilder()
                    .append(checkpoint.sourceName()).append(": does not match config.json (")
                    .append(problems.size()).append(" problems): ");
            message.append(String.join("; ", problems.subList(0, Math.min(MAX_LISTED, problems.size()))));
            if (problems.size() > MAX_LISTED) {
                message.append("; ...");
            }
            throw new CheckpointException(message.toString());
        }
    }
}
