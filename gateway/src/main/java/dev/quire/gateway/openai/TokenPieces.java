package dev.quire.gateway.openai;

import dev.quire.scheduler.engine.TokenVocabulary;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;

/**
 * How each token reads in logprobs: the text it stands for (" Once", not the vocabulary's
 * "▁Once" or "ĠOnce") and its UTF-8 bytes. A token that is only part of a multi-byte character
 * reads as {@code "bytes:\xe4\xbd"}, OpenAI's notation; its {@code bytes} are exact.
 */
final class TokenPieces {
    /** A token's text and bytes. */
    record Piece(String text, byte[] bytes) {
    }

    private static final Pattern BYTE_TOKEN = Pattern.compile("<0x[0-9A-Fa-f]{2}>");
    private static final int[] BYTE_OF_CHAR = byteLevelTable();

    private final TokenVocabulary vocabulary;
    /** Filled lazily; a race only computes the same immutable piece twice. */
    private final Piece[] cache;

    TokenPieces(TokenVocabulary vocabulary) {
        this.vocabulary = vocabulary;
        this.cache = new Piece[vocabulary.size()];
    }

    Piece piece(int id) {
        if (id < 0 || id >= cache.length) {
            return new Piece("", new byte[0]);
        }
        Piece p = cache[id];
        if (p == null) {
            p = compute(id);
            cache[id] = p;
        }
        return p;
    }

    private Piece compute(int id) {
        String token = vocabulary.token(id);
        if (token == null) {
            return new Piece("", new byte[0]);
        }
        if (vocabulary.isSpecial(id)) {
            return new Piece(token, token.getBytes(StandardCharsets.UTF_8));
        }
        byte[] bytes = switch (vocabulary.decoding()) {
            case SENTENCEPIECE -> BYTE_TOKEN.matcher(token).matches()
                    ? new byte[]{(byte) Integer.parseInt(token.substring(3, 5), 16)}
                    : token.replace('\u2581', ' ').getBytes(StandardCharsets.UTF_8);
            case BYTE_LEVEL -> byteLevel(token);
            case PLAIN -> token.getBytes(StandardCharsets.UTF_8);
        };
        return new Piece(text(bytes), bytes);
    }

    private static byte[] byteLevel(String token) {
        byte[] out = new byte[token.length()];
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            if (c >= BYTE_OF_CHAR.length || BYTE_OF_CHAR[c] < 0) {
                return token.getBytes(StandardCharsets.UTF_8); // an added token, not byte-level encoded
            }
            out[i] = (byte) BYTE_OF_CHAR[c];
        }
        return out;
    }

    private static String text(byte[] bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            StringBuilder s = new StringBuilder("bytes:");
            for (byte b : bytes) {
                s.append(String.format("\\x%02x", b & 0xff));
            }
            return s.toString();
        }
    }

    /** GPT-2's bytes_to_unicode, inverted: stand-in character to byte, -1 elsewhere. */
    private static int[] byteLevelTable() {
        int[] table = new int[512];
        java.util.Arrays.fill(table, -1);
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF;
            table[printable ? b : 256 + extra++] = b;
        }
        return table;
    }
}
