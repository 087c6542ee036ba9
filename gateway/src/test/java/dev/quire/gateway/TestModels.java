package dev.quire.gateway;

import dev.quire.scheduler.engine.ModelInfo;
import dev.quire.scheduler.engine.TextCodec;
import dev.quire.scheduler.engine.TokenVocabulary;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A model as data for gateway tests that need no real engine: ids 0-255 are the bytes of UTF-8
 * text, 256 is BOS {@code <s>} and 257 EOS {@code </s>}.
 */
public final class TestModels {
    public static final int BOS = 256;
    public static final int EOS = 257;

    private TestModels() {
    }

    public static ModelInfo model(String name, int maxModelLen) {
        String[] tokens = new String[258];
        boolean[] special = new boolean[258];
        for (int b = 0; b < 256; b++) {
            tokens[b] = String.format("<0x%02X>", b);
        }
        tokens[BOS] = "<s>";
        tokens[EOS] = "</s>";
        special[BOS] = true;
        special[EOS] = true;
        return new ModelInfo(name, tokens.length, maxModelLen, null, "<s>", "</s>",
                new TokenVocabulary(tokens, special, TokenVocabulary.Decoding.SENTENCEPIECE));
    }

    /** Encodes text as its UTF-8 bytes, BOS first when special tokens are added. */
    public static final TextCodec BYTES = new TextCodec() {
        @Override
        public int[] encode(String text, boolean addSpecialTokens) {
            byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
            int offset = addSpecialTokens ? 1 : 0;
            int[] ids = new int[bytes.length + offset];
            if (addSpecialTokens) {
                ids[0] = BOS;
            }
            for (int i = 0; i < bytes.length; i++) {
                ids[i + offset] = bytes[i] & 0xff;
            }
            return ids;
        }

        @Override
        public String decode(int[] ids, boolean skipSpecialTokens) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (int id : ids) {
                if (id >= 0 && id < 256) {
                    out.write(id);
                } else if (!skipSpecialTokens && (id == BOS || id == EOS)) {
                    out.writeBytes((id == BOS ? "<s>" : "</s>").getBytes(StandardCharsets.UTF_8));
                }
            }
            return out.toString(StandardCharsets.UTF_8);
        }
    };

    /**
     * An engine for gateway tests: serves {@link #model(String, int)} with the {@link #BYTES} codec,
     * reports an idle scheduler and closes as a no-op; a test supplies {@code submit}.
     */
    public abstract static class StubEngine implements dev.quire.scheduler.engine.InferenceEngine {
        protected final ModelInfo model;

        protected StubEngine(String name) {
            this.model = TestModels.model(name, 512);
        }

        @Override
        public ModelInfo model() {
            return model;
        }

        @Override
        public TextCodec text() {
            return BYTES;
        }

        @Override
        public dev.quire.scheduler.batch.SchedulerStats stats() {
            return new dev.quire.scheduler.batch.SchedulerStats(0, 0, 0, 1, 0, 0, 0, 0, 0);
        }

        @Override
        public void close() {
        }
    }
}
