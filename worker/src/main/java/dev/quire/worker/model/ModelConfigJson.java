package dev.quire.worker.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Set;

/** Reads and writes the Hugging Face {@code config.json} form of a {@link ModelConfig}. */
final class ModelConfigJson {

    private static final String CONFIG_FILE = "config.json";
    private static final String GENERATION_CONFIG_FILE = "generation_config.json";

    private ModelConfigJson() {}

    /** See {@link ModelConfig#fromJson}. */
    static ModelConfig parse(String configJson, String generationConfigJsonOrNull, String sourceName) {
        String generationName = sourceName.endsWith(CONFIG_FILE)
                ? sourceName.substring(0, sourceName.length() - CONFIG_FILE.length()) + GENERATION_CONFIG_FILE
                : GENERATION_CONFIG_FILE;
        JsonNode root = parseObject(configJson, sourceName);
        JsonNode generation =
                generationConfigJsonOrNull == null ? null : parseObject(generationConfigJsonOrNull, generationName);
        JsonFields f = new JsonFields(root, sourceName);

        String modelType = f.requiredString("model_type");
        if (!ModelConfig.SUPPORTED_MODEL_TYPES.contains(modelType)) {
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
            JsonFields g = new JsonFields(generation, generationName);
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
        } catch (CheckpointException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(sourceName + ": " + e.getMessage(), e);
        }
        RopeFrequencies.inverse(config, sourceName); // fail now, not at first use, on bad rope_scaling values
        return config;
    }

    /** See {@link ModelConfig#toJson()}. */
    static ObjectNode write(ModelConfig config) {
        ObjectNode root = ModelConfig.JSON.createObjectNode();
        String architecture = switch (config.modelType()) {
            case "mistral" -> "MistralForCausalLM";
            case "qwen2" -> "Qwen2ForCausalLM";
            default -> "LlamaForCausalLM";
        };
        root.putArray("architectures").add(architecture);
        root.put("model_type", config.modelType());
        root.put("hidden_size", config.hiddenSize());
        root.put("intermediate_size", config.intermediateSize());
        root.put("num_hidden_layers", config.numLayers());
        root.put("num_attention_heads", config.numHeads());
        root.put("num_key_value_heads", config.numKvHeads());
        root.put("head_dim", config.headDim());
        root.put("vocab_size", config.vocabSize());
        root.put("max_position_embeddings", config.maxPositionEmbeddings());
        root.put("rms_norm_eps", config.rmsNormEps());
        root.put("rope_theta", config.ropeTheta());
        RopeScaling scaling = config.ropeScaling();
        if (scaling == null || scaling.type().equals("default")) {
            root.putNull("rope_scaling");
        } else {
            ObjectNode node = root.putObject("rope_scaling");
            node.put("rope_type", scaling.type());
            node.put("factor", scaling.factor());
            if (scaling.type().equals("llama3")) {
                node.put("low_freq_factor", scaling.lowFreqFactor());
                node.put("high_freq_factor", scaling.highFreqFactor());
                node.put("original_max_position_embeddings", scaling.originalMaxPositionEmbeddings());
            }
        }
        root.put("hidden_act", "silu");
        root.put("tie_word_embeddings", config.tieWordEmbeddings());
        root.put("attention_bias", config.attentionBias());
        if (config.bosTokenId() >= 0) {
            root.put("bos_token_id", config.bosTokenId());
        }
        int[] eosIds = config.eosTokenIds();
        if (eosIds.length == 1) {
            root.put("eos_token_id", eosIds[0]);
        } else {
            ArrayNode eos = root.putArray("eos_token_id");
            for (int id : eosIds) {
                eos.add(id);
            }
        }
        return root;
    }

    private static JsonNode parseObject(String json, String sourceName) {
        JsonNode node;
        try {
            node = ModelConfig.JSON.readTree(json);
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
        JsonFields f = new JsonFields(node, sourceName, "rope_scaling.");
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
}
