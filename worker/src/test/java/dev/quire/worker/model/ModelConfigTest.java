package dev.quire.worker.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelConfigTest {

    /** A minimal valid config.json body, to be completed by each test. */
    private static String config(String extra) {
        return """
                {"model_type": "llama", "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2,
                 "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 512,
                 "max_position_embeddings": 512, "rms_norm_eps": 1e-5, "hidden_act": "silu" %s}
                """.formatted(extra);
    }

    @Test
    void loadsTheRealStories260KConfig() {
        ModelConfig config = ModelConfig.load(TestModels.stories260K());

        assertThat(config.modelType()).isEqualTo("llama");
        assertThat(config.hiddenSize()).isEqualTo(64);
        assertThat(config.numLayers()).isEqualTo(5);
        assertThat(config.numHeads()).isEqualTo(8);
        assertThat(config.numKvHeads()).isEqualTo(4);
        assertThat(config.headDim()).isEqualTo(8);
        assertThat(config.kvDim()).isEqualTo(32);
        assertThat(config.intermediateSize()).isEqualTo(172);
        assertThat(config.vocabSize()).isEqualTo(512);
        assertThat(config.maxPositionEmbeddings()).isEqualTo(512);
        assertThat(config.rmsNormEps()).isEqualTo(1e-5);
        assertThat(config.ropeTheta()).isEqualTo(10000.0);
        assertThat(config.ropeScaling()).isNull();
        assertThat(config.tieWordEmbeddings()).isTrue();
        assertThat(config.attentionBias()).isFalse();
        assertThat(config.bosTokenId()).isEqualTo(1);
        // generation_config.json says [1, 2]: the model ends a story by emitting BOS.
        assertThat(config.eosTokenIds()).containsExactly(1, 2);
        assertThat(config.isEos(1)).isTrue();
        assertThat(config.isEos(2)).isTrue();
        assertThat(config.isEos(3)).isFalse();
    }

    @Test
    void eosMayBeAnIntOrAList() {
        assertThat(ModelConfig.fromJson(config(", \"eos_token_id\": 2"), null, "config.json").eosTokenIds())
                .containsExactly(2);
        assertThat(ModelConfig.fromJson(config(", \"eos_token_id\": [2, 7]"), null, "config.json").eosTokenIds())
                .containsExactly(2, 7);
        // The generation config's ids come first and extend the config's; its bos overrides.
        ModelConfig merged = ModelConfig.fromJson(config(", \"eos_token_id\": 2, \"bos_token_id\": 1"),
                "{\"eos_token_id\": [9, 2], \"bos_token_id\": 5}", "config.json");
        assertThat(merged.eosTokenIds()).containsExactly(9, 2);
        assertThat(merged.bosTokenId()).isEqualTo(5);
        assertThat(ModelConfig.fromJson(config(""), "{\"eos_token_id\": 3}", "config.json").eosTokenIds())
                .containsExactly(3);
    }

    @Test
    void defaultsFollowHuggingFace() {
        ModelConfig config = ModelConfig.fromJson("""
                {"model_type": "mistral", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
                 "num_attention_heads": 4, "vocab_size": 100, "max_position_embeddings": 256, "eos_token_id": 2}
                """, null, "config.json");
        assertThat(config.numKvHeads()).isEqualTo(4);
        assertThat(config.headDim()).isEqualTo(16);
        assertThat(config.rmsNormEps()).isEqualTo(1e-6);
        assertThat(config.ropeTheta()).isEqualTo(10000.0);
        assertThat(config.tieWordEmbeddings()).isFalse();
        assertThat(config.bosTokenId()).isEqualTo(-1);
    }

    @Test
    void explicitHeadDimWins() {
        ModelConfig config = ModelConfig.fromJson(config(", \"head_dim\": 16, \"eos_token_id\": 2"), null, "config.json");
        assertThat(config.headDim()).isEqualTo(16);
        assertThat(config.kvDim()).isEqualTo(64);
        assertThat(config.qDim()).isEqualTo(128);
    }

    @Test
    void missingKeyNamesTheKeyAndTheFile(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("config.json"), """
                {"model_type": "llama", "intermediate_size": 172, "num_hidden_layers": 2,
                 "num_attention_heads": 8, "vocab_size": 512, "max_position_embeddings": 512, "eos_token_id": 2}
                """);
        assertThatThrownBy(() -> ModelConfig.load(dir))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("config.json")
                .hasMessageContaining("missing key 'hidden_size'");
        assertThatThrownBy(() -> ModelConfig.fromJson(config(""), null, "config.json"))
                .hasMessageContaining("config.json: missing key 'eos_token_id'");
    }

    @Test
    void missingOrMalformedFileIsReported(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> ModelConfig.load(dir))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("config.json: not found");
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": ");
        assertThatThrownBy(() -> ModelConfig.load(dir))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("config.json: malformed JSON");
    }

    @Test
    void unknownModelTypeIsRejected() {
        assertThatThrownBy(() -> ModelConfig.fromJson(
                        config(", \"eos_token_id\": 2").replace("\"llama\"", "\"gpt2\""), null, "config.json"))
                .isInstanceOf(CheckpointException.class)
                .hasMessage("config.json: unsupported model_type 'gpt2' (supported: llama, mistral, qwen2)");
    }

    @Test
    void inconsistentValuesAreRejectedWithTheFileName() {
        assertThatThrownBy(() -> ModelConfig.fromJson(
                        config(", \"eos_token_id\": 2").replace("\"num_key_value_heads\": 4", "\"num_key_value_heads\": 3"),
                        null, "config.json"))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("config.json: num_attention_heads (8) is not a multiple of num_key_value_heads (3)");
        assertThatThrownBy(() -> ModelConfig.fromJson(
                        config(", \"eos_token_id\": 2").replace("\"silu\"", "\"gelu\""), null, "config.json"))
                .hasMessageContaining("config.json: unsupported hidden_act 'gelu'");
        assertThatThrownBy(() -> ModelConfig.fromJson(
                        config(", \"eos_token_id\": 2").replace("\"vocab_size\": 512", "\"vocab_size\": 0"),
                        null, "config.json"))
                .hasMessageContaining("config.json: vocab_size must be positive");
        assertThatThrownBy(() -> ModelConfig.fromJson(
                        config(", \"eos_token_id\": 2").replace("\"vocab_size\": 512", "\"vocab_size\": \"many\""),
                        null, "config.json"))
                .hasMessageContaining("config.json: 'vocab_size' must be an integer");
    }

    @Test
    void qwen2ImpliesAttentionBias() {
        String qwen = config(", \"eos_token_id\": 2").replace("\"llama\"", "\"qwen2\"");
        assertThat(ModelConfig.fromJson(qwen, null, "config.json").attentionBias()).isTrue();
        assertThat(ModelConfig.fromJson(config(", \"eos_token_id\": 2"), null, "config.json").attentionBias()).isFalse();
        assertThat(ModelConfig.fromJson(config(", \"eos_token_id\": 2, \"attention_bias\": true"), null, "config.json")
                .attentionBias()).isTrue();
    }

    @Test
    void slidingWindowCapsTheContext() {
        String mistral = config(", \"eos_token_id\": 2, \"sliding_window\": 128").replace("\"llama\"", "\"mistral\"");
        assertThat(ModelConfig.fromJson(mistral, null, "config.json").maxPositionEmbeddings()).isEqualTo(128);
        String noWindow = config(", \"eos_token_id\": 2, \"sliding_window\": null").replace("\"llama\"", "\"mistral\"");
        assertThat(ModelConfig.fromJson(noWindow, null, "config.json").maxPositionEmbeddings()).isEqualTo(512);
    }

    @Test
    void defaultRopeFrequencies() {
        ModelConfig config = ModelConfig.load(TestModels.stories260K()); // head_dim 8, theta 10000
        assertThat(config.ropeInverseFrequencies())
                .containsExactly(new double[] {1.0, 0.1, 0.01, 0.001}, within(1e-15));
    }

    @Test
    void linearRopeScalingDividesEveryFrequency() {
        ModelConfig config = ModelConfig.fromJson(
                config(", \"eos_token_id\": 2, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 4.0}"),
                null, "config.json");
        assertThat(config.ropeScaling()).isEqualTo(RopeScaling.linear(4.0));
        assertThat(config.ropeInverseFrequencies())
                .containsExactly(new double[] {0.25, 0.025, 0.0025, 0.00025}, within(1e-15));
    }

    @Test
    void llama3RopeScalingMatchesHandComputedValues() {
        // head_dim 8, theta 500000: inverse frequencies 1, 500000^-1/4, 500000^-1/2, 500000^-3/4,
        // i.e. wavelengths 2*pi/f = 6.28, 167.1, 4442.9 and 118142.8. With an original context of
        // 8192 and low/high frequency factors 1 and 4, wavelengths under 8192/4 = 2048 stay, those
        // over 8192/1 = 8192 are divided by the factor 8, and 4442.9 is blended with
        // smooth = (8192/4442.88 - 1) / (4 - 1) = 0.281283: (1 - smooth) * f/8 + smooth * f.
        ModelConfig config = ModelConfig.fromJson(config("""
                , "head_dim": 8, "rope_theta": 500000.0, "eos_token_id": 2,
                "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
                """), null, "config.json");
        double f1 = 0.03760603093086393; // 500000^-0.25
        double f2 = 0.001414213562373095; // 500000^-0.5 = sqrt(2)/1000
        double f3 = 5.318295896944989e-05; // 500000^-0.75
        double smooth = 0.28128260516325104;
        assertThat(config.ropeInverseFrequencies()).containsExactly(new double[] {
                1.0, f1, (1 - smooth) * f2 / 8 + smooth * f2, f3 / 8}, within(1e-12));
        assertThat(config.ropeInverseFrequencies()[2]).isCloseTo(0.0005248461609929547, within(1e-15));
        assertThat(config.ropeInverseFrequencies()[3]).isCloseTo(6.647869871181236e-06, within(1e-18));
    }

    @Test
    void badRopeScalingIsRejected() {
        assertThatThrownBy(() -> ModelConfig.fromJson(
                        config(", \"eos_token_id\": 2, \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}"),
                        null, "config.json"))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("config.json: unsupported rope_scaling type 'yarn'");
        assertThatThrownBy(() -> ModelConfig.fromJson(
                        config(", \"eos_token_id\": 2, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}"),
                        null, "config.json"))
                .hasMessageContaining("config.json: missing key 'rope_scaling.low_freq_factor'");
        assertThatThrownBy(() -> ModelConfig.fromJson(
                        config(", \"eos_token_id\": 2, \"rope_scaling\": {\"type\": \"linear\", \"factor\": 0}"),
                        null, "config.json"))
                .hasMessageContaining("config.json: bad rope_scaling: linear factor must be positive");
        // A config built in code with a type the loader would have refused fails when used.
        ModelConfig built = new ModelConfig("llama", 64, 128, 1, 8, 8, 8, 100, 128, 1e-5, 10000, 
                new RopeScaling("dynamic", 2, 0, 0, 0), false, false, 1, new int[] {2});
        assertThatThrownBy(built::ropeInverseFrequencies)
                .isInstanceOf(CheckpointException.class)
                .hasMessage("config.json: unsupported rope_scaling type 'dynamic' (supported: default, linear, llama3)");
    }

    @Test
    void toJsonRoundTrips() {
        ModelConfig config = new ModelConfig("qwen2", 64, 128, 3, 8, 2, 16, 300, 1024, 1e-6, 1e6,
                RopeScaling.llama3(8, 1, 4, 8192), true, true, 7, new int[] {5, 6});
        assertThat(ModelConfig.fromJson(config.toJson(), null, "config.json")).isEqualTo(config);
        ModelConfig stories = ModelConfig.load(TestModels.stories260K());
        assertThat(ModelConfig.fromJson(stories.toJson(), null, "config.json")).isEqualTo(stories);
    }

    @Test
    void recordIsImmutable() {
        int[] eos = {2};
        ModelConfig config = ModelConfig.llama(64, 128, 1, 8, 8, 100, 128, false);
        ModelConfig same = new ModelConfig("llama", 64, 128, 1, 8, 8, 8, 100, 128, 1e-5, 10000.0, null, false,
                false, 1, eos);
        eos[0] = 99;
        config.eosTokenIds()[0] = 42;
        assertThat(same).isEqualTo(config).hasSameHashCodeAs(config);
        assertThat(config.eosTokenIds()).containsExactly(2);
    }
}
