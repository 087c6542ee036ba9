package dev.quire.gateway.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.scheduler.engine.InvalidRequestException;
import dev.quire.scheduler.engine.SamplingOptions;

import java.util.List;
import java.util.Set;

/**
 * The sampling fields both OpenAI endpoints share, mapped onto the same {@link SamplingOptions}
 * the gRPC API fills. {@code top_k}, {@code min_p}, {@code repetition_penalty},
 * {@code stop_token_ids} and {@code ignore_eos} are vLLM's extensions of the OpenAI schema.
 */
final class SamplingFields {
    static final Set<String> NAMES = Set.of("max_tokens", "temperature", "top_p", "top_k", "min_p", "seed", "stop",
            "stop_token_ids", "presence_penalty", "frequency_penalty", "repetition_penalty", "ignore_eos");

    private SamplingFields() {
    }

    /**
     * Reads every shared field but the token budget and logprobs, which differ per endpoint.
     *
     * @param maxTokens the budget the endpoint settled on; 0 for "until the context is full"
     */
    static SamplingOptions.Builder read(ObjectNode body, int maxTokens) {
        SamplingOptions.Builder b = SamplingOptions.builder().maxTokens(maxTokens);
        Double v;
        if ((v = OpenAiJson.number(body, "temperature")) != null) {
            b.temperature(v.floatValue());
        }
        if ((v = OpenAiJson.number(body, "top_p")) != null) {
            b.topP(v.floatValue());
        }
        if ((v = OpenAiJson.number(body, "min_p")) != null) {
            b.minP(v.floatValue());
        }
        if ((v = OpenAiJson.number(body, "presence_penalty")) != null) {
            b.presencePenalty(v.floatValue());
        }
        if ((v = OpenAiJson.number(body, "frequency_penalty")) != null) {
            b.frequencyPenalty(v.floatValue());
        }
        if ((v = OpenAiJson.number(body, "repetition_penalty")) != null) {
            b.repetitionPenalty(v.floatValue());
        }
        Long topK = OpenAiJson.integer(body, "top_k", -1, Integer.MAX_VALUE);
        if (topK != null) {
            b.topK(topK == -1 ? 0 : topK.intValue()); // vLLM spells "no top-k" as -1
        }
        Long seed = OpenAiJson.integer(body, "seed", Long.MIN_VALUE, Long.MAX_VALUE);
        if (seed != null) {
            b.seed(seed);
        }
        List<String> stop = OpenAiJson.stringOrList(body, "stop");
        if (stop != null) {
            b.stop(stop);
        }
        ArrayNode stopIds = OpenAiJson.array(body, "stop_token_ids");
        if (stopIds != null) {
            int[] ids = new int[stopIds.size()];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = (int) OpenAiJson.integerValue(stopIds.get(i), "stop_token_ids", 0, Integer.MAX_VALUE);
            }
            b.stopTokenIds(ids);
        }
        Boolean ignoreEos = OpenAiJson.bool(body, "ignore_eos");
        if (ignoreEos != null) {
            b.ignoreEos(ignoreEos);
        }
        return b;
    }

    /** The budget in {@code field}, or {@code dflt} when absent. */
    static int maxTokens(JsonNode body, String field, int dflt) {
        Long n = OpenAiJson.integer(body, field, 1, Integer.MAX_VALUE);
        return n == null ? dflt : n.intValue();
    }

    /**
     * Builds the options; a range error names the field as this endpoint spells it.
     *
     * @param logprobsParam the request field that set {@code logprobs} ("logprobs" or "top_logprobs")
     */
    static SamplingOptions build(SamplingOptions.Builder b, String logprobsParam) {
        try {
            return b.build();
        } catch (InvalidRequestException e) {
            String field = e.field().equals("logprobs") ? logprobsParam : e.field();
            throw new GatewayException(ErrorKind.INVALID_ARGUMENT, field,
                    field + e.getMessage().substring(e.field().length()));
        }
    }
}
