package dev.quire.worker.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class IncrementalDetokenizerTest {

    /** stories260K maps byte b to the byte-fallback token {@code <0xbb>} with id 3 + b. */
    private static final int FIRST_BYTE_TOKEN = 3;

    private static TextTokenizer tokenizer;

    @BeforeAll
    static void load() {
        tokenizer = TextTokenizer.load(TestModels.stories260K());
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    /** Streams {@code output} after {@code prompt}; returns every delta, the flush last. */
    private static List<String> stream(int[] prompt, int[] output) {
        IncrementalDetokenizer detokenizer = tokenizer.newDetokenizer(prompt);
        List<String> deltas = new ArrayList<>();
        for (int id : output) {
            deltas.add(detokenizer.append(id));
        }
        deltas.add(detokenizer.flush());
        assertThat(detokenizer.text()).isEqualTo(String.join("", deltas));
        return deltas;
    }

    /** What the output adds to the prompt's text when both are decoded together. */
    private static String expectedText(int[] prompt, int[] output) {
        int[] all = Arrays.copyOf(prompt, prompt.length + output.length);
        System.arraycopy(output, 0, all, prompt.length, output.length);
        String full = tokenizer.decode(all, true);
        String promptText = tokenizer.decode(prompt, true);
        assertThat(full).startsWith(promptText);
        return full.substring(promptText.length());
    }

    @Test
    void streamsTheGoldenStoryExactly() throws Exception {
        int[] golden = TestModels.goldenGreedyIds();
        int[] prompt = {1};
        List<String> deltas = stream(prompt, golden);

        assertThat(String.join("", deltas)).isEqualTo(tokenizer.decode(golden, true));
        String goldenText = Files.readString(TestModels.stories260K().resolve("golden-greedy.txt"));
        List<String> first255 = stream(prompt, Arrays.copyOf(golden, 255));
        assertThat(String.join("", first255)).isEqualTo(goldenText);
        // Text arrives token by token, with SentencePiece spaces in the right places.
        assertThat(deltas.subList(0, 4)).containsExactly("Once", " upon", " a", " time");
    }

    @Test
    void promptContextGivesTheFirstOutputTokenItsSpace() {
        int[] prompt = tokenizer.encode("Once upon a", true);
        assertThat(stream(prompt, new int[] {378})).containsExactly(" time", "");
        // With nothing before it, a leading "▁" is stripped, as a full decode does.
        assertThat(stream(new int[0], new int[] {378})).containsExactly("time", "");
    }

    @Test
    void neverSplitsAMultiByteCharacter() {
        byte[] utf8 = "李🍎".getBytes(StandardCharsets.UTF_8); // 3 + 4 bytes, all byte-fallback tokens
        int[] output = new int[utf8.length + 1];
        for (int i = 0; i < utf8.length; i++) {
            output[i] = FIRST_BYTE_TOKEN + (utf8[i] & 0xff);
        }
        output[utf8.length] = 403; // "▁Once"
        List<String> deltas = stream(new int[] {1}, output);
        // A byte run is held until a non-byte token ends it: a later stray byte would turn the whole
        // run into replacement characters.
        assertThat(deltas).containsExactly("", "", "", "", "", "", "", "李🍎 Once", "");
        assertThat(stream(new int[] {1}, Arrays.copyOf(output, 3))).containsExactly("", "", "", "李");
    }

    @Test
    void specialTokensAreSkipped() {
        int[] prompt = tokenizer.encode("Once", true);
        List<String> deltas = stream(prompt, new int[] {407, 1, 2, 261, 0});
        assertThat(String.join("", deltas)).isEqualTo(" upon a");
        assertThat(deltas).containsExactly(" upon", "", "", " a", "", "");
    }

    @Test
    void deltasConcatenateToTheFullDecodeForRandomSequences() {
        Random random = new Random(42);
        int[][] prompts = {
            {}, {1}, tokenizer.encode("Once upon a time", true), tokenizer.encode("Zoë ate a 🍎.", true),
            {1, 403, 2, 2, 2, 2, 2, 2, 2}, {1, 1, 1, 1, 1, 1, 1}, tokenizer.encode("  spaces", false),
        };
        int checked = 0;
        for (int trial = 0; trial < 400; trial++) {
            int[] prompt = prompts[random.nextInt(prompts.length)];
            int[] output = randomOutput(random, 1 + random.nextInt(40));
            String expected = expectedText(prompt, output);
            List<String> deltas = stream(prompt, output);
            assertThat(String.join("", deltas))
                    .as("prompt %s, output %s", Arrays.toString(prompt), Arrays.toString(output))
                    .isEqualTo(expected);
            for (String delta : deltas) {
                if (!delta.isEmpty()) {
                    assertThat(Character.isLowSurrogate(delta.charAt(0))).isFalse();
                    assertThat(Character.isHighSurrogate(delta.charAt(delta.length() - 1))).isFalse();
                }
            }
            checked++;
        }
        assertThat(checked).isEqualTo(400);
    }

    /** Uniform ids, valid and broken UTF-8 byte runs, special tokens and ids beyond the vocabulary. */
    private static int[] randomOutput(Random random, int length) {
        List<Integer> ids = new ArrayList<>();
        while (ids.size() < length) {
            switch (random.nextInt(6)) {
                case 0, 1 -> ids.add(random.nextInt(tokenizer.vocabSize()));
                case 2 -> ids.add(259 + random.nextInt(tokenizer.vocabSize() - 259)); // merged pieces
                case 3 -> {
                    int codePoint = switch (random.nextInt(3)) {
                        case 0 -> 0x80 + random.nextInt(0x780); // 2 bytes
                        case 1 -> 0x4e00 + random.nextInt(0x5000); // 3 bytes
                        default -> 0x1f300 + random.nextInt(0x300); // 4 bytes
                    };
                    for (byte b : new String(Character.toChars(codePoint)).getBytes(StandardCharsets.UTF_8)) {
                        ids.add(FIRST_BYTE_TOKEN + (b & 0xff));
                    }
                }
                case 4 -> ids.add(FIRST_BYTE_TOKEN + 0x80 + random.nextInt(0x80)); // a stray high byte
                default -> ids.add(random.nextInt(10) == 0 ? 600 : random.nextInt(3)); // specials, unknown id
            }
        }
        return ids.stream().limit(length).mapToInt(Integer::intValue).toArray();
    }
}
