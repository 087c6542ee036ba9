package dev.quire.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** YAML documents as Jackson trees, and the little label logic the manifests' checks need. */
final class Yaml {
    static final YAMLMapper MAPPER = new YAMLMapper();

    private Yaml() {
    }

    /** Every document of a (multi-document) YAML file; empty documents are dropped. */
    static List<JsonNode> documents(Path file) {
        try (MappingIterator<JsonNode> it = MAPPER.readerFor(JsonNode.class).readValues(file.toFile())) {
            return documents(it);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot parse " + file + ": " + e.getMessage(), e);
        }
    }

    static List<JsonNode> documents(String text) {
        try (MappingIterator<JsonNode> it = MAPPER.readerFor(JsonNode.class).readValues(text)) {
            return documents(it);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<JsonNode> documents(MappingIterator<JsonNode> it) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        while (it.hasNextValue()) {
            JsonNode doc = it.nextValue();
            if (doc != null && !doc.isNull() && !doc.isMissingNode()) {
                out.add(doc);
            }
        }
        return out;
    }

    static JsonNode document(Path file) {
        List<JsonNode> docs = documents(file);
        if (docs.size() != 1) {
            throw new AssertionError(file + ": expected one YAML document, found " + docs.size());
        }
        return docs.get(0);
    }

    /** A flat string map (labels, selectors, environment). */
    static Map<String, String> map(JsonNode node) {
        Map<String, String> out = new LinkedHashMap<>();
        if (node != null && node.isObject()) {
            node.fields().forEachRemaining(e -> out.put(e.getKey(), e.getValue().asText()));
        }
        return out;
    }

    /** Whether every entry of {@code selector} is among {@code labels} (an empty selector selects nothing here). */
    static boolean selects(Map<String, String> selector, Map<String, String> labels) {
        return !selector.isEmpty() && labels.entrySet().containsAll(selector.entrySet());
    }

    static String name(JsonNode object) {
        return object.path("metadata").path("name").asText();
    }

    static String kind(JsonNode object) {
        return object.path("kind").asText();
    }

    static String describe(JsonNode object) {
        return kind(object) + "/" + name(object);
    }

    static ObjectNode object() {
        return MAPPER.createObjectNode();
    }
}
