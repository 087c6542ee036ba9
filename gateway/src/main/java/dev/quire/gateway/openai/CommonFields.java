package dev.quire.gateway.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.gateway.admission.PriorityPolicy;

import java.util.Set;

/** Fields both endpoints read the same way: model, streaming, priority, and the OpenAI features not served. */
final class CommonFields {
    /**
     * Fields the official SDKs may send that change nothing here: {@code user} (an end-user id for
     * abuse tracking), {@code metadata}/{@code store}/{@code service_tier} (OpenAI's storage and
     * billing options). They are accepted and ignored; every other unknown field is a 400.
     */
    static final Set<String> IGNORED = Set.of("user", "metadata", "store", "service_tier");

    private CommonFields() {
    }

    static String model(ObjectNode body) {
        String model = OpenAiJson.string(body, "model", "model");
        return model == null ? "" : model; // absent or "": the default model
    }

    static boolean stream(ObjectNode body) {
        return Boolean.TRUE.equals(OpenAiJson.bool(body, "stream"));
    }

    /** {@code stream_options.include_usage}; the options are only valid on a streaming request. */
    static boolean includeUsage(ObjectNode body, boolean stream) {
        ObjectNode options = OpenAiJson.object(body, "stream_options");
        if (options == null) {
            return false;
        }
        if (!stream) {
            throw OpenAiErrors.invalid("stream_options", "is only allowed when stream is true");
        }
        OpenAiJson.rejectUnknown(options, Set.of("include_usage"), "stream_options.");
        JsonNode include = options.get("include_usage");
        if (include != null && !include.isNull() && !include.isBoolean()) {
            throw OpenAiErrors.invalid("stream_options.include_usage", "must be a boolean, got "
                    + OpenAiJson.describe(include));
        }
        return include != null && include.asBoolean(false);
    }

    /**
     * vLLM's {@code priority}: an integer in [-1000, 1000], lower runs first; null when absent (the
     * API key's default then applies).
     */
    static Integer priority(ObjectNode body) {
        Long p = OpenAiJson.integer(body, "priority", PriorityPolicy.MIN_VALUE, PriorityPolicy.MAX_VALUE);
        return p == null ? null : p.intValue();
    }

    /** {@code n} (and {@code best_of}): one choice per prompt only. */
    static void singleChoice(ObjectNode body, String field) {
        Long n = OpenAiJson.integer(body, field, 1, Integer.MAX_VALUE);
        if (n != null && n != 1) {
            throw OpenAiErrors.invalid(field, "only 1 is supported, got " + n
                    + " (send the request several times, with different seeds, for more samples)");
        }
    }

    /** {@code logit_bias}: accepted only when empty. */
    static void noLogitBias(ObjectNode body) {
        ObjectNode bias = OpenAiJson.object(body, "logit_bias");
        if (bias != null && !bias.isEmpty()) {
            throw OpenAiErrors.invalid("logit_bias", "is not supported");
        }
    }
}
