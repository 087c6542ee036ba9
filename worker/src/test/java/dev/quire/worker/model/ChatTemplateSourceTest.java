package dev.quire.worker.model;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ChatTemplateSourceTest {

    @Test
    void readsTemplateAndSpecialTokensFromTokenizerConfig(@TempDir Path dir) throws Exception {
        // A list of named templates picks "default"; tokens may be AddedToken objects.
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"bos_token": {"content": "<|begin|>", "lstrip": false}, "eos_token": "<|end|>",
                 "chat_template": [{"name": "tool_use", "template": "TOOLS"},
                                   {"name": "default", "template": "DEFAULT"}]}
                """);
        assertThat(ChatTemplateSource.load(dir)).isEqualTo(new ChatTemplateSource("DEFAULT", "<|begin|>", "<|end|>"));
    }

    @Test
    void readsChatTemplateJinjaFileAndHasNoneWithoutOne(@TempDir Path dir) throws Exception {
        assertThat(ChatTemplateSource.load(dir)).isEqualTo(new ChatTemplateSource(null, null, null));
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": \"<s>\"}");
        assertThat(ChatTemplateSource.load(dir)).isEqualTo(new ChatTemplateSource(null, "<s>", null));
        Files.writeString(dir.resolve("chat_template.jinja"), "{{ messages[-1]['content'] }}");
        assertThat(ChatTemplateSource.load(dir).template()).isEqualTo("{{ messages[-1]['content'] }}");
    }

    @Test
    void malformedConfigNamesTheFile(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("tokenizer_config.json"), "{not json");
        assertThatThrownBy(() -> ChatTemplateSource.load(dir)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("tokenizer_config.json");
    }
}
