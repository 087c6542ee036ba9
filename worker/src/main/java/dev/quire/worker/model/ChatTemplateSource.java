package dev.quire.worker.model;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model folder's chat template and the special-token texts it refers to, read as Hugging Face
 * does: {@code chat_template} in {@code tokenizer_config.json} (a string, or a list of named
 * templates of which "default" is used), else a {@code chat_template.jinja} file.
 *
 * @param template the Jinja source, or null when the model has none
 * @param bosToken the BOS token's text, or null
 * @param eosToken the EOS token's text, or null
 */
public record ChatTemplateSource(String template, String bosToken, String eosToken) {

    /** @throws CheckpointException naming the file that cannot be read */
    public static ChatTemplateSource load(Path modelDir) {
        Path configFile = modelDir.resolve(TextTokenizer.TOKENIZER_CONFIG_FILE);
        JsonNode config = null;
        if (Files.isRegularFile(configFile)) {
            try {
                config = ModelConfig.JSON.readTree(Files.readAllBytes(configFile));
            } catch (IOException e) {
                throw new CheckpointException(TextTokenizer.TOKENIZER_CONFIG_FILE + ": cannot read: " + e.getMessage(), e);
            }
        }
        String source = config == null ? null : templateSource(config.get("chat_template"));
        Path jinjaFile = modelDir.resolve("chat_template.jinja");
        if (source == null && Files.isRegularFile(jinjaFile)) {
            try {
                source = Files.readString(jinjaFile, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new CheckpointException("chat_template.jinja: cannot read: " + e.getMessage(), e);
            }
        }
        return new ChatTemplateSource(source, config == null ? null : tokenText(config.get("bos_token")),
                config == null ? null : tokenText(config.get("eos_token")));
    }

    private static String templateSource(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isTextual()) {
            return node.textValue();
        }
        if (node.isArray()) { // [{"name": "default", "template": "..."}, {"name": "tool_use", ...}]
            JsonNode first = null;
            for (JsonNode t : node) {
                if ("default".equals(t.path("name").asText(null))) {
                    return t.path("template").asText(null);
                }
                first = first == null ? t : first;
            }
            return first == null ? null : first.path("template").asText(null);
        }
        return null;
    }

    /** A special token written as "<s>" or as an AddedToken object {"content": "<s>", ...}. */
    private static String tokenText(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        return node.isObject() ? node.path("content").asText(null) : node.asText(null);
    }
}
