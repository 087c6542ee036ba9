package dev.quire.gateway.openai;

import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

/**
 * Real Hugging Face chat templates (copied from the models' tokenizer_config.json files), rendered
 * by Jinjava; every expected string was produced by Python's Jinja2 set up as transformers does.
 */
public class ChatTemplateTest {
    public static final String LLAMA2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
    static final String LLAMA3 = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
    static final String CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    /** Mistral's: whitespace control ({%- and {{-) over indented lines. */
    static final String MISTRAL = "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content'] %}\n    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n\n{{- bos_token }}\n{%- for message in loop_messages %}\n    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}\n    {%- endif %}\n    {%- if message['role'] == 'user' %}\n        {%- if loop.first and system_message is defined %}\n            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n        {%- else %}\n            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n        {%- endif %}\n    {%- elif message['role'] == 'assistant' %}\n        {{- ' ' + message['content'] + eos_token}}\n    {%- else %}\n        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}\n    {%- endif %}\n{%- endfor %}\n";

    static final List<ChatMessage> CONVERSATION = List.of(
            new ChatMessage("system", "Be brief.", null),
            new ChatMessage("user", "  Hi there  ", null),
            new ChatMessage("assistant", "Hello!", null),
            new ChatMessage("user", "Tell me a story.\nAbout a cat.", null));

    static String render(String template, List<ChatMessage> messages) {
        return new ChatTemplate(template, "<s>", "</s>").render(messages);
    }

    /** Renders with no practical time limit: for the tests of other limits, on a machine of any speed. */
    static String renderUntimed(String template, List<ChatMessage> messages) {
        return new ChatTemplate(template, "<s>", "</s>", Duration.ofMinutes(5)).render(messages);
    }

    @Test
    void llama2() {
        assertThat(render(LLAMA2, CONVERSATION)).isEqualTo("<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n  Hi there [/INST] "
                + "Hello! </s><s>[INST] Tell me a story.\nAbout a cat. [/INST]");
    }

