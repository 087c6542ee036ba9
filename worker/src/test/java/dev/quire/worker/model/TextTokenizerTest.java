package dev.quire.worker.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TextTokenizerTest {

    private static TextTokenizer tokenizer;

    @BeforeAll
    static void load() {
        tokenizer = TextTokenizer.load(TestModels.stories260K());
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    @Test
    void encodesLikeTheReferenceTokenizer() {
        assertThat(tokenizer.encode("Once upon a time", true)).containsExactly(1, 403, 407, 261, 378);
        assertThat(tokenizer.encode("Once upon a time", false)).containsExactly(403, 407, 261, 378);
        assertThat(tokenizer.vocabSize()).isEqualTo(512);
        assertThat(tokenizer.token(403)).isEqualTo("▁Once");
        assertThat(tokenizer.token(13)).isEqualTo("<0x0A>");
        assertThat(tokenizer.isSpecial(1)).isTrue();
        assertThat(tokenizer.isSpecial(403)).isFalse();
        assertThat(tokenizer.isByteFallback(13)).isTrue();
        assertThat(tokenizer.isByteFallback(403)).isFalse();
    }

    @Test
    void decodesAndRoundTrips() {
        assertThat(tokenizer.decode(new int[] {1, 403, 407, 261, 378}, true)).isEqualTo("Once upon a time");
        assertThat(tokenizer.decode(new int[] {1, 403, 407, 261, 378}, false)).isEqualTo("<s> Once upon a time");
        for (String text : new String[] {"Once upon a time", "Lily's mom said, \"Don't worry!\"\nThe end.",
                "  two leading spaces", "Zoë met 李 and ate 🍎."}) {
            assertThat(tokenizer.decode(tokenizer.encode(text, true), true)).isEqualTo(text);
        }
    }

    @Test
    void longTextsAreNeverTruncated() {
        String text = "The cat sat on the mat. ".repeat(200);
        int[] ids = tokenizer.encode(text, true);
        assertThat(ids.length).isGreaterThan(1000);
        assertThat(tokenizer.decode(ids, true)).isEqualTo(text);
    }

    @Test
    void goldenTextIsTheDecodeOfTheFirst255GoldenIds() throws Exception {
        int[] ids = Arrays.copyOf(TestModels.goldenGreedyIds(), 255);
        String golden = Files.readString(TestModels.stories260K().resolve("golden-greedy.txt"));
        // The golden text has no trailing newline; the decoder strips the leading space of "▁Once".
        assertThat(tokenizer.decode(ids, true)).isEqualTo(golden);
    }

    @Test
    void outOfRangeIdsAreIgnored() {
        assertThat(tokenizer.decode(new int[] {403, 100000, 407}, true)).isEqualTo("Once upon");
    }

    @Test
    void missingTokenizerJsonIsNamed(@TempDir Path dir) {
        assertThatThrownBy(() -> TextTokenizer.load(dir))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("tokenizer.json: not found");
    }

    @Test
    void tokenizerConfigFlagsDecideSpecialTokens(@TempDir Path dir) throws Exception {
        Files.copy(TestModels.stories260K().resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("tokenizer_config.json"),
                "{\"add_bos_token\": false, \"add_eos_token\": true, \"bos_token\": \"<s>\","
                        + " \"eos_token\": {\"content\": \"</s>\"}}");
        try (TextTokenizer custom = TextTokenizer.load(dir)) {
            assertThat(custom.encode("Once upon a time", true)).containsExactly(403, 407, 261, 378, 2);
            assertThat(custom.encode("Once upon a time", false)).containsExactly(403, 407, 261, 378);
        }
        // Without tokenizer_config.json, tokenizer.json's post-processor adds BOS.
        Files.delete(dir.resolve("tokenizer_config.json"));
        try (TextTokenizer plain = TextTokenizer.load(dir)) {
            assertThat(plain.encode("Once upon a time", true)).containsExactly(1, 403, 407, 261, 378);
        }
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"add_bos_token\": true, \"bos_token\": \"<bos>\"}");
        assertThatThrownBy(() -> TextTokenizer.load(dir))
                .isInstanceOf(CheckpointException.class)
                .hasMessageContaining("tokenizer_config.json: add_bos_token is true but bos_token");
    }
}
