package dev.quire.worker.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The architecture of a Llama-family model, read from a Hugging Face {@code config.json} (and
 * {@code generation_config.json}). Instances are always valid: the constructor rejects
 * inconsistent values with {@link IllegalArgumentException}; the loaders turn that into a
 * {@link CheckpointException} naming the file.
 *
 * @param modelType {@code llama}, {@code mistral} or {@code qwen2}
 * @param hiddenSize the residual stream width
 * @param intermediateSize the MLP width
 * @param numLayers decoder layers
 * @param numHeads query heads
 * @param numKvHeads key/value heads (fewer than {@code numHeads} for grouped-query attention)
 * @param headDim width of one head
 * @param vocabSize rows of the embedding and LM head
 * @param maxPositionEmbeddings the longest sequence the model supports
 * @param rmsNormEps epsilon of every RMSNorm
 * @param ropeTheta RoPE base
 * @param ropeScaling RoPE frequency scaling, or {@code null} for none
 * @param tieWordEmbeddings whether the LM head reuses the embedding matrix
 * @param attentionBias whether q/k/v projections have biases (always so for qwen2)
 * @param bosTokenId the beginning-of-sequence id, or -1 if the model declares none
 * @param eosTokenIds ids that end generation (at least one)
 */
public record ModelConfig(
        String modelType,
        int hiddenSize,
        int intermediateSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int vocabSize,
        int maxPositionEmbeddings,
        double rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        boolean tieWordEmbeddings,
        boolean attentionBias,
        int bosTokenId,
        int[] eosTokenIds) {

    /** The {@code model_type} values Quire can run. */
    public static final List<String> SUPPORTED_MODEL_TYPES = List.of("llama", "mistral", "qwen2");

    static final ObjectMapper JSON =
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private static final String CONFIG_FILE = "config.json";
    private static final String GENERATION_CONFIG_FILE = "generation_config.json";

    /** Validates; see the class comment. */
    public ModelConfig {
        Objects.requireNonNull(modelType, "modelType");
        if (!SUPPORTED_MODEL_TYPES.contains(modelType)) {
            throw new IllegalArgumentException(
                    "unsupported model_type '" + modelType + "' (supported: llama, mistral, qwen2)");
        }
        requirePositive(hiddenSize, "hidden_size");
        requirePositive(intermediateSize, "intermediate_size");
        requirePositive(numLayers, "num_hidden_layers");
        requirePositive(numHeads, "num_attention_heads");
        requirePositive(numKvHeads, "num_key_value_heads");
        requirePositive(headDim, "head_dim");
        requirePositive(vocabSize, "vocab_size");
        requirePositive(maxPositionEmbeddings, "max_position_embeddings");
        if (numHeads % numKvHeads != 0) {
            throw new IllegalArgumentException("num_attention_heads (" + numHeads
                    + ") is not a multiple of num_key_value_heads (" + numKvHeads + ")");
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("head_dim must be even for RoPE, got " + headDim);
        }
        if (!(rmsNormEps > 0) || Double.isInfinite(rmsNormEps)) {
            throw new IllegalArgumentException("rms_norm_eps must be positive, got " + rmsNormEps);
        }
        if (!(ropeTheta > 0) || Double.isInfinite(ropeTheta)) {
            throw new IllegalArgumentException("rope_theta must be positive, got " + ropeTheta);
        }
        if (modelType.equals("qwen2") && !attentionBias) {
            throw new IllegalArgumentException("qwen2 always has q/k/v biases: attentionBias must be true");
        }
        if (bosTokenId < -1) {
            throw new IllegalArgumentException("bos_token_id must be >= 0, got " + bosTokenId);
        }
        Objects.requireNonNull(eosTokenIds, "eosTokenIds");
        if (eosTokenIds.length == 0) {
            throw new IllegalArgumentException("eos_token_id must name at least one token");
        }
        eosTokenIds = eosTokenIds.clone();
        for (int id : eosTokenIds) {
            if (id < 0) {
                throw new IllegalArgumentException("eos_token_id must be >= 0, got " + id);
            }
        }
    }

    /**
     * A plain Llama config with common defaults (head_dim = hidden/heads, eps 1e-5, theta 10000,
     * no RoPE scaling, no biases, BOS 1, EOS 2), for tests and random checkpoints.
     */
    public static ModelConfig llama(
            int hiddenSize,
            int intermediateSize,
            int numLayers,
            int numHeads,
            int numKvHeads,
            int vocabSize,
            int maxPositionEmbeddings,
            boolean tieWordEmbeddings) {
        if (numHeads <= 0 || hiddenSize % numHeads != 0) {
            throw new IllegalArgumentException(
                    "hidden size " + hiddenSize + " is not a multiple of the head count " + numHeads);
        }
        return new ModelConfig("llama", hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads,
                hiddenSize / numHeads, vocabSize, maxPositionEmbeddings, 1e-5, 10000.0, null,
                tieWordEmbeddings, false, 1, new int[] {2});
    }

    /**
     * Reads {@code config.json} and, if present, {@code generation_config.json} from a model folder.
     *
     * @throws CheckpointException if config.json is missing, malformed or describes an unsupported model
     */
    public static ModelConfig load(Path modelDir) {
        Path configFile = modelDir.resolve(CONFIG_FILE);
        String config;
        try {
            config = Files.readString(configFile, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(configFile + ": not found", e);
        } catch (IOException e) {
            throw new CheckpointException(configFile + ": cannot read: " + e.getMessage(), e);
        }
        Path generationFile = modelDir.resolve(GENERATION_CONFIG_FILE);
        String generation = null;
        if (Files.exists(generationFile)) {
            try {
                generation = Files.readString(generationFile, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new CheckpointException(generationFile + ": cannot read: " + e.getMessage(), e);
            }
        }
        return fromJson(config, generation, configFile.toString());
    }

    /**
     * Parses config text. {@code eos_token_id} of the generation config (an int or a list) extends
     * the config's own (generation config ids first: Hugging Face's {@code generate} uses them);
     * its {@code bos_token_id} overrides the config's.
     *
     * @param configJson the text of config.json
     * @param generationConfigJsonOrNull the text of generation_config.json, or null
     * @param sourceName how to name config.json in error messages (a path, or just "config.json")
     * @throws CheckpointException naming the file, the key and the problem
     */
    public static ModelConfig fromJson(String configJson, String generationConfigJsonOrNull, String sourceName) {
        return ModelConfigJson.parse(configJson, generationConfigJsonOrNull, sourceName);
    }

    /** Hugging Face-style config.json text describing this model (no generation config needed). */
    public String toJson() {
        try {
            return JSON.writeValueAsString(toJsonNode());
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    ObjectNode toJsonNode() {
        return ModelConfigJson.write(this);
    }

    /**
     * RoPE inverse frequencies {@code 1 / theta^(2i/headDim)} for {@code i < headDim/2}, with
     * {@code rope_scaling} applied ("linear": divided by the factor; "llama3": low frequencies
     * divided by the factor, high ones kept, a smooth blend in between).
     *
     * @throws CheckpointException naming config.json for an unsupported scaling type or bad values
     */
    public double[] ropeInverseFrequencies() {
        return RopeFrequencies.inverse(this, "config.json");
    }

    /** @return whether generation stops at this token */
    public boolean isEos(int tokenId) {
        for (int id : eosTokenIds) {
            if (id == tokenId) {
                return true;
            }
        }
        return false;
    }

    /** @return the width of the K (or V) projection: {@code numKvHeads * headDim} */
    public int kvDim() {
        return numKvHeads * headDim;
    }

    /** @return the width of the Q projection: {@code numHeads * headDim} */
    public int qDim() {
        return numHeads * headDim;
    }

    /** @return a copy of the end-of-sequence ids */
    @Override
    public int[] eosTokenIds() {
        return eosTokenIds.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ModelConfig c
                && modelType.equals(c.modelType)
                && hiddenSize == c.hiddenSize
                && intermediateSize == c.intermediateSize
                && numLayers == c.numLayers
                && numHeads == c.numHeads
                && numKvHeads == c.numKvHeads
                && headDim == c.headDim
                && vocabSize == c.vocabSize
                && maxPositionEmbeddings == c.maxPositionEmbeddings
                && Double.compare(rmsNormEps, c.rmsNormEps) == 0
                && Double.compare(ropeTheta, c.ropeTheta) == 0
                && Objects.equals(ropeScaling, c.ropeScaling)
                && tieWordEmbeddings == c.tieWordEmbeddings
                && attentionBias == c.attentionBias
                && bosTokenId == c.bosTokenId
                && Arrays.equals(eosTokenIds, c.eosTokenIds);
    }

    @Override
    public int hashCode() {
        return Objects.hash(modelType, hiddenSize, intermediateSize, numLayers, numHeads, numKvHeads, headDim,
                vocabSize, maxPositionEmbeddings, rmsNormEps, ropeTheta, ropeScaling, tieWordEmbeddings,
                attentionBias, bosTokenId, Arrays.hashCode(eosTokenIds));
    }

    @Override
    public String toString() {
        return "ModelConfig[" + modelType + ", hidden=" + hiddenSize + ", intermediate=" + intermediateSize
                + ", layers=" + numLayers + ", heads=" + numHeads + ", kvHeads=" + numKvHeads + ", headDim="
                + headDim + ", vocab=" + vocabSize + ", maxPos=" + maxPositionEmbeddings + ", eps=" + rmsNormEps
                + ", theta=" + ropeTheta + ", ropeScaling=" + ropeScaling + ", tied=" + tieWordEmbeddings
                + ", attentionBias=" + attentionBias + ", bos=" + bosTokenId + ", eos="
                + Arrays.toString(eosTokenIds) + "]";
    }

    private static void requirePositive(int value, String key) {
        if (value <= 0) {
            throw new IllegalArgumentException(key + " must be positive, got " + value);
        }
    }
}
