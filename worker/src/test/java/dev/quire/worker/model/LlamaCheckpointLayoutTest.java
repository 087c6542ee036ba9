package dev.quire.worker.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.quire.worker.model.LlamaCheckpointLayout.ExpectedTensor;
import dev.quire.worker.model.SafetensorsWriter.Tensor;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LlamaCheckpointLayoutTest {

    private static final ModelConfig SMALL = ModelConfig.llama(32, 48, 2, 4, 2, 50, 64, false);

    @TempDir
    Path dir;

    @Test
    void theRealStories260KCheckpointValidates() {
        ModelConfig config = ModelConfig.load(TestModels.stories260K());
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(TestModels.stories260K())) {
            assertThatCode(() -> LlamaCheckpointLayout.validate(config, checkpoint)).doesNotThrowAnyException();
            List<String> expected = LlamaCheckpointLayout.expectedTensors(config).stream()
                    .map(ExpectedTensor::name).toList();
            assertThat(expected).hasSize(1 + 5 * 9 + 1); // tied: no lm_head
            assertThat(checkpoint.tensorNames()).containsExactlyInAnyOrderElementsOf(expected);
        }
    }

    @Test
    void expectedTensorsFollowHuggingFaceNamesAndShapes() {
        ModelConfig withBias = new ModelConfig("qwen2", 32, 48, 1, 4, 2, 16, 50, 64, 1e-6, 1e6, null, false, true,
                -1, new int[] {3});
        assertThat(LlamaCheckpointLayout.expectedTensors(withBias)).containsExactly(
                new ExpectedTensor("model.embed_tokens.weight", new long[] {50, 32}),
                new ExpectedTensor("model.layers.0.input_layernorm.weight", new long[] {32}),
                new ExpectedTensor("model.layers.0.self_attn.q_proj.weight", new long[] {64, 32}),
                new ExpectedTensor("model.layers.0.self_attn.k_proj.weight", new long[] {32, 32}),
                new ExpectedTensor("model.layers.0.self_attn.v_proj.weight", new long[] {32, 32}),
                new ExpectedTensor("model.layers.0.self_attn.q_proj.bias", new long[] {64}),
                new ExpectedTensor("model.layers.0.self_attn.k_proj.bias", new long[] {32}),
                new ExpectedTensor("model.layers.0.self_attn.v_proj.bias", new long[] {32}),
                new ExpectedTensor("model.layers.0.self_attn.o_proj.weight", new long[] {32, 64}),
                new ExpectedTensor("model.layers.0.post_attention_layernorm.weight", new long[] {32}),
                new ExpectedTensor("model.layers.0.mlp.gate_proj.weight", new long[] {48, 32}),
                new ExpectedTensor("model.layers.0.mlp.up_proj.weight", new long[] {48, 32}),
                new ExpectedTensor("model.layers.0.mlp.down_proj.weight", new long[] {32, 48}),
                new ExpectedTensor("model.norm.weight", new long[] {32}),
                new ExpectedTensor("lm_head.weight", new long[] {50, 32}));
    }

    /** Writes SMALL's tensors, letting the test drop or reshape some. */
    private void writeCheckpoint(String skip, String reshape, long[] newShape) {
        List<Tensor> tensors = new ArrayList<>();
        for (ExpectedTensor t : LlamaCheckpointLayout.expectedTensors(SMALL)) {
            if (t.name().equals(skip)) {
                continue;
            }
            long[] shape = t.name().equals(reshape) ? newShape : t.shape();
            tensors.add(new Tensor(t.name(), TensorDType.F32, shape, new float[(int) TensorInfo.numElements(shape)]));
        }
        SafetensorsWriter.writeAll(dir.resolve("model.safetensors"), tensors);
    }

    @Test
    void missingTensorIsNamed() {
        writeCheckpoint("model.layers.1.mlp.up_proj.weight", null, null);
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertThatThrownBy(() -> LlamaCheckpointLayout.validate(SMALL, checkpoint))
                    .isInstanceOf(CheckpointException.class)
                    .hasMessage("model.safetensors: missing tensor 'model.layers.1.mlp.up_proj.weight'");
        }
    }

    @Test
    void wrongShapeNamesTheTensorAndBothShapes() {
        writeCheckpoint(null, "model.layers.0.self_attn.k_proj.weight", new long[] {32, 32});
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertThatThrownBy(() -> LlamaCheckpointLayout.validate(SMALL, checkpoint))
                    .isInstanceOf(CheckpointException.class)
                    .hasMessage("model.safetensors: tensor 'model.layers.0.self_attn.k_proj.weight' has shape"
                            + " [32, 32] but the config needs [16, 32]");
        }
    }

    @Test
    void severalProblemsAreListedTogether() {
        writeCheckpoint("lm_head.weight", "model.norm.weight", new long[] {31});
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertThatThrownBy(() -> LlamaCheckpointLayout.validate(SMALL, checkpoint))
                    .hasMessageContaining("(2 problems)")
                    .hasMessageContaining("tensor 'model.norm.weight' has shape [31] but the config needs [32]")
                    .hasMessageContaining("missing tensor 'lm_head.weight'");
        }
    }

    @Test
    void anLmHeadNextToTiedEmbeddingsIsFine() {
        writeCheckpoint(null, null, null);
        ModelConfig tied = ModelConfig.llama(32, 48, 2, 4, 2, 50, 64, true);
        try (SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(dir)) {
            assertThatCode(() -> LlamaCheckpointLayout.validate(tied, checkpoint)).doesNotThrowAnyException();
        }
    }
}
