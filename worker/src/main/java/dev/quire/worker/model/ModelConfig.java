package dev.quire.worker.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

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
        String generationName = sourceName.endsWith(CONFIG_FILE)
                ? sourceName.substring(0, sourceName.length() - CONFIG_FILE.length()) + GENERATION_CONFIG_FILE
                : GENERATION_CONFIG_FILE;
        JsonNode root = parseObject(configJson, sourceName);
        JsonNode generation =
                generationConfigJsonOrNull == null ? null : parseObject(generationConfigJsonOrNull, generationName);
        Fields f = new Fields(root, sourceName);

        String modelType = f.requiredString("model_type");
        if (!SUPPORTED_MODEL_TYPES.contains(modelType)) {
            throw new CheckpointException(sourceName + ": unsupported model_type '" + modelType
                    + "' (supported: llama, mistral, qwen2)");
        }
        String hiddenAct = f.optionalString("hidden_act", "silu");
        // Hugging Face treats "swish" as another name for SiLU.
        if (!hiddenAct.equals("silu") && !hiddenAct.equals("swish")) {
            throw new CheckpointException(sourceName + ": unsupported hidden_act '" + hiddenAct + "' (supported: silu)");
        }
        if (f.optionalBoolean("mlp_bias", false)) {
            throw new CheckpointException(sourceName + ": unsupported mlp_bias true (MLP projections must be bias-free)");
        }
        int hiddenSize = f.requiredInt("hidden_size");
        int numHeads = f.requiredInt("num_attention_heads");
        int numKvHeads = f.optionalInt("num_key_value_heads", numHeads);
        int headDim;
        if (f.has("head_dim")) {
            headDim = f.requiredInt("head_dim");
        } else {
            if (numHeads <= 0 || hiddenSize % numHeads != 0) {
                throw new CheckpointException(sourceName + ": hidden_size (" + hiddenSize
                        + ") is not a multiple of num_attention_heads (" + numHeads + ") and head_dim is not given");
            }
            headDim = hiddenSize / numHeads;
        }
        int maxPositions = f.requiredInt("max_position_embeddings");
        // Sliding-window attention equals full attention while the sequence fits in the window, so
        // such a model is run with its context capped at the window instead of being refused.
        boolean slidingWindow = switch (modelType) {
            case "mistral" -> f.has("sliding_window");
            case "qwen2" -> f.optionalBoolean("use_sliding_window", false) && f.has("sliding_window");
            default -> false;
        };
        if (slidingWindow) {
            maxPositions = Math.min(maxPositions, f.requiredInt("sliding_window"));
        }
        boolean attentionBias = modelType.equals("qwen2") || f.optionalBoolean("attention_bias", false);
        RopeScaling ropeScaling = parseRopeScaling(root.get("rope_scaling"), sourceName);

        int bos = f.optionalInt("bos_token_id", -1);
        Set<Integer> eos = new LinkedHashSet<>();
        if (generation != null) {
            Fields g = new Fields(generation, generationName);
            bos = g.optionalInt("bos_token_id", bos);
            eos.addAll(g.optionalIntList("eos_token_id"));
        }
        eos.addAll(f.optionalIntList("eos_token_id"));
        if (eos.isEmpty()) {
            throw new CheckpointException(sourceName + ": missing key 'eos_token_id' (not in "
                    + GENERATION_CONFIG_FILE + " either)");
        }

        ModelConfig config;
        try {
            config = new ModelConfig(modelType, hiddenSize, f.requiredInt("intermediate_size"),
                    f.requiredInt("num_hidden_layers"), numHeads, numKvHeads, headDim, f.requiredInt("vocab_size"),
                    maxPositions, f.optionalDouble("rms_norm_eps", 1e-6), f.optionalDouble("rope_theta", 10000.0),
                    ropeScaling, f.optionalBoolean("tie_word_embeddings", false), attentionBias, bos,
                    eos.stream().mapToInt(Integer::intValue).toArray());
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(sourceName + ": " + e.getMessage(), e);
        }
        config.inverseFrequencies(sourceName); // fail now, not at first use, on bad rope_scaling values
        return config;
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
        ObjectNode root = JSON.createObjectNode();
        String architecture = switch (modelType) {
            case "mistral" -> "MistralForCausalLM";
            case "qwen2" -> "Qwen2ForCausalLM";
            default -> "LlamaForCausalLM";
        };
        root.putArray("architectures").add(architecture);
        root.put("model_type", modelType);
        root.put("hidden_size", hiddenSize);
        root.put("intermediate_size", intermediateSize);
        root.put("num_hidden_layers", numLayers);
        root.put("num_attention_heads", numHeads);
        root.put("num_key_value_heads", numKvHeads);
        root.put("head_dim", headDim);
        root.put("vocab_size", vocabSize);
        root.put("max_position_embeddings", maxPositionEmbeddings);
        root.put("rms_norm_eps", rmsNormEps);
        root.put("rope_theta", ropeTheta);
        if (ropeScaling == null || ropeScaling.type().equals("default")) {
            root.putNull("rope_scaling");
        } else {
            ObjectNode scaling = root.putObject("rope_scaling");
            scaling.put("rope_type", ropeScaling.type());
            scaling.put("factor", ropeScaling.factor());
            if (ropeScaling.type().equals("llama3")) {
                scaling.put("low_freq_factor", ropeScaling.lowFreqFactor());
                scaling.put("high_freq_factor", ropeScaling.highFreqFactor());
                scaling.put("original_max_position_embeddings", ropeScaling.originalMaxPositionEmbeddings());
            }
        }
        root.put("hidden_act", "silu");
        root.put("tie_word_embeddings", tieWordEmbeddings);
        root.put("attention_bias", attentionBias);
        if (bosTokenId >= 0) {
            root.put("bos_token_id", bosTokenId);
        }
        if (eosTokenIds.length == 1) {
            root.put("eos_token_id", eosTokenIds[0]);
        } else {
            ArrayNode eos = root.putArray("eos_token_id");
            for (int id : eosTokenIds) {
                eos.add(id);
            }
        }
        return root;
    }

    /**
     * RoPE inverse frequencies {@code 1 / theta^(2i/headDim)} for {@code i < headDim/2}, with
     * {@code rope_scaling} applied ("linear": divided by the factor; "llama3": low frequencies
     * divided by the factor, high ones kept, a smooth blend in between).
     *
     * @throws CheckpointException naming config.json for an unsupported scaling type or bad values
     */
    public double[] ropeInverseFrequencies() {
        return inverseFrequencies(CONFIG_FILE);
    }

    private double[] inverseFrequencies(String source) {
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = 1.0 / Math.pow(ropeTheta, (2.0 * i) / headDim);
        }
        if (ropeScaling == null) {
            return inv;
        }
        RopeScaling s = ropeScaling;
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

    private static JsonNode parseObject(String json, String sourceName) {
        JsonNode node;
        try {
            node = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new CheckpointException(sourceName + ": malformed JSON: " + e.getOriginalMessage(), e);
        }
        if (node == null || !node.isObject()) {
            throw new CheckpointException(sourceName + ": expected a JSON object");
        }
        return node;
    }

    private static RopeScaling parseRopeScaling(JsonNode node, String sourceName) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isObject()) {
            throw new CheckpointException(sourceName + ": 'rope_scaling' must be an object or null");
        }
        Fields f = new Fields(node, sourceName, "rope_scaling.");
        // Newer configs say "rope_type", older ones "type".
        String type = f.has("rope_type") ? f.requiredString("rope_type") : f.optionalString("type", null);
        if (type == null) {
            throw new CheckpointException(sourceName + ": missing key 'rope_scaling.rope_type'");
        }
        type = type.toLowerCase(Locale.ROOT);
        return switch (type) {
            case "default" -> null;
            case "linear" -> RopeScaling.linear(f.requiredDouble("factor"));
            case "llama3" -> RopeScaling.llama3(f.requiredDouble("factor"), f.requiredDouble("low_freq_factor"),
                    f.requiredDouble("high_freq_factor"), f.requiredInt("original_max_position_embeddings"));
            default -> throw new CheckpointException(sourceName + ": unsupported rope_scaling type '" + type
                    + "' (supported: default, linear, llama3)");
        };
    }

    /** Typed access to the keys of one JSON object, with errors naming the file and the key. */
    private static final class Fields {
        private final JsonNode node;
        private final String source;
        private final String prefix;

        Fields(JsonNode node, String source) {
            this(node, source, "");
        }

        Fields(JsonNode node, String source, String prefix) {
            this.node = node;
            this.source = source;
            this.prefix = prefix;
        }

        boolean has(String key) {
            JsonNode value = node.get(key);
            return value != null && !value.isNull();
        }

        private JsonNode required(String key) {
            if (!has(key)) {
                throw new CheckpointException(source + ": missing key '" + prefix + key + "'");
            }
            return node.get(key);
        }

        private CheckpointException wrongType(String key, String expected) {
            return new CheckpointException(
                    source + ": '" + prefix + key + "' must be " + expected + ", got " + node.get(key));
        }

        int requiredInt(String key) {
            JsonNode value = required(key);
            if (!value.isIntegralNumber() || !value.canConvertToInt()) {
                throw wrongType(key, "an integer");
            }
            return value.intValue();
        }

        int optionalInt(String key, int defaultValue) {
            return has(key) ? requiredInt(key) : defaultValue;
        }

        double requiredDouble(String key) {
            JsonNode value = required(key);
            if (!value.isNumber()) {
                throw wrongType(key, "a number");
            }
            return value.doubleValue();
        }

        double optionalDouble(String key, double defaultValue) {
            return has(key) ? requiredDouble(key) : defaultValue;
        }

        boolean optionalBoolean(String key, boolean defaultValue) {
            if (!has(key)) {
                return defaultValue;
            }
            JsonNode value = node.get(key);
            if (!value.isBoolean()) {
                throw wrongType(key, "true or false");
            }
            return value.booleanValue();
        }

        String requiredString(String key) {
            JsonNode value = required(key);
            if (!value.isTextual()) {
                throw wrongType(key, "a string");
            }
            return value.textValue();
        }

        String optionalString(String key, String defaultValue) {
            return has(key) ? requiredString(key) : defaultValue;
        }

        /** An int or a list of ints; empty when absent or null. */
        List<Integer> optionalIntList(String key) {
            if (!has(key)) {
                return List.of();
            }
            JsonNode value = node.get(key);
            if (value.isArray()) {
                Integer[] ids = new Integer[value.size()];
                for (int i = 0; i < ids.length; i++) {
                    JsonNode item = value.get(i);
                    if (!item.isIntegralNumber() || !item.canConvertToInt()) {
                        throw wrongType(key, "an integer or a list of integers");
                    }
                    ids[i] = item.intValue();
                }
                return List.of(ids);
            }
            return List.of(requiredInt(key));
        }
    }
}
