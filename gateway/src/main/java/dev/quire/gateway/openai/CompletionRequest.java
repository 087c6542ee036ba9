package dev.quire.gateway.openai;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.gateway.routing.PromptInput;
import dev.quire.scheduler.engine.SamplingOptions;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A checked {@code POST /v1/completions} body.
 *
 * @param prompts  one engine request each; a choice each, in this order
 * @param logprobs top log-probabilities per token (legacy integer form), or -1 for none
 * @param priority vLLM's scheduling priority (lower runs first), or null for the key's default
 */
record CompletionRequest(String model, List<PromptInput> prompts, SamplingOptions sampling, boolean stream,
                         boolean includeUsage, int logprobs, Integer priority) {

    /** OpenAI's default for the legacy endpoint. */
    static final int DEFAULT_MAX_TOKENS = 16;
    /** Prompts per request; each becomes a concurrent engine request. */
    static final int MAX_PROMPTS = 128;

    private static final Set<String> KNOWN = known();

    private static Set<String> known() {
        Set<String> s = new HashSet<>(SamplingFields.NAMES);
        s.addAll(CommonFields.IGNORED);
        s.addAll(Set.of("model", "prompt", "stream", "stream_options", "logprobs", "n", "best_of", "echo", "suffix",
                "logit_bias", "priority"));
        return Set.copyOf(s);
    }

    /** @param serverMaxTokens the server's max-tokens limit, 0 for none; the default never exceeds it */
    static CompletionRequest parse(ObjectNode body, int serverMaxTokens) {
        OpenAiJson.rejectUnknown(body, KNOWN, "");
        String model = CommonFields.model(body);
        List<PromptInput> prompts = prompts(body.get("prompt"));
        boolean stream = CommonFields.stream(body);
        boolean includeUsage = CommonFields.includeUsage(body, stream);
        CommonFields.singleChoice(body, "n");
        CommonFields.singleChoice(body, "best_of");
        CommonFields.noLogitBias(body);
        if (Boolean.TRUE.equals(OpenAiJson.bool(body, "echo"))) {
            throw OpenAiErrors.invalid("echo", "is not supported");
        }
        String suffix = OpenAiJson.string(body, "suffix", "suffix");
        if (suffix != null && !suffix.isEmpty()) {
            throw OpenAiErrors.invalid("suffix", "is not supported");
        }
        Long logprobs = OpenAiJson.integer(body, "logprobs", 0, SamplingOptions.MAX_LOGPROBS);
        SamplingOptions.Builder b = SamplingFields.read(body,
                SamplingFields.maxTokens(body, "max_tokens", serverMaxTokens > 0
                        ? Math.min(DEFAULT_MAX_TOKENS, serverMaxTokens) : DEFAULT_MAX_TOKENS));
        // The engine returns the chosen token's logprob only when asked for >= 1 alternative.
        b.logprobs(logprobs == null ? 0 : Math.max(1, logprobs.intValue()));
        return new CompletionRequest(model, prompts, SamplingFields.build(b, "logprobs"), stream, includeUsage,
                logprobs == null ? -1 : logprobs.intValue(), CommonFields.priority(body));
    }

    /** A string, a list of strings, a list of token ids, or a list of lists of token ids. */
    private static List<PromptInput> prompts(JsonNode prompt) {
        if (prompt == null || prompt.isNull()) {
            throw OpenAiErrors.invalid("prompt", "is required");
        }
        if (prompt.isTextual()) {
            return List.of(text(prompt));
        }
        if (!prompt.isArray()) {
            throw OpenAiErrors.invalid("prompt", "must be a string, a list of strings or a list of token ids, got "
                    + OpenAiJson.describe(prompt));
        }
        ArrayNode list = (ArrayNode) prompt;
        if (list.isEmpty()) {
            throw OpenAiErrors.invalid("prompt", "must not be empty");
        }
        if (list.get(0).isNumber()) {
            return List.of(PromptInput.tokens(tokenIds(list)));
        }
        if (list.size() > MAX_PROMPTS) {
            throw OpenAiErrors.invalid("prompt", "at most " + MAX_PROMPTS + " prompts per request, got " + list.size());
        }
        List<PromptInput> out = new ArrayList<>(list.size());
        boolean texts = list.get(0).isTextual();
        for (JsonNode e : list) {
            if (texts && e.isTextual()) {
                out.add(text(e));
            } else if (!texts && e.isArray()) {
                if (e.isEmpty()) {
                    throw OpenAiErrors.invalid("prompt", "a list of token ids must not be empty");
                }
                out.add(PromptInput.tokens(tokenIds((ArrayNode) e)));
            } else {
                throw OpenAiErrors.invalid("prompt", "must be a string, a list of strings, a list of token ids "
                        + "or a list of lists of token ids; got a list mixing kinds");
            }
        }
        return out;
    }

    private static PromptInput text(JsonNode s) {
        if (s.textValue().isEmpty()) {
            throw OpenAiErrors.invalid("prompt", "must not be empty");
        }
        return PromptInput.text(s.textValue());
    }

    private static int[] tokenIds(ArrayNode list) {
        int[] ids = new int[list.size()];
        for (int i = 0; i < ids.length; i++) {
            // Range against the vocabulary is the engine's check; it names the field.
            ids[i] = (int) OpenAiJson.integerValue(list.get(i), "prompt", Integer.MIN_VALUE, Integer.MAX_VALUE);
        }
        return ids;
    }
}
