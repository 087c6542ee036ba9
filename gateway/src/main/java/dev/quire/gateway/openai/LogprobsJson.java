package dev.quire.gateway.openai;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.scheduler.engine.TokenLogprobs;

import java.util.List;

/** Renders engine log-probabilities in each API's shape. */
final class LogprobsJson {
    /** vLLM's stand-in for -infinity, which JSON cannot carry. */
    private static final double FLOOR = -9999.0;

    private LogprobsJson() {
    }

    /**
     * The legacy completions shape: {@code {tokens, token_logprobs, top_logprobs, text_offset}}.
     * Offsets count the token texts from {@code offset}, the completion's length so far (as vLLM does).
     */
    static ObjectNode completions(List<TokenLogprobs> logprobs, int top, int offset, TokenPieces pieces) {
        ObjectNode out = OpenAiJson.MAPPER.createObjectNode();
        ArrayNode tokens = out.putArray("tokens");
        ArrayNode tokenLogprobs = out.putArray("token_logprobs");
        ArrayNode topLogprobs = out.putArray("top_logprobs");
        ArrayNode textOffset = out.putArray("text_offset");
        for (TokenLogprobs lp : logprobs) {
            String text = pieces.piece(lp.tokenId()).text();
            tokens.add(text);
            tokenLogprobs.add(value(lp.logprob()));
            ObjectNode alternatives = topLogprobs.addObject();
            for (int i = 0; i < Math.min(top, lp.topTokenIds().length); i++) {
                String alt = pieces.piece(lp.topTokenIds()[i]).text();
                if (!alternatives.has(alt)) { // two ids may read the same; keep the likelier
                    alternatives.put(alt, value(lp.topLogprobs()[i]));
                }
            }
            textOffset.add(offset);
            offset += text.length();
        }
        return out;
    }

    /** The chat shape: {@code {content: [{token, logprob, bytes, top_logprobs: [...]}], refusal: null}}. */
    static ObjectNode chat(List<TokenLogprobs> logprobs, int top, TokenPieces pieces) {
        ObjectNode out = OpenAiJson.MAPPER.createObjectNode();
        ArrayNode content = out.putArray("content");
        for (TokenLogprobs lp : logprobs) {
            ObjectNode entry = token(content.addObject(), pieces.piece(lp.tokenId()), lp.logprob());
            ArrayNode alternatives = entry.putArray("top_logprobs");
            for (int i = 0; i < Math.min(top, lp.topTokenIds().length); i++) {
                token(alternatives.addObject(), pieces.piece(lp.topTokenIds()[i]), lp.topLogprobs()[i]);
            }
        }
        out.putNull("refusal");
        return out;
    }

    private static ObjectNode token(ObjectNode node, TokenPieces.Piece piece, float logprob) {
        node.put("token", piece.text());
        node.put("logprob", value(logprob));
        ArrayNode bytes = node.putArray("bytes");
        for (byte b : piece.bytes()) {
            bytes.add(b & 0xff);
        }
        return node;
    }

    private static double value(float logprob) {
        return Float.isNaN(logprob) || logprob < FLOOR ? FLOOR : logprob;
    }
}
