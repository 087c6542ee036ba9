package dev.quire.gateway.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.scheduler.engine.SamplingOptions;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A checked {@code POST /v1/chat/completions} body.
 *
 * @param topLogprobs alternatives per token when {@code logprobs} is true (0 or more), or -1 for no logprobs
 * @param priority    vLLM's scheduling priority (lower runs first), or null for the key's default
 */
record ChatRequest(String model, List<ChatMessage> messages, SamplingOptions sampling, boolean stream,
                   boolean includeUsage, int topLogprobs, Integer priority) {

    private static final Set<String> KNOWN = known();

    private static Set<String> known() {
        Set<String> s = new HashSet<>(SamplingFields.NAMES);
        s.addAll(CommonFields.IGNORED);
        s.addAll(Set.of("model", "messages", "stream", "stream_options", "logprobs", "top_logprobs", "n",
                "logit_bias", "max_completion_tokens", "tools", "tool_choice", "functions", "function_call",
                "parallel_tool_calls", "response_format", "priority"));
        return Set.copyOf(s);
    }

    /**
     * @param defaultMaxTokens the budget when the request sets none: the server's max-tokens limit,
     *                         or 0 ("until the context is full") when it has none
     */
    static ChatRequest parse(ObjectNode body, int defaultMaxTokens) {
        OpenAiJson.rejectUnknown(body, KNOWN, "");
        String model = CommonFields.model(body);
        ArrayNode list = OpenAiJson.array(body, "messages");
        if (list == null || list.isEmpty()) {
            throw OpenAiErrors.invalid("messages", "must be a non-empty list");
        }
        List<ChatMessage> messages = new ArrayList<>(list.size());
        for (int i = 0; i < list.size(); i++) {
            messages.add(ChatMessage.parse(list.get(i), i));
        }
        boolean stream = CommonFields.stream(body);
        boolean includeUsage = CommonFields.includeUsage(body, stream);
        CommonFields.singleChoice(body, "n");
        CommonFields.noLogitBias(body);
        noTools(body);
        ObjectNode format = OpenAiJson.object(body, "response_format");
        if (format != null && !"text".equals(format.path("type").asText(null))) {
            throw OpenAiErrors.invalid("response_format", "only {\"type\": \"text\"} is supported");
        }
        OpenAiJson.bool(body, "parallel_tool_calls"); // meaningless without tools; type-checked only

        boolean logprobs = Boolean.TRUE.equals(OpenAiJson.bool(body, "logprobs"));
        Long top = OpenAiJson.integer(body, "top_logprobs", 0, SamplingOptions.MAX_LOGPROBS);
        if (top != null && !logprobs) {
            throw OpenAiErrors.invalid("top_logprobs", "requires logprobs to be true");
        }
        // max_completion_tokens is the newer name of max_tokens; it wins when both are sent.
        int maxTokens = OpenAiJson.given(body, "max_completion_tokens")
                ? SamplingFields.maxTokens(body, "max_completion_tokens", defaultMaxTokens)
                : SamplingFields.maxTokens(body, "max_tokens", defaultMaxTokens);
        SamplingOptions.Builder b = SamplingFields.read(body, maxTokens);
        int topLogprobs = !logprobs ? -1 : top == null ? 0 : top.intValue();
        // The engine returns the chosen token's logprob only when asked for >= 1 alternative.
        b.logprobs(logprobs ? Math.max(1, topLogprobs) : 0);
        return new ChatRequest(model, List.copyOf(messages), SamplingFields.build(b, "top_logprobs"), stream,
                includeUsage, topLogprobs, CommonFields.priority(body));
    }

    private static void noTools(ObjectNode body) {
        for (String field : List.of("tools", "functions")) {
            ArrayNode tools = OpenAiJson.array(body, field);
            if (tools != null && !tools.isEmpty()) {
                throw OpenAiErrors.invalid(field, "is not supported: this server does not do tool calling");
            }
        }
        for (String field : List.of("tool_choice", "function_call")) {
            JsonNode choice = body.get(field);
            if (choice != null && !choice.isNull() && !"none".equals(choice.asText(null))) {
                throw OpenAiErrors.invalid(field, "only \"none\" is supported: this server does not do tool calling");
            }
        }
    }
}
