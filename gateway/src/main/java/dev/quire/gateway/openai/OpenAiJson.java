package dev.quire.gateway.openai;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * Strict reading of request bodies: every field is checked for its JSON type and range here, so
 * that a wrong type ({@code "max_tokens": "ten"}) becomes a 400 naming the field instead of a
 * silent coercion. Reads from bytes, so invalid UTF-8 is an error rather than replacement chars.
 */
final class OpenAiJson {
    static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private OpenAiJson() {
    }

    /** Parses a request body that must be one JSON object. */
    static ObjectNode parseObject(byte[] body) {
        JsonNode node;
        try (JsonParser parser = MAPPER.createParser(body)) {
            node = MAPPER.readTree(parser);
        } catch (JsonProcessingException e) {
            throw new GatewayException(ErrorKind.INVALID_ARGUMENT, null,
                    "the request body is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new GatewayException(ErrorKind.INVALID_ARGUMENT, null, "the request body cannot be read: " + e.getMessage());
        }
        if (node == null || !node.isObject()) {
            throw new GatewayException(ErrorKind.INVALID_ARGUMENT, null, "the request body must be a JSON object");
        }
        return (ObjectNode) node;
    }

    static byte[] bytes(JsonNode node) {
        try {
            return MAPPER.writeValueAsBytes(node);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Rejects fields outside {@code known} the way OpenAI does ("Unrecognized request argument").
     *
     * @param prefix how the object is named in errors ("" for the body, "messages[0]." inside)
     */
    static void rejectUnknown(ObjectNode object, Set<String> known, String prefix) {
        for (Iterator<String> it = object.fieldNames(); it.hasNext(); ) {
            String name = it.next();
            if (!known.contains(name)) {
                throw new GatewayException(ErrorKind.INVALID_ARGUMENT, prefix + name,
                        "Unrecognized request argument supplied: " + prefix + name);
            }
        }
    }

    /** A field that is absent or JSON null reads as "not given". */
    static boolean given(JsonNode object, String name) {
        JsonNode v = object.get(name);
        return v != null && !v.isNull();
    }

    static String string(JsonNode object, String name, String param) {
        JsonNode v = object.get(name);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw OpenAiErrors.invalid(param, "must be a string, got " + describe(v));
        }
        return v.textValue();
    }

    static Boolean bool(JsonNode object, String name) {
        JsonNode v = object.get(name);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isBoolean()) {
            throw OpenAiErrors.invalid(name, "must be a boolean, got " + describe(v));
        }
        return v.booleanValue();
    }

    /** An integer in [min, max]; "10" (a string) or 10.5 are errors, not coerced. */
    static Long integer(JsonNode object, String name, long min, long max) {
        JsonNode v = object.get(name);
        if (v == null || v.isNull()) {
            return null;
        }
        return integerValue(v, name, min, max);
    }

    static long integerValue(JsonNode v, String param, long min, long max) {
        if (!v.isIntegralNumber()) {
            throw OpenAiErrors.invalid(param, "must be an integer, got " + describe(v));
        }
        if (!v.canConvertToLong() || v.longValue() < min || v.longValue() > max) {
            throw OpenAiErrors.invalid(param, "must be in [" + min + ", " + max + "], got " + v.asText());
        }
        return v.longValue();
    }

    /** A finite number (an integer is fine); 1e999 parses as infinity and is refused here. */
    static Double number(JsonNode object, String name) {
        JsonNode v = object.get(name);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isNumber()) {
            throw OpenAiErrors.invalid(name, "must be a number, got " + describe(v));
        }
        double d = v.doubleValue();
        if (!Double.isFinite(d) || Math.abs(d) > Float.MAX_VALUE) {
            throw OpenAiErrors.invalid(name, "must be a finite number, got " + v.asText());
        }
        return d;
    }

    /** A string or a list of strings (OpenAI's {@code stop}); null when absent. */
    static List<String> stringOrList(JsonNode object, String name) {
        JsonNode v = object.get(name);
        if (v == null || v.isNull()) {
            return null;
        }
        if (v.isTextual()) {
            return List.of(v.textValue());
        }
        if (!v.isArray()) {
            throw OpenAiErrors.invalid(name, "must be a string or a list of strings, got " + describe(v));
        }
        List<String> out = new ArrayList<>();
        for (JsonNode e : v) {
            if (!e.isTextual()) {
                throw OpenAiErrors.invalid(name, "must be a string or a list of strings, got a list holding "
                        + describe(e));
            }
            out.add(e.textValue());
        }
        return out;
    }

    static ArrayNode array(JsonNode object, String name) {
        JsonNode v = object.get(name);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isArray()) {
            throw OpenAiErrors.invalid(name, "must be a list, got " + describe(v));
        }
        return (ArrayNode) v;
    }

    static ObjectNode object(JsonNode object, String name) {
        JsonNode v = object.get(name);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isObject()) {
            throw OpenAiErrors.invalid(name, "must be an object, got " + describe(v));
        }
        return (ObjectNode) v;
    }

    static String describe(JsonNode v) {
        return switch (v.getNodeType()) {
            case STRING -> "a string";
            case NUMBER -> v.isIntegralNumber() ? "an integer" : "a number";
            case BOOLEAN -> "a boolean";
            case ARRAY -> "a list";
            case OBJECT -> "an object";
            case NULL -> "null";
            default -> v.getNodeType().name().toLowerCase();
        };
    }
}
