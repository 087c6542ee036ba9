package dev.quire.gateway.openai;

import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
    void fallbackWithoutTemplate() {
        ChatTemplate plain = new ChatTemplate(null, "<s>", "</s>");
        assertThat(plain.isModelTemplate()).isFalse();
        assertThat(plain.render(CONVERSATION)).isEqualTo(
                "system: Be brief.\nuser:   Hi there  \nassistant: Hello!\nuser: Tell me a story.\nAbout a cat.\nassistant:");
    }
}
