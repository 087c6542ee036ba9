package dev.quire.gateway.openai;

import dev.quire.gateway.admission.ErrorKind;
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
        var s = completion("{\"prompt\":[1,2],\"max_tokens\":33,\"temperature\":0.5,\"top_p\":0.9,\"top_k\":-1,"
                + "\"min_p\":0.1,\"seed\":-7,\"stop\":\"x\",\"stop_token_ids\":[2],\"presence_penalty\":0.25,"
                + "\"frequency_penalty\":-0.75,\"repetition_penalty\":1.1,\"ignore_eos\":true,\"logprobs\":0,"
                + "\"user\":\"u\"}", 0);
        assertThat(s.prompts()).hasSize(1);
        assertThat(s.prompts().get(0).tokenIds()).containsExactly(1, 2);
        // Every field reaches the engine's options, each with its own value (none swapped, none dropped).
        assertThat(s.sampling().maxTokens()).isEqualTo(33);
        assertThat(s.sampling().temperature()).isEqualTo(0.5f);
        assertThat(s.sampling().topP()).isEqualTo(0.9f);
        assertThat(s.sampling().topK()).as("vLLM's -1 is 'no top-k'").isZero();
        assertThat(s.sampling().minP()).isEqualTo(0.1f);
        assertThat(s.sampling().seed()).isEqualTo(-7L);
        assertThat(s.sampling().stop()).containsExactly("x");
        assertThat(s.sampling().stopTokenIds()).containsExactly(2);
        assertThat(s.sampling().ignoreEos()).isTrue();
        assertThat(s.sampling().presencePenalty()).isEqualTo(0.25f);
        assertThat(s.sampling().frequencyPenalty()).isEqualTo(-0.75f);
        assertThat(s.sampling().repetitionPenalty()).isEqualTo(1.1f);
        assertThat(s.logprobs()).isZero();
        assertThat(s.sampling().logprobs()).as("the engine still reports the chosen token").isEqualTo(1);

        // The chat endpoint reads the same fields into the same options.
        var c = chat("{" + MESSAGES + ",\"max_completion_tokens\":12,\"temperature\":1.5,\"top_p\":0.3,"
                + "\"top_k\":7,\"min_p\":0.2,\"seed\":42,\"stop\":[\"a\",\"b\"],\"stop_token_ids\":[5,6],"
                + "\"presence_penalty\":-1.5,\"frequency_penalty\":1.25,\"repetition_penalty\":0.8,"
                + "\"ignore_eos\":false,\"logprobs\":true,\"top_logprobs\":3}", 0).sampling();
        assertThat(c.maxTokens()).isEqualTo(12);
        assertThat(c.temperature()).isEqualTo(1.5f);
        assertThat(c.topP()).isEqualTo(0.3f);
        assertThat(c.topK()).isEqualTo(7);
        assertThat(c.minP()).isEqualTo(0.2f);
        assertThat(c.seed()).isEqualTo(42L);
        assertThat(c.stop()).containsExactly("a", "b");
        assertThat(c.stopTokenIds()).containsExactly(5, 6);
        assertThat(c.ignoreEos()).isFalse();
        assertThat(c.presencePenalty()).isEqualTo(-1.5f);
        assertThat(c.frequencyPenalty()).isEqualTo(1.25f);
        assertThat(c.repetitionPenalty()).isEqualTo(0.8f);
        assertThat(c.logprobs()).isEqualTo(3);
    }

    @Test
    void absentSamplingFieldsTakeTheEngineDefaults() {
        var s = completion("{\"prompt\":[1]}", 0).sampling();
        assertThat(s.temperature()).isEqualTo(1f);
        assertThat(s.topP()).isEqualTo(1f);
        assertThat(s.topK()).isZero();
        assertThat(s.minP()).isZero();
        assertThat(s.seed()).isNull();
        assertThat(s.stop()).isEmpty();
        assertThat(s.stopTokenIds()).isEmpty();
        assertThat(s.ignoreEos()).isFalse();
        assertThat(s.presencePenalty()).isZero();
        assertThat(s.frequencyPenalty()).isZero();
        assertThat(s.repetitionPenalty()).isEqualTo(1f);
        assertThat(s.logprobs()).isZero();
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
    void vllmPriorityIsReadByBothEndpoints() {
        assertThat(completion("{\"prompt\":\"a\"}", 0).priority()).isNull();
        assertThat(chat("{" + MESSAGES + "}", 0).priority()).isNull();
        assertThat(completion("{\"prompt\":\"a\",\"priority\":-1000}", 0).priority()).isEqualTo(-1000);
        assertThat(chat("{" + MESSAGES + ",\"priority\":1000}", 0).priority()).isEqualTo(1000);
        assertThat(chat("{" + MESSAGES + ",\"priority\":0}", 0).priority()).isEqualTo(0);
        assertThat(completion("{\"prompt\":\"a\",\"priority\":null}", 0).priority()).isNull();
    }

    @Test
    void priorityOfTheWrongTypeOrOutOfRangeIsA400NamingIt() {
        String[][] cases = {
                {"\"5\"", "priority: must be an integer, got a string"},
                {"1.5", "priority: must be an integer, got"},
                {"true", "priority: must be an integer, got"},
                {"1001", "priority: must be in [-1000, 1000], got 1001"},
                {"-1001", "priority: must be in [-1000, 1000], got -1001"},
                {"99999999999999999999", "priority: must be in [-1000, 1000]"},
        };
        for (String[] c : cases) {
            for (boolean isChat : new boolean[]{false, true}) {
                assertThatThrownBy(() -> {
                    if (isChat) {
                        chat("{" + MESSAGES + ",\"priority\":" + c[0] + "}", 0);
                    } else {
                        completion("{\"prompt\":\"a\",\"priority\":" + c[0] + "}", 0);
                    }
                }).as(c[0]).isInstanceOfSatisfying(GatewayException.class, e -> {
                    assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT);
                    assertThat(e.param()).isEqualTo("priority");
                    assertThat(e.getMessage()).startsWith(c[1]);
                });
            }
        }
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
