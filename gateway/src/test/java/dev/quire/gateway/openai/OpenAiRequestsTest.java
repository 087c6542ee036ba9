package dev.quire.gateway.openai;

import dev.quire.gateway.admission.GatewayException;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Request parsing details that need no server: defaults, aliases and mappings. */
class OpenAiRequestsTest {
    static CompletionRequest completion(String json, int serverMaxTokens) {
        return CompletionRequest.parse(OpenAiJson.parseObject(json.getBytes(StandardCharsets.UTF_8)), serverMaxTokens);
    }

    static ChatRequest chat(String json, int serverMaxTokens) {
        return ChatRequest.parse(OpenAiJson.parseObject(json.getBytes(StandardCharsets.UTF_8)), serverMaxTokens);
    }

    static final String MESSAGES = "\"messages\":[{\"role\":\"developer\",\"content\":\"Be kind.\",\"name\":\"ops\"}]";

    @Test
    void defaultBudgetsRespectTheServersLimit() {
        assertThat(completion("{\"prompt\":\"a\"}", 0).sampling().maxTokens()).isEqualTo(16);
        assertThat(completion("{\"prompt\":\"a\"}", 8).sampling().maxTokens()).isEqualTo(8);
        assertThat(chat("{" + MESSAGES + "}", 0).sampling().maxTokens()).isZero(); // until the context is full
        assertThat(chat("{" + MESSAGES + "}", 300).sampling().maxTokens()).isEqualTo(300);
    }

    @Test
    void maxCompletionTokensWinsOverMaxTokens() {
        assertThat(chat("{" + MESSAGES + ",\"max_tokens\":5,\"max_completion_tokens\":9}", 0).sampling().maxTokens())
                .isEqualTo(9);
    }

    @Test
    void samplingFieldsMapOntoTheEngineOptions() {
        var s = completion("{\"prompt\":[1,2],\"temperature\":0.5,\"top_p\":0.9,\"top_k\":-1,\"min_p\":0.1,"
                + "\"seed\":-7,\"stop\":\"x\",\"stop_token_ids\":[2],\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,"
                + "\"repetition_penalty\":1.1,\"ignore_eos\":true,\"logprobs\":0,\"user\":\"u\"}", 0);
        assertThat(s.prompts()).hasSize(1);
        assertThat(s.prompts().get(0).tokenIds()).containsExactly(1, 2);
        assertThat(s.sampling().temperature()).isEqualTo(0.5f);
        assertThat(s.sampling().topK()).isZero();
        assertThat(s.sampling().seed()).isEqualTo(-7L);
        assertThat(s.sampling().stop()).containsExactly("x");
        assertThat(s.sampling().stopTokenIds()).containsExactly(2);
        assertThat(s.sampling().ignoreEos()).isTrue();
        assertThat(s.sampling().repetitionPenalty()).isEqualTo(1.1f);
        assertThat(s.logprobs()).isZero();
        assertThat(s.sampling().logprobs()).as("the engine still reports the chosen token").isEqualTo(1);
    }

    @Test
    void chatMessagesAndLogprobs() {
        ChatRequest r = chat("{" + MESSAGES + ",\"logprobs\":true,\"stream\":true,"
                + "\"stream_options\":{\"include_usage\":true}}", 0);
        assertThat(r.messages()).containsExactly(new ChatMessage("system", "Be kind.", "ops"));
        assertThat(r.topLogprobs()).isZero();
        assertThat(r.stream()).isTrue();
        assertThat(r.includeUsage()).isTrue();
        assertThat(chat("{" + MESSAGES + "}", 0).topLogprobs()).isEqualTo(-1);
    }

    @Test
    void engineRangeErrorsNameTheFieldAsTheEndpointSpellsIt() {
        assertThatThrownBy(() -> chat("{" + MESSAGES + ",\"min_p\":2}", 0))
                .isInstanceOfSatisfying(GatewayException.class, e -> {
                    assertThat(e.param()).isEqualTo("min_p");
                    assertThat(e.getMessage()).startsWith("min_p: must be in [0, 1]");
                });
    }
}
