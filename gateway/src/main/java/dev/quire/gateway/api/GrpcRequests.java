package dev.quire.gateway.api;

import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.gateway.admission.PriorityPolicy;
import dev.quire.gateway.routing.PromptInput;
import dev.quire.gateway.routing.RequestIds;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.scheduler.engine.InvalidRequestException;
import dev.quire.scheduler.engine.SamplingOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.grpc.common.GrpcMessage;
import io.vertx.grpc.common.GrpcMessageDecoder;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.zip.GZIPInputStream;

/** Checks a {@code quire.v1} request and turns it into protocol-neutral values. */
final class GrpcRequests {
    /** Longest request id a client may choose. */
    static final int MAX_REQUEST_ID_LENGTH = RequestIds.MAX_LENGTH;

    private GrpcRequests() {
    }

    /** A client-chosen request id: empty (the server then assigns one), else see {@link RequestIds}. */
    static String requestId(String id) {
        return RequestIds.check(id, "request_id");
    }

    /** A request message over the size limit. */
    static GatewayException tooLarge(int maxBytes) {
        return new GatewayException(ErrorKind.TOO_LARGE, null, "the request message is larger than this server's "
                + "limit of " + maxBytes + " bytes");
    }

    static PromptInput prompt(GenerateRequest request) {
        switch (request.getInputCase()) {
            case PROMPT -> {
                if (request.getPrompt().isEmpty()) {
                    throw invalid("prompt", "must not be empty");
                }
                return PromptInput.text(request.getPrompt());
            }
            case PROMPT_TOKEN_IDS -> {
                if (request.getPromptTokenIds().getIdsCount() == 0) {
                    throw invalid("prompt_token_ids", "must not be empty");
                }
                return PromptInput.tokens(request.getPromptTokenIds().getIdsList().stream()
                        .mapToInt(Integer::intValue).toArray());
            }
            default -> throw invalid("prompt", "one of prompt or prompt_token_ids is required");
        }
    }

    /** The priority the request asks for, in [-1000, 1000]; null when unset. */
    static Integer priority(GenerateRequest request) {
        if (!request.hasPriority()) {
            return null;
        }
        int p = request.getPriority();
        if (p < PriorityPolicy.MIN_VALUE || p > PriorityPolicy.MAX_VALUE) {
            throw invalid("priority", "must be in [" + PriorityPolicy.MIN_VALUE + ", " + PriorityPolicy.MAX_VALUE
                    + "], got " + p);
        }
        return p;
    }

    static SamplingOptions sampling(SamplingParams p) {
        if (p.hasMaxTokens() && p.getMaxTokens() < 1) {
            throw invalid("sampling.max_tokens", "must be >= 1, got " + p.getMaxTokens());
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
        if (p.hasMinP()) {
            b.minP(p.getMinP());
        }
        if (p.hasSeed()) {
            b.seed(p.getSeed());
        }
        if (p.hasPresencePenalty()) {
            b.presencePenalty(p.getPresencePenalty());
        }
        if (p.hasFrequencyPenalty()) {
            b.frequencyPenalty(p.getFrequencyPenalty());
        }
        if (p.hasRepetitionPenalty()) {
            b.repetitionPenalty(p.getRepetitionPenalty());
        }
        if (p.hasLogprobs()) {
            b.logprobs(p.getLogprobs());
        }
        try {
            return b.build();
        } catch (InvalidRequestException e) {
            // Name the field as the client spells it in the request.
            throw invalid("sampling." + e.field(), e.getMessage().substring(e.field().length() + 2));
        }
    }

    private static GatewayException invalid(String field, String problem) {
        return new GatewayException(ErrorKind.INVALID_ARGUMENT, field, field + ": " + problem);
    }
}
