package dev.quire.gateway.api;

import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.worker.engine.InvalidRequestException;
import dev.quire.worker.engine.SamplingOptions;

/** Checks a {@code quire.v1} request and turns its sampling fields into engine options. */
public final class GenerateRequestParser {
    private GenerateRequestParser() {
    }

    /** The prompt as given: text to tokenize, or ids to use as they are. */
    public record Prompt(String text, int[] tokenIds) {
        public boolean isText() {
            return text != null;
        }
    }

    public static Prompt prompt(GenerateRequest request) {
        switch (request.getInputCase()) {
            case PROMPT -> {
                if (request.getPrompt().isEmpty()) {
                    throw new InvalidRequestException("prompt", "must not be empty");
                }
                return new Prompt(request.getPrompt(), null);
            }
            case PROMPT_TOKEN_IDS -> {
                if (request.getPromptTokenIds().getIdsCount() == 0) {
                    throw new InvalidRequestException("prompt_token_ids", "must not be empty");
                }
                return new Prompt(null, request.getPromptTokenIds().getIdsList().stream()
                        .mapToInt(Integer::intValue).toArray());
            }
            default -> throw new InvalidRequestException("prompt", "one of prompt or prompt_token_ids is required");
        }
    }

    public static SamplingOptions sampling(SamplingParams p) {
        if (p.hasMaxTokens() && p.getMaxTokens() < 1) {
            throw new InvalidRequestException("sampling.max_tokens", "must be >= 1, got " + p.getMaxTokens());
        }
        SamplingOptions.Builder b = SamplingOptions.builder()
                .maxTokens(p.hasMaxTokens() ? p.getMaxTokens() : 0)
                .stop(p.getStopList())
                .stopTokenIds(p.getStopTokenIdsList().stream().mapToInt(Integer::intValue).toArray())
                .ignoreEos(p.getIgnoreEos());
        if (p.hasTemperature()) {
            b.temperature(p.getTemperature());
        }
        if (p.hasTopP()) {
            b.topP(p.getTopP());
        }
        if (p.hasTopK()) {
            b.topK(p.getTopK());
        }
        if (p.hasSeed()) {
            b.seed(p.getSeed());
        }
        try {
            return b.build();
        } catch (InvalidRequestException e) {
            // Name the field as the client spells it in the request.
            throw new InvalidRequestException("sampling." + e.field(), e.getMessage().substring(e.field().length() + 2));
        }
    }
}
