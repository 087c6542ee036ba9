package dev.quire.gateway.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * One chat message as the template sees it.
 *
 * @param role    system, user or assistant ("developer", OpenAI's newer name for system, is read as system)
 * @param content the text; a list of text parts is joined with newlines, as vLLM does
 * @param name    the optional participant name, or null
 */
record ChatMessage(String role, String content, String name) {
    private static final Set<String> KNOWN = Set.of("role", "content", "name", "refusal", "tool_calls");

    /** What a Hugging Face chat template expects in {@code messages}. */
    Map<String, Object> asTemplateValue() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("role", role);
        m.put("content", content);
        if (name != null) {
            m.put("name", name);
        }
        return m;
    }

    static ChatMessage parse(JsonNode node, int index) {
        String at = "messages[" + index + "]";
        if (!node.isObject()) {
            throw OpenAiErrors.invalid(at, "must be an object, got " + OpenAiJson.describe(node));
        }
        ObjectNode m = (ObjectNode) node;
        String role = OpenAiJson.string(m, "role", at + ".role");
        if (role == null) {
            throw OpenAiErrors.invalid(at + ".role", "is required");
        }
        switch (role) {
            case "system", "user", "assistant" -> { }
            case "developer" -> role = "system";
            case "tool", "function" -> throw OpenAiErrors.invalid(at + ".role",
                    "'" + role + "' messages are not supported: this server does not do tool calling");
            default -> throw OpenAiErrors.invalid(at + ".role",
                    "must be one of system, developer, user, assistant; got '" + role + "'");
        }
        OpenAiJson.rejectUnknown(m, KNOWN, at + "."); // after the role: a tool message is about tools
        ArrayNode toolCalls = OpenAiJson.array(m, "tool_calls");
        if (toolCalls != null && !toolCalls.isEmpty()) {
            throw OpenAiErrors.invalid(at + ".tool_calls", "is not supported: this server does not do tool calling");
        }
        OpenAiJson.string(m, "refusal", at + ".refusal"); // type-checked, then ignored
        String name = OpenAiJson.string(m, "name", at + ".name");
        return new ChatMessage(role, content(m.get("content"), role, at + ".content"), name);
    }

    private static String content(JsonNode content, String role, String at) {
        if (content == null || content.isNull()) {
            if (role.equals("assistant")) {
                return ""; // an assistant turn that only held tool calls or a refusal
            }
            throw OpenAiErrors.invalid(at, "is required");
        }
        if (content.isTextual()) {
            return content.textValue();
        }
        if (!content.isArray()) {
            throw OpenAiErrors.invalid(at, "must be a string or a list of content parts, got "
                    + OpenAiJson.describe(content));
        }
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < content.size(); i++) {
            String partAt = at + "[" + i + "]";
            JsonNode part = content.get(i);
            if (!part.isObject()) {
                throw OpenAiErrors.invalid(partAt, "must be an object, got " + OpenAiJson.describe(part));
            }
            String type = OpenAiJson.string(part, "type", partAt + ".type");
            if (!"text".equals(type)) {
                throw OpenAiErrors.invalid(partAt + ".type", "only 'text' parts are supported, got "
                        + (type == null ? "none" : "'" + type + "'"));
            }
            OpenAiJson.rejectUnknown((ObjectNode) part, Set.of("type", "text"), partAt + ".");
            String t = OpenAiJson.string(part, "text", partAt + ".text");
            if (t == null) {
                throw OpenAiErrors.invalid(partAt + ".text", "is required");
            }
            if (i > 0) {
                text.append('\n');
            }
            text.append(t);
        }
        return text.toString();
    }
}
