package dev.quire.worker.model;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.quire.scheduler.engine.TextCodec;
import dev.quire.scheduler.engine.TokenVocabulary;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A model's tokenizer: DJL's {@link HuggingFaceTokenizer} (the Rust {@code tokenizers} library)
 * over the folder's local {@code tokenizer.json}; nothing is ever downloaded ({@link #load} puts
 * DJL in offline mode unless {@code ai.djl.offline} or {@code DJL_OFFLINE} is set explicitly).
 *
 * <p>{@code tokenizer.json} is also read here to know each id's token string (special tokens and
 * SentencePiece byte-fallback tokens matter to {@link IncrementalDetokenizer}). The optional
 * {@code tokenizer_config.json} is honoured the way Hugging Face's Llama tokenizers do: if it sets
 * {@code add_bos_token} or {@code add_eos_token}, those flags (not tokenizer.json's post-processor)
 * decide which special tokens {@code encode(text, true)} adds.
 *
 * <p>Thread-safe: the native tokenizer is immutable after loading.
 */
public final class TextTokenizer implements TextCodec, AutoCloseable {

    /** The file name of the tokenizer definition. */
    public static final String TOKENIZER_FILE = "tokenizer.json";
    /** The file name of the optional tokenizer settings. */
    public static final String TOKENIZER_CONFIG_FILE = "tokenizer_config.json";

    private static final Pattern BYTE_TOKEN = Pattern.compile("<0x[0-9A-Fa-f]{2}>");

    private final HuggingFaceTokenizer tokenizer;
    private final String[] tokens;
    private final boolean[] special;
    private final boolean[] byteFallback;
    /** Explicit tokenizer_config.json flags, or null to use tokenizer.json's post-processor. */
    private final SpecialTokenPolicy policy;
    private final TokenVocabulary.Decoding decoding;

    /** What tokenizer_config.json says to add around an encoded text (ids -1 when not added). */
    private record SpecialTokenPolicy(int bosId, int eosId) {}

    private TextTokenizer(HuggingFaceTokenizer tokenizer, String[] tokens, boolean[] special,
            boolean[] byteFallback, SpecialTokenPolicy policy, TokenVocabulary.Decoding decoding) {
        this.tokenizer = tokenizer;
        this.decoding = decoding;
        this.tokens = tokens;
        this.special = special;
        this.byteFallback = byteFallback;
        this.policy = policy;
    }

    /**
     * Loads the tokenizer of a model folder.
     *
     * @throws CheckpointException naming tokenizer.json (missing or malformed) or
     *     tokenizer_config.json (malformed, or naming special tokens the vocabulary lacks)
     */
    public static TextTokenizer load(Path modelDir) {
        // DJL phones home (EC2 metadata, telemetry) and may fetch native libraries unless offline;
        // the native library ships in the tokenizers jar, so offline is always right for Quire.
        // An explicit setting (property or DJL_OFFLINE) is respected.
        if (System.getProperty("ai.djl.offline") == null && System.getenv("DJL_OFFLINE") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
        Path file = modelDir.resolve(TOKENIZER_FILE);
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException(TOKENIZER_FILE + ": not found in " + modelDir);
        }
        JsonNode definition = readJson(file, TOKENIZER_FILE);
        Map<String, Integer> ids = new HashMap<>();
        Map<Integer, String> byId = new HashMap<>();
        Map<Integer, Boolean> specialById = new HashMap<>();
        readVocabulary(definition, ids, byId, specialById);
        int size = byId.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        String[] tokens = new String[size];
        boolean[] special = new boolean[size];
        boolean[] byteFallback = new boolean[size];
        JsonNode decoder = definition.get("decoder");
        boolean decodesBytes = decoder != null
                && decoder.findValues("type").stream().anyMatch(t -> t.asText().equals("ByteFallback"));
        byId.forEach((id, token) -> {
            tokens[id] = token;
            special[id] = specialById.getOrDefault(id, false);
            byteFallback[id] = decodesBytes && !special[id] && BYTE_TOKEN.matcher(token).matches();
        });

        SpecialTokenPolicy policy = null;
        Path configFile = modelDir.resolve(TOKENIZER_CONFIG_FILE);
        if (Files.isRegularFile(configFile)) {
            policy = readPolicy(readJson(configFile, TOKENIZER_CONFIG_FILE), ids);
        }

        // DJL defaults to truncating at 512 tokens and padding; a server must see every token.
        Map<String, String> options = Map.of(
                "addSpecialTokens", "true", "truncation", "false", "padding", "false",
                "withOverflowingTokens", "false");
        HuggingFaceTokenizer tokenizer;
        try {
            tokenizer = HuggingFaceTokenizer.newInstance(file, options);
        } catch (IOException | RuntimeException e) {
            throw new CheckpointException(TOKENIZER_FILE + ": cannot load: " + e.getMessage(), e);
        }
        return new TextTokenizer(tokenizer, tokens, special, byteFallback, policy, decoding(decoder));
    }

    /** How the decoder of tokenizer.json maps token strings to bytes. */
    private static TokenVocabulary.Decoding decoding(JsonNode decoder) {
        if (decoder == null) {
            return TokenVocabulary.Decoding.PLAIN;
        }
        var types = decoder.findValuesAsText("type");
        if (types.contains("ByteLevel")) {
            return TokenVocabulary.Decoding.BYTE_LEVEL;
        }
        if (types.contains("Metaspace") || types.contains("ByteFallback") || decoder.toString().contains("\u2581")) {
            return TokenVocabulary.Decoding.SENTENCEPIECE;
        }
        return TokenVocabulary.Decoding.PLAIN;
    }

    private static JsonNode readJson(Path file, String name) {
        try {
            JsonNode node = ModelConfig.JSON.readTree(Files.readString(file, StandardCharsets.UTF_8));
            if (node == null || !node.isObject()) {
                throw new CheckpointException(name + ": expected a JSON object");
            }
            return node;
        } catch (JsonProcessingException e) {
            throw new CheckpointException(name + ": malformed JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new CheckpointException(name + ": cannot read: " + e.getMessage(), e);
        }
    }

    private static void readVocabulary(JsonNode definition, Map<String, Integer> ids, Map<Integer, String> byId,
            Map<Integer, Boolean> specialById) {
        JsonNode model = definition.get("model");
        JsonNode vocab = model == null ? null : model.get("vocab");
        if (vocab == null) {
            throw new CheckpointException(TOKENIZER_FILE + ": missing 'model.vocab'");
        }
        if (vocab.isObject()) { // BPE, WordPiece, WordLevel: {"token": id}
            for (Iterator<Map.Entry<String, JsonNode>> it = vocab.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> entry = it.next();
                ids.put(entry.getKey(), entry.getValue().asInt());
                byId.put(entry.getValue().asInt(), entry.getKey());
            }
        } else if (vocab.isArray()) { // Unigram: [["piece", score], ...], id = position
            for (int id = 0; id < vocab.size(); id++) {
                String piece = vocab.get(id).get(0).asText();
                ids.put(piece, id);
                byId.put(id, piece);
            }
        } else {
            throw new CheckpointException(TOKENIZER_FILE + ": malformed 'model.vocab'");
        }
        JsonNode added = definition.get("added_tokens");
        if (added != null && added.isArray()) {
            for (JsonNode token : added) {
                int id = token.path("id").asInt(-1);
                String content = token.path("content").asText(null);
                if (id < 0 || content == null) {
                    throw new CheckpointException(TOKENIZER_FILE + ": malformed added token " + token);
                }
                ids.put(content, id);
                byId.put(id, content);
                specialById.put(id, token.path("special").asBoolean(false));
            }
        }
    }

    private static SpecialTokenPolicy readPolicy(JsonNode config, Map<String, Integer> ids) {
        JsonNode addBos = config.get("add_bos_token");
        JsonNode addEos = config.get("add_eos_token");
        if ((addBos == null || !addBos.isBoolean()) && (addEos == null || !addEos.isBoolean())) {
            return null; // nothing explicit: tokenizer.json's post-processor decides
        }
        // Hugging Face's Llama tokenizers default to adding BOS and not EOS.
        boolean bos = addBos == null || !addBos.isBoolean() || addBos.booleanValue();
        boolean eos = addEos != null && addEos.isBoolean() && addEos.booleanValue();
        return new SpecialTokenPolicy(
                bos ? specialTokenId(config, "bos_token", ids) : -1,
                eos ? specialTokenId(config, "eos_token", ids) : -1);
    }

    private static int specialTokenId(JsonNode config, String key, Map<String, Integer> ids) {
        JsonNode node = config.get(key);
        // Either "<s>" or an AddedToken object {"content": "<s>", ...}.
        String content = node == null ? null : node.isObject() ? node.path("content").asText(null) : node.asText(null);
        Integer id = content == null ? null : ids.get(content);
        if (id == null) {
            throw new CheckpointException(TOKENIZER_CONFIG_FILE + ": add_" + key + " is true but " + key + " "
                    + node + " is not in " + TOKENIZER_FILE);
        }
        return id;
    }

    /**
     * Encodes text.
     *
     * @param addSpecialTokens whether to add the model's special tokens (BOS for Llama)
     */
    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        boolean manual = addSpecialTokens && policy != null;
        long[] ids = tokenizer.encode(text, addSpecialTokens && !manual, false).getIds();
        int start = manual && policy.bosId() >= 0 ? 1 : 0;
        int end = manual && policy.eosId() >= 0 ? 1 : 0;
        int[] out = new int[start + ids.length + end];
        for (int i = 0; i < ids.length; i++) {
            out[start + i] = Math.toIntExact(ids[i]);
        }
        if (start == 1) {
            out[0] = policy.bosId();
        }
        if (end == 1) {
            out[out.length - 1] = policy.eosId();
        }
        return out;
    }

    /**
     * Decodes ids to text. Ids outside the vocabulary are ignored, as Hugging Face does.
     *
     * @param skipSpecialTokens whether to leave out special tokens such as {@code <s>}
     */
    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        return decode(ids, 0, ids.length, skipSpecialTokens);
    }

    String decode(int[] ids, int from, int to, boolean skipSpecialTokens) {
        long[] window = new long[to - from];
        for (int i = 0; i < window.length; i++) {
            window[i] = ids[from + i];
        }
        return tokenizer.decode(window, skipSpecialTokens);
    }

    /**
     * Starts streaming detokenization of generated tokens (special tokens skipped).
     *
     * @param promptTokenIds the prompt, used as context so that the first output tokens get their
     *     spaces right; not part of the output text
     */
    public IncrementalDetokenizer newDetokenizer(int[] promptTokenIds) {
        return new IncrementalDetokenizer(this, promptTokenIds, true);
    }

    /** @return the number of ids the tokenizer knows (the highest id plus one) */
    public int vocabSize() {
        return tokens.length;
    }

    /** @return the token string of an id (e.g. {@code "▁Once"}, {@code "<0x0A>"}), or null if unknown */
    public String token(int id) {
        return id >= 0 && id < tokens.length ? tokens[id] : null;
    }

    /** The vocabulary as data, for gateways that show token texts. */
    public TokenVocabulary vocabulary() {
        return new TokenVocabulary(tokens, special, decoding);
    }

    /** @return whether an id is a special token (left out by {@code decode(ids, true)}) */
    public boolean isSpecial(int id) {
        return id >= 0 && id < special.length && special[id];
    }

    /** Whether decoding drops this id: unknown ids always, special ones when skipping them. */
    boolean isInvisible(int id, boolean skipSpecialTokens) {
        return id < 0 || id >= tokens.length || tokens[id] == null || (skipSpecialTokens && special[id]);
    }

    /** Whether this id is a SentencePiece byte-fallback token ({@code <0xE4>}) decoded as a raw byte. */
    boolean isByteFallback(int id) {
        return id >= 0 && id < byteFallback.length && byteFallback[id];
    }

    /** Releases the native tokenizer. */
    @Override
    public void close() {
        tokenizer.close();
    }
}
