package dev.quire.loadtest.driver;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Iterator;
import java.util.Map;

/**
 * {@code --extra-body}: server-specific fields merged into every OpenAI request body, e.g.
 * {@code {"cache_prompt": false}} for llama.cpp or {@code {"stream_options": {"continuous_usage_stats": true}}}
 * for vLLM.
 *
 * <p>The extra fields add to the body and never replace what {@code quire bench} sets itself: an object in both
 * (such as {@code stream_options}) gets the extra object's fields, and any other field already in the body is an
 * error naming the option that sets it, so the report never describes requests other than the ones sent.
 */
public final class ExtraBody {
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final String OPTION = "--extra-body";

    private ExtraBody() {
    }

    /**
     * Parses the option's value.
     *
     * @return the object, or null when {@code json} is null
     * @throws IllegalArgumentException naming the option when the value is not a JSON object
     */
    public static ObjectNode parse(String json) {
        if (json == null) {
            return null;
        }
        JsonNode node;
        try {
            node = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            String why = e.getOriginalMessage() == null ? "" : ": " + e.getOriginalMessage().lines().findFirst().orElse("");
            throw new IllegalArgumentException(OPTION + " must be a JSON object such as '{\"cache_prompt\": false}'; "
                    + "'" + abbreviate(json) + "' is not valid JSON" + why);
        }
        if (node == null || !node.isObject()) {
            String what = node == null || node.isMissingNode() ? "nothing" : "a JSON " + kind(node);
            throw new IllegalArgumentException(OPTION + " must be a JSON object such as '{\"cache_prompt\": false}'; "
                    + "got " + what + ": '" + abbreviate(json) + "'");
        }
        return (ObjectNode) node;
    }

    /**
     * Merges {@code extra} into {@code body} (which it changes).
     *
     * @throws IllegalArgumentException naming the field when the extra body would replace one the harness sets
     */
    public static void merge(ObjectNode body, ObjectNode extra) {
        merge(body, extra, "");
    }

    private static void merge(ObjectNode body, ObjectNode extra, String path) {
        for (Iterator<Map.Entry<String, JsonNode>> it = extra.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            String name = path + field.getKey();
            JsonNode mine = body.get(field.getKey());
            JsonNode theirs = field.getValue();
            if (path.isEmpty() && (name.equals("prompt") || name.equals("messages"))) {
                throw setByHarness(name);
            }
            if (mine == null) {
                body.set(field.getKey(), theirs.deepCopy());
            } else if (mine.isObject() && theirs.isObject()) {
                merge((ObjectNode) mine, (ObjectNode) theirs, name + ".");
            } else {
                throw setByHarness(name);
            }
        }
    }

    private static IllegalArgumentException setByHarness(String field) {
        String instead = switch (field) {
            case "model" -> "use --model";
            case "prompt", "messages" -> "the workload options (--workload, --dataset, --input-len) set it";
            case "max_tokens" -> "use --output-len";
            case "temperature" -> "use --temperature";
            case "seed" -> "use --seed";
            case "stream" -> "use --[no-]stream";
            case "ignore_eos" -> "use --ignore-eos";
            case "stream_options.include_usage" -> "the token counts depend on it";
            default -> "it cannot be replaced";
        };
        return new IllegalArgumentException(OPTION + ": \"" + field + "\" is set by quire bench itself; " + instead);
    }

    private static String kind(JsonNode node) {
        return switch (node.getNodeType()) {
            case ARRAY -> "array";
            case STRING -> "string";
            case NUMBER -> "number";
            case BOOLEAN -> "boolean";
            case NULL -> "null";
            default -> "value";
        };
    }

    private static String abbreviate(String s) {
        String one = s.replace('\n', ' ').strip();
        return one.length() > 60 ? one.substring(0, 60) + "..." : one;
    }
}
