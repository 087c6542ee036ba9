package dev.quire.worker.model;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;

/** Typed access to the keys of one JSON object, with errors naming the file and the key. */
final class JsonFields {
    private final JsonNode node;
    private final String source;
    private final String prefix;

    JsonFields(JsonNode node, String source) {
        this(node, source, "");
    }

    JsonFields(JsonNode node, String source, String prefix) {
        this.node = node;
        this.source = source;
        this.prefix = prefix;
    }

    boolean has(String key) {
        JsonNode value = node.get(key);
        return value != null && !value.isNull();
    }

    private JsonNode required(String key) {
        if (!has(key)) {
            throw new CheckpointException(source + ": missing key '" + prefix + key + "'");
        }
        return node.get(key);
    }

    private CheckpointException wrongType(String key, String expected) {
        return new CheckpointException(
                source + ": '" + prefix + key + "' must be " + expected + ", got " + node.get(key));
    }

    int requiredInt(String key) {
        JsonNode value = required(key);
        if (!value.isIntegralNumber() || !value.canConvertToInt()) {
            throw wrongType(key, "an integer");
        }
        return value.intValue();
    }

    int optionalInt(String key, int defaultValue) {
        return has(key) ? requiredInt(key) : defaultValue;
    }

    double requiredDouble(String key) {
        JsonNode value = required(key);
        if (!value.isNumber()) {
            throw wrongType(key, "a number");
        }
        return value.doubleValue();
    }

    double optionalDouble(String key, double defaultValue) {
        return has(key) ? requiredDouble(key) : defaultValue;
    }

    boolean optionalBoolean(String key, boolean defaultValue) {
        if (!has(key)) {
            return defaultValue;
        }
        JsonNode value = node.get(key);
        if (!value.isBoolean()) {
            throw wrongType(key, "true or false");
        }
        return value.booleanValue();
    }

    String requiredString(String key) {
        JsonNode value = required(key);
        if (!value.isTextual()) {
            throw wrongType(key, "a string");
        }
        return value.textValue();
    }

    String optionalString(String key, String defaultValue) {
        return has(key) ? requiredString(key) : defaultValue;
    }

    /** An int or a list of ints; empty when absent or null. */
    List<Integer> optionalIntList(String key) {
        if (!has(key)) {
            return List.of();
        }
        JsonNode value = node.get(key);
        if (value.isArray()) {
            Integer[] ids = new Integer[value.size()];
            for (int i = 0; i < ids.length; i++) {
                JsonNode item = value.get(i);
                if (!item.isIntegralNumber() || !item.canConvertToInt()) {
                    throw wrongType(key, "an integer or a list of integers");
                }
                ids[i] = item.intValue();
            }
            return List.of(ids);
        }
        return List.of(requiredInt(key));
    }
}