    @Test
    void llama3() {
        assertThat(render(LLAMA3, CONVERSATION)).isEqualTo("<s><|start_header_id|>system<|end_header_id|>\n\nBe brief."
                + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>assistant"
                + "<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nTell me a story.\n"
                + "About a cat.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    }

    @Test
    void chatMl() {
        assertThat(render(CHATML, CONVERSATION)).isEqualTo("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
                + "  Hi there  <|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nTell me a story.\n"
                + "About a cat.<|im_end|>\n<|im_start|>assistant\n");
    }

    @Test
    void whitespaceControlAsInPythonJinja() {
        assertThat(render(MISTRAL, CONVERSATION)).isEqualTo("<s> [INST] Be brief.\n\n  Hi there   [/INST] Hello!</s> "
                + "[INST] Tell me a story.\nAbout a cat. [/INST]");
    }

    /** Template syntax a client may send as text; it must reach the model as that text, never run. */
    static final List<String> PAYLOADS = List.of("{{ 7*7 }}", "{% if true %}x{% endif %}", "{# c #}",
            "{{ raise_exception('x') }}", "{{ bos_token }}");

    /** A conversation in which every field a client writes (content, name, system prompt) holds {@code p}. */
    static List<ChatMessage> injected(String p, boolean withSystem) {
        List<ChatMessage> out = new ArrayList<>();
        if (withSystem) {
            out.add(new ChatMessage("system", "Rules: " + p, "ops" + p));
        }
        out.add(new ChatMessage("user", "A" + p + "B", "alice" + p));
        out.add(new ChatMessage("assistant", " " + p + " ", "bot" + p));
        out.add(new ChatMessage("user", p + "\n" + p, "alice"));
        return out;
    }

    /** A template of src/test/resources/chat-templates, read as a model's chat_template.jinja is. */
    static String resourceTemplate(String name) {
        try (InputStream in = ChatTemplateTest.class.getResourceAsStream("/chat-templates/" + name + ".jinja")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Template, payload index, with a system message, expected prompt, or (prompt null) the message the
     * template raises. The templates are the models' own: Meta-Llama-3-8B-Instruct, Qwen2-7B-Instruct,
     * Mistral-7B-Instruct-v0.1 and gemma-7b-it; chatml-names is ChatML that also prints names. Expected
     * strings come from Python's Jinja2 3.1.6 set up as transformers does (ImmutableSandboxedEnvironment,
     * trim_blocks, lstrip_blocks, raise_exception, strftime_now; bos_token "<s>", eos_token "</s>",
     * add_generation_prompt=True) on the same messages.
     */
    static Stream<Arguments> injectionCases() {
        return Stream.of(
                Arguments.of("llama3-instruct", 0, false, "<s><|start_header_id|>user<|end_header_id|>\n\nA{{ 7*7 }}B<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{{ 7*7 }}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{{ 7*7 }}\n{{ 7*7 }}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", null),
                Arguments.of("llama3-instruct", 0, true, "<s><|start_header_id|>system<|end_header_id|>\n\nRules: {{ 7*7 }}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nA{{ 7*7 }}B<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{{ 7*7 }}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{{ 7*7 }}\n{{ 7*7 }}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", null),
                Arguments.of("llama3-instruct", 1, false, "<s><|start_header_id|>user<|end_header_id|>\n\nA{% if true %}x{% endif %}B<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{% if true %}x{% endif %}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{% if true %}x{% endif %}\n{% if true %}x{% endif %}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", null),
                Arguments.of("llama3-instruct", 1, true, "<s><|start_header_id|>system<|end_header_id|>\n\nRules: {% if true %}x{% endif %}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nA{% if true %}x{% endif %}B<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{% if true %}x{% endif %}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{% if true %}x{% endif %}\n{% if true %}x{% endif %}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", null),
                Arguments.of("llama3-instruct", 2, false, "<s><|start_header_id|>user<|end_header_id|>\n\nA{# c #}B<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{# c #}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{# c #}\n{# c #}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", null),
                Arguments.of("llama3-instruct", 2, true, "<s><|start_header_id|>system<|end_header_id|>\n\nRules: {# c #}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nA{# c #}B<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{# c #}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{# c #}\n{# c #}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", null),
                Arguments.of("llama3-instruct", 3, false, "<s><|start_header_id|>user<|end_header_id|>\n\nA{{ raise_exception('x') }}B<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{{ raise_exception('x') }}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{{ raise_exception('x') }}\n{{ raise_exception('x') }}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", null),
                Arguments.of("llama3-instruct", 3, true, "<s><|start_header_id|>system<|end_header_id|>\n\nRules: {{ raise_exception('x') }}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nA{{ raise_exception('x') }}B<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{{ raise_exception('x') }}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{{ raise_exception('x') }}\n{{ raise_exception('x') }}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", null),
                Arguments.of("llama3-instruct", 4, false, "<s><|start_header_id|>user<|end_header_id|>\n\nA{{ bos_token }}B<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{{ bos_token }}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{{ bos_token }}\n{{ bos_token }}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", null),
                Arguments.of("llama3-instruct", 4, true, "<s><|start_header_id|>system<|end_header_id|>\n\nRules: {{ bos_token }}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nA{{ bos_token }}B<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{{ bos_token }}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{{ bos_token }}\n{{ bos_token }}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", null),
                Arguments.of("qwen2-instruct", 0, false, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nA{{ 7*7 }}B<|im_end|>\n<|im_start|>assistant\n {{ 7*7 }} <|im_end|>\n<|im_start|>user\n{{ 7*7 }}\n{{ 7*7 }}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("qwen2-instruct", 0, true, "<|im_start|>system\nRules: {{ 7*7 }}<|im_end|>\n<|im_start|>user\nA{{ 7*7 }}B<|im_end|>\n<|im_start|>assistant\n {{ 7*7 }} <|im_end|>\n<|im_start|>user\n{{ 7*7 }}\n{{ 7*7 }}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("qwen2-instruct", 1, false, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nA{% if true %}x{% endif %}B<|im_end|>\n<|im_start|>assistant\n {% if true %}x{% endif %} <|im_end|>\n<|im_start|>user\n{% if true %}x{% endif %}\n{% if true %}x{% endif %}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("qwen2-instruct", 1, true, "<|im_start|>system\nRules: {% if true %}x{% endif %}<|im_end|>\n<|im_start|>user\nA{% if true %}x{% endif %}B<|im_end|>\n<|im_start|>assistant\n {% if true %}x{% endif %} <|im_end|>\n<|im_start|>user\n{% if true %}x{% endif %}\n{% if true %}x{% endif %}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("qwen2-instruct", 2, false, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nA{# c #}B<|im_end|>\n<|im_start|>assistant\n {# c #} <|im_end|>\n<|im_start|>user\n{# c #}\n{# c #}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("qwen2-instruct", 2, true, "<|im_start|>system\nRules: {# c #}<|im_end|>\n<|im_start|>user\nA{# c #}B<|im_end|>\n<|im_start|>assistant\n {# c #} <|im_end|>\n<|im_start|>user\n{# c #}\n{# c #}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("qwen2-instruct", 3, false, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nA{{ raise_exception('x') }}B<|im_end|>\n<|im_start|>assistant\n {{ raise_exception('x') }} <|im_end|>\n<|im_start|>user\n{{ raise_exception('x') }}\n{{ raise_exception('x') }}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("qwen2-instruct", 3, true, "<|im_start|>system\nRules: {{ raise_exception('x') }}<|im_end|>\n<|im_start|>user\nA{{ raise_exception('x') }}B<|im_end|>\n<|im_start|>assistant\n {{ raise_exception('x') }} <|im_end|>\n<|im_start|>user\n{{ raise_exception('x') }}\n{{ raise_exception('x') }}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("qwen2-instruct", 4, false, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nA{{ bos_token }}B<|im_end|>\n<|im_start|>assistant\n {{ bos_token }} <|im_end|>\n<|im_start|>user\n{{ bos_token }}\n{{ bos_token }}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("qwen2-instruct", 4, true, "<|im_start|>system\nRules: {{ bos_token }}<|im_end|>\n<|im_start|>user\nA{{ bos_token }}B<|im_end|>\n<|im_start|>assistant\n {{ bos_token }} <|im_end|>\n<|im_start|>user\n{{ bos_token }}\n{{ bos_token }}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("mistral-instruct-v0.1", 0, false, "<s>[INST] A{{ 7*7 }}B [/INST] {{ 7*7 }} </s> [INST] {{ 7*7 }}\n{{ 7*7 }} [/INST]", null),
                Arguments.of("mistral-instruct-v0.1", 0, true, null, "Conversation roles must alternate user/assistant/user/assistant/..."),
                Arguments.of("mistral-instruct-v0.1", 1, false, "<s>[INST] A{% if true %}x{% endif %}B [/INST] {% if true %}x{% endif %} </s> [INST] {% if true %}x{% endif %}\n{% if true %}x{% endif %} [/INST]", null),
                Arguments.of("mistral-instruct-v0.1", 1, true, null, "Conversation roles must alternate user/assistant/user/assistant/..."),
                Arguments.of("mistral-instruct-v0.1", 2, false, "<s>[INST] A{# c #}B [/INST] {# c #} </s> [INST] {# c #}\n{# c #} [/INST]", null),
                Arguments.of("mistral-instruct-v0.1", 2, true, null, "Conversation roles must alternate user/assistant/user/assistant/..."),
                Arguments.of("mistral-instruct-v0.1", 3, false, "<s>[INST] A{{ raise_exception('x') }}B [/INST] {{ raise_exception('x') }} </s> [INST] {{ raise_exception('x') }}\n{{ raise_exception('x') }} [/INST]", null),
                Arguments.of("mistral-instruct-v0.1", 3, true, null, "Conversation roles must alternate user/assistant/user/assistant/..."),
                Arguments.of("mistral-instruct-v0.1", 4, false, "<s>[INST] A{{ bos_token }}B [/INST] {{ bos_token }} </s> [INST] {{ bos_token }}\n{{ bos_token }} [/INST]", null),
                Arguments.of("mistral-instruct-v0.1", 4, true, null, "Conversation roles must alternate user/assistant/user/assistant/..."),
                Arguments.of("gemma-it", 0, false, "<s><start_of_turn>user\nA{{ 7*7 }}B<end_of_turn>\n<start_of_turn>model\n{{ 7*7 }}<end_of_turn>\n<start_of_turn>user\n{{ 7*7 }}\n{{ 7*7 }}<end_of_turn>\n<start_of_turn>model\n", null),
                Arguments.of("gemma-it", 0, true, null, "System role not supported"),
                Arguments.of("gemma-it", 1, false, "<s><start_of_turn>user\nA{% if true %}x{% endif %}B<end_of_turn>\n<start_of_turn>model\n{% if true %}x{% endif %}<end_of_turn>\n<start_of_turn>user\n{% if true %}x{% endif %}\n{% if true %}x{% endif %}<end_of_turn>\n<start_of_turn>model\n", null),
                Arguments.of("gemma-it", 1, true, null, "System role not supported"),
                Arguments.of("gemma-it", 2, false, "<s><start_of_turn>user\nA{# c #}B<end_of_turn>\n<start_of_turn>model\n{# c #}<end_of_turn>\n<start_of_turn>user\n{# c #}\n{# c #}<end_of_turn>\n<start_of_turn>model\n", null),
                Arguments.of("gemma-it", 2, true, null, "System role not supported"),
                Arguments.of("gemma-it", 3, false, "<s><start_of_turn>user\nA{{ raise_exception('x') }}B<end_of_turn>\n<start_of_turn>model\n{{ raise_exception('x') }}<end_of_turn>\n<start_of_turn>user\n{{ raise_exception('x') }}\n{{ raise_exception('x') }}<end_of_turn>\n<start_of_turn>model\n", null),
                Arguments.of("gemma-it", 3, true, null, "System role not supported"),
                Arguments.of("gemma-it", 4, false, "<s><start_of_turn>user\nA{{ bos_token }}B<end_of_turn>\n<start_of_turn>model\n{{ bos_token }}<end_of_turn>\n<start_of_turn>user\n{{ bos_token }}\n{{ bos_token }}<end_of_turn>\n<start_of_turn>model\n", null),
                Arguments.of("gemma-it", 4, true, null, "System role not supported"),
                Arguments.of("chatml-names", 0, false, "<|im_start|>user name=alice{{ 7*7 }}\nA{{ 7*7 }}B<|im_end|>\n<|im_start|>assistant name=bot{{ 7*7 }}\n {{ 7*7 }} <|im_end|>\n<|im_start|>user name=alice\n{{ 7*7 }}\n{{ 7*7 }}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("chatml-names", 0, true, "<|im_start|>system name=ops{{ 7*7 }}\nRules: {{ 7*7 }}<|im_end|>\n<|im_start|>user name=alice{{ 7*7 }}\nA{{ 7*7 }}B<|im_end|>\n<|im_start|>assistant name=bot{{ 7*7 }}\n {{ 7*7 }} <|im_end|>\n<|im_start|>user name=alice\n{{ 7*7 }}\n{{ 7*7 }}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("chatml-names", 1, false, "<|im_start|>user name=alice{% if true %}x{% endif %}\nA{% if true %}x{% endif %}B<|im_end|>\n<|im_start|>assistant name=bot{% if true %}x{% endif %}\n {% if true %}x{% endif %} <|im_end|>\n<|im_start|>user name=alice\n{% if true %}x{% endif %}\n{% if true %}x{% endif %}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("chatml-names", 1, true, "<|im_start|>system name=ops{% if true %}x{% endif %}\nRules: {% if true %}x{% endif %}<|im_end|>\n<|im_start|>user name=alice{% if true %}x{% endif %}\nA{% if true %}x{% endif %}B<|im_end|>\n<|im_start|>assistant name=bot{% if true %}x{% endif %}\n {% if true %}x{% endif %} <|im_end|>\n<|im_start|>user name=alice\n{% if true %}x{% endif %}\n{% if true %}x{% endif %}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("chatml-names", 2, false, "<|im_start|>user name=alice{# c #}\nA{# c #}B<|im_end|>\n<|im_start|>assistant name=bot{# c #}\n {# c #} <|im_end|>\n<|im_start|>user name=alice\n{# c #}\n{# c #}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("chatml-names", 2, true, "<|im_start|>system name=ops{# c #}\nRules: {# c #}<|im_end|>\n<|im_start|>user name=alice{# c #}\nA{# c #}B<|im_end|>\n<|im_start|>assistant name=bot{# c #}\n {# c #} <|im_end|>\n<|im_start|>user name=alice\n{# c #}\n{# c #}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("chatml-names", 3, false, "<|im_start|>user name=alice{{ raise_exception('x') }}\nA{{ raise_exception('x') }}B<|im_end|>\n<|im_start|>assistant name=bot{{ raise_exception('x') }}\n {{ raise_exception('x') }} <|im_end|>\n<|im_start|>user name=alice\n{{ raise_exception('x') }}\n{{ raise_exception('x') }}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("chatml-names", 3, true, "<|im_start|>system name=ops{{ raise_exception('x') }}\nRules: {{ raise_exception('x') }}<|im_end|>\n<|im_start|>user name=alice{{ raise_exception('x') }}\nA{{ raise_exception('x') }}B<|im_end|>\n<|im_start|>assistant name=bot{{ raise_exception('x') }}\n {{ raise_exception('x') }} <|im_end|>\n<|im_start|>user name=alice\n{{ raise_exception('x') }}\n{{ raise_exception('x') }}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("chatml-names", 4, false, "<|im_start|>user name=alice{{ bos_token }}\nA{{ bos_token }}B<|im_end|>\n<|im_start|>assistant name=bot{{ bos_token }}\n {{ bos_token }} <|im_end|>\n<|im_start|>user name=alice\n{{ bos_token }}\n{{ bos_token }}<|im_end|>\n<|im_start|>assistant\n", null),
                Arguments.of("chatml-names", 4, true, "<|im_start|>system name=ops{{ bos_token }}\nRules: {{ bos_token }}<|im_end|>\n<|im_start|>user name=alice{{ bos_token }}\nA{{ bos_token }}B<|im_end|>\n<|im_start|>assistant name=bot{{ bos_token }}\n {{ bos_token }} <|im_end|>\n<|im_start|>user name=alice\n{{ bos_token }}\n{{ bos_token }}<|im_end|>\n<|im_start|>assistant\n", null));
    }

    @ParameterizedTest(name = "{0}, payload {1}, system message {2}")
    @MethodSource("injectionCases")
    void messageTextIsNeverRunAsTemplateCode(String template, int payload, boolean withSystem, String expected,
                                             String raised) {
        ChatTemplate t = new ChatTemplate(resourceTemplate(template), "<s>", "</s>");
        List<ChatMessage> messages = injected(PAYLOADS.get(payload), withSystem);
        if (raised == null) {
            assertThat(t.render(messages)).isEqualTo(expected);
        } else {
            assertThatThrownBy(() -> t.render(messages)).isInstanceOfSatisfying(GatewayException.class, e -> {
                assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT);
                assertThat(e.getMessage()).isEqualTo("messages: " + raised);
            });
        }
    }

    @Test
    void raiseExceptionIsTheClientsError() {
        List<ChatMessage> twoUsers = List.of(new ChatMessage("user", "a", null), new ChatMessage("user", "b", null));
        assertThatThrownBy(() -> render(LLAMA2, twoUsers)).isInstanceOfSatisfying(GatewayException.class, e -> {
            assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT);
            assertThat(e.param()).isEqualTo("messages");
            assertThat(e.getMessage()).isEqualTo("messages: Conversation roles must alternate user/assistant/user/assistant/...");
        });
    }

    @Test
    void brokenTemplateIsTheServersError() {
        assertThatThrownBy(() -> render("{{ messages[0].content.nope('x') }}", CONVERSATION))
                .isInstanceOfSatisfying(GatewayException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.INTERNAL));
    }

    @Test
    void aPromptLongerThanTheLimitIsRefused() {
        String template = "{% for i in range(1000) %}{{ messages[0]['content'] }}{% endfor %}";
        List<ChatMessage> big = List.of(new ChatMessage("user", "x".repeat(5000), null));
        assertThatThrownBy(() -> renderUntimed(template, big)).isInstanceOfSatisfying(GatewayException.class, e -> {
            assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT);
            assertThat(e.param()).isEqualTo("messages");
        });
        assertThat(renderUntimed(template, List.of(new ChatMessage("user", "x".repeat(4000), null)))).hasSize(4_000_000);
    }

    @Test
    void stringsATemplateBuildsAreBounded() {
        String doubling = "{% set s = messages[0]['content'] %}{% for i in range(40) %}{% set s = s + s %}{% endfor %}"
                + "{{ s | length }}";
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> assertThatThrownBy(() -> render(doubling, CONVERSATION))
                .isInstanceOf(GatewayException.class));
    }

    @Test
    void aTemplateThatRunsTooLongIsStopped() {
        String busy = "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% set x = c %}"
                + "{% endfor %}{% endfor %}{% endfor %}done";
        long start = System.nanoTime();
        assertTimeoutPreemptively(Duration.ofSeconds(20), () -> assertThatThrownBy(() -> render(busy, CONVERSATION))
                .isInstanceOfSatisfying(GatewayException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.INTERNAL)));
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(ChatTemplate.RENDER_TIME_LIMIT.plusSeconds(5));
    }

    @Test
    void recursiveMacroCallsAreCutOffInsteadOfExhaustingTheStack() {
        // Jinjava refuses a macro calling itself (Jinja2 allows it): the inner call renders nothing.
        assertThat(render("[{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}]", CONVERSATION)).isEqualTo("[]");
    }

    @Test
    void fallbackWithoutTemplate() {
        ChatTemplate plain = new ChatTemplate(null, "<s>", "</s>");
        assertThat(plain.isModelTemplate()).isFalse();
        assertThat(plain.render(CONVERSATION)).isEqualTo(
                "system: Be brief.\nuser:   Hi there  \nassistant: Hello!\nuser: Tell me a story.\nAbout a cat.\nassistant:");
    }
}
