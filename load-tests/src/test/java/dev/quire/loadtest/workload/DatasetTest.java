package dev.quire.loadtest.workload;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DatasetTest {
    @TempDir
    Path dir;

    private Path file(String name, String content) throws IOException {
        Path f = dir.resolve(name);
        Files.writeString(f, content);
        return f;
    }

    @Test
    void readsShareGptConversationsAndSkipsOnesWithoutAReply() throws IOException {
        Path f = file("sg.json", """
                [
                  {"id": "a", "conversations": [
                     {"from": "human", "value": "Tell me a story about a cat."},
                     {"from": "gpt", "value": "Once upon a time there was a cat who liked to nap in the sun."},
                     {"from": "human", "value": "More!"}]},
                  {"id": "b", "conversations": [{"from": "human", "value": "alone"}]},
                  {"id": "c", "conversations": [
                     {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello there, friend"}]}
                ]""");
        Dataset d = Dataset.load(f, Dataset.Format.SHAREGPT, 0);
        assertThat(d.entries()).hasSize(2);
        RequestSpec first = d.entries().get(0);
        assertThat(first.prompt().text()).isEqualTo("Tell me a story about a cat.");
        assertThat(first.promptLen()).isEqualTo(Dataset.estimateTokens("Tell me a story about a cat."));
        assertThat(first.outputLen()).isEqualTo(15); // 61 characters / 4
        assertThat(d.entries().get(1).outputLen()).isEqualTo(5);

        Dataset fixed = Dataset.load(f, Dataset.Format.SHAREGPT, 7);
        assertThat(fixed.entries()).allSatisfy(e -> assertThat(e.outputLen()).isEqualTo(7));
    }

    @Test
    void readsJsonlWithTextOrTokenIdPrompts() throws IOException {
        Path f = file("d.jsonl", """
                {"prompt": "Once upon a time", "output_len": 12}

                {"prompt": [1, 403, 407], "output_len": 3}
                """);
        Dataset d = Dataset.load(f, Dataset.Format.JSONL, 0);
        assertThat(d.entries()).hasSize(2);
        assertThat(d.entries().get(0).prompt().text()).isEqualTo("Once upon a time");
        assertThat(d.entries().get(0).outputLen()).isEqualTo(12);
        assertThat(d.entries().get(1).prompt().tokenIds()).containsExactly(1, 403, 407);
        assertThat(d.entries().get(1).promptLen()).isEqualTo(3);
        assertThat(Dataset.guessFormat(f)).isEqualTo(Dataset.Format.JSONL);
        assertThat(Dataset.guessFormat(dir.resolve("x.json"))).isEqualTo(Dataset.Format.SHAREGPT);
    }

    @Test
    void badFilesGiveOneLineMessagesNamingTheFileAndTheProblem() throws IOException {
        assertThatThrownBy(() -> Dataset.load(dir.resolve("missing.json"), Dataset.Format.SHAREGPT, 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not found").hasMessageContaining("missing.json");
        Path broken = file("broken.json", "[{\"conversations\": [ {\"from\": \"human\", \"value\": \"x\"} ");
        assertThatThrownBy(() -> Dataset.load(broken, Dataset.Format.SHAREGPT, 0))
                .hasMessageContaining("broken.json").hasMessageContaining("not valid JSON").hasMessageContaining("line");
        Path object = file("object.json", "{\"conversations\": []}");
        assertThatThrownBy(() -> Dataset.load(object, Dataset.Format.SHAREGPT, 0))
                .hasMessageContaining("ShareGPT layout");
        Path empty = file("empty.json", "[]");
        assertThatThrownBy(() -> Dataset.load(empty, Dataset.Format.SHAREGPT, 0))
                .hasMessageContaining("no usable conversations");
        Path badLine = file("bad.jsonl", "{\"prompt\": \"a\", \"output_len\": 3}\n{\"prompt\": oops}\n");
        assertThatThrownBy(() -> Dataset.load(badLine, Dataset.Format.JSONL, 0))
                .hasMessageContaining("line 2").hasMessageContaining("not valid JSON");
        Path noLen = file("nolen.jsonl", "{\"prompt\": \"a\"}\n");
        assertThatThrownBy(() -> Dataset.load(noLen, Dataset.Format.JSONL, 0))
                .hasMessageContaining("line 1").hasMessageContaining("output_len");
        assertThat(Dataset.load(noLen, Dataset.Format.JSONL, 9).entries().get(0).outputLen()).isEqualTo(9);
        Path noPrompt = file("noprompt.jsonl", "{\"text\": \"a\", \"output_len\": 3}\n");
        assertThatThrownBy(() -> Dataset.load(noPrompt, Dataset.Format.JSONL, 0)).hasMessageContaining("\"prompt\"");
        Path negative = file("neg.jsonl", "{\"prompt\": [1, -4], \"output_len\": 3}\n");
        assertThatThrownBy(() -> Dataset.load(negative, Dataset.Format.JSONL, 0)).hasMessageContaining("non-negative");
        Path blank = file("blank.jsonl", "\n\n");
        assertThatThrownBy(() -> Dataset.load(blank, Dataset.Format.JSONL, 0)).hasMessageContaining("empty");
        // Every message is one line.
        for (Path p : new Path[]{broken, object, empty, badLine, noLen}) {
            Dataset.Format format = p.toString().endsWith(".jsonl") ? Dataset.Format.JSONL : Dataset.Format.SHAREGPT;
            assertThatThrownBy(() -> Dataset.load(p, format, 0)).satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
        }
    }

    @Test
    void fittingDropsEntriesLongerThanTheContext() throws IOException {
        Path f = file("d.jsonl", """
                {"prompt": [1, 2, 3, 4], "output_len": 4}
                {"prompt": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "output_len": 10}
                """);
        Dataset d = Dataset.load(f, Dataset.Format.JSONL, 0);
        assertThat(d.fitting(0).entries()).hasSize(2);
        assertThat(d.fitting(8).entries()).hasSize(1);
        assertThatThrownBy(() -> d.fitting(5)).hasMessageContaining("fits the model's context of 5");
    }

    @Test
    void datasetWorkloadVisitsEveryEntryOncePerPassInASeededOrder() throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= 10; i++) {
            sb.append("{\"prompt\": [").append(i).append("], \"output_len\": 1}\n");
        }
        Dataset d = Dataset.load(file("ten.jsonl", sb.toString()), Dataset.Format.JSONL, 0);
        DatasetWorkload w = new DatasetWorkload(d, 4);
        Map<Integer, Integer> seen = new HashMap<>();
        StringBuilder order = new StringBuilder();
        for (int i = 0; i < 30; i++) {
            int id = w.next().prompt().tokenIds()[0];
            seen.merge(id, 1, Integer::sum);
            order.append(id).append(',');
        }
        assertThat(seen).hasSize(10).allSatisfy((id, n) -> assertThat(n).isEqualTo(3));
        DatasetWorkload again = new DatasetWorkload(d, 4);
        StringBuilder order2 = new StringBuilder();
        for (int i = 0; i < 30; i++) {
            order2.append(again.next().prompt().tokenIds()[0]).append(',');
        }
        assertThat(order2.toString()).isEqualTo(order.toString());
        assertThat(order.toString()).isNotEqualTo("1,2,3,4,5,6,7,8,9,10,1,2,3,4,5,6,7,8,9,10,1,2,3,4,5,6,7,8,9,10,");
    }
}
