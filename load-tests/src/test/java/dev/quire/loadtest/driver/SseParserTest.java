package dev.quire.loadtest.driver;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

class SseParserTest {
    /** An OpenAI-style stream with the awkward parts: CRLF, a comment, a multi-line event, UTF-8, [DONE]. */
    private static final String STREAM = ": keep-alive\n\n"
            + "data: {\"choices\":[{\"text\":\"Once\"}]}\n\n"
            + "data: {\"choices\":[{\"text\":\" upon\"}]}\r\n\r\n"
            + "event: message\nid: 7\nretry: 1000\ndata: {\"choices\":[{\"text\":\" caf\u00e9 \u2615 \ud83d\ude00\"}]}\n\n"
            + "data: first line\ndata: second line\n\n"
            + "data:no-space\r\rdata: [DONE]\n\n";
    private static final List<String> EVENTS = List.of(
            "{\"choices\":[{\"text\":\"Once\"}]}",
            "{\"choices\":[{\"text\":\" upon\"}]}",
            "{\"choices\":[{\"text\":\" caf\u00e9 \u2615 \ud83d\ude00\"}]}",
            "first line\nsecond line",
            "no-space",
            "[DONE]");

    private static List<String> parse(byte[] bytes, int[] cuts) {
        List<String> events = new ArrayList<>();
        SseParser parser = new SseParser(events::add);
        int from = 0;
        for (int cut : cuts) {
            parser.feed(bytes, from, cut - from);
            from = cut;
        }
        parser.feed(bytes, from, bytes.length - from);
        parser.finish();
        return events;
    }

    @Test
    void wholeStreamInOneBuffer() {
        assertThat(parse(STREAM.getBytes(StandardCharsets.UTF_8), new int[0])).isEqualTo(EVENTS);
    }

    @Test
    void everySingleSplitPointGivesTheSameEvents() {
        byte[] bytes = STREAM.getBytes(StandardCharsets.UTF_8);
        for (int cut = 0; cut <= bytes.length; cut++) {
            assertThat(parse(bytes, new int[]{cut})).as("split at byte %d", cut).isEqualTo(EVENTS);
        }
    }

    @Test
    void byteByByteAndRandomChunkingGiveTheSameEvents() {
        byte[] bytes = STREAM.getBytes(StandardCharsets.UTF_8);
        int[] everyByte = new int[bytes.length - 1];
        Arrays.setAll(everyByte, i -> i + 1);
        assertThat(parse(bytes, everyByte)).isEqualTo(EVENTS);
        Random random = new Random(1);
        for (int trial = 0; trial < 500; trial++) {
            int[] cuts = random.ints(random.nextInt(12), 0, bytes.length + 1).sorted().toArray();
            assertThat(parse(bytes, cuts)).as("cuts %s", Arrays.toString(cuts)).isEqualTo(EVENTS);
        }
    }

    @Test
    void aLastEventWithoutItsBlankLineIsStillDelivered() {
        assertThat(parse("data: a\n\ndata: b".getBytes(StandardCharsets.UTF_8), new int[0])).containsExactly("a", "b");
        assertThat(parse("data: a\n".getBytes(StandardCharsets.UTF_8), new int[0])).containsExactly("a");
        assertThat(parse(new byte[0], new int[0])).isEmpty();
        assertThat(parse(": only a comment\n\n\n\n".getBytes(StandardCharsets.UTF_8), new int[0])).isEmpty();
    }

    @Test
    void longLinesGrowTheBuffer() {
        String big = "x".repeat(10_000);
        assertThat(parse(("data: " + big + "\n\n").getBytes(StandardCharsets.UTF_8), new int[]{3, 700, 5000}))
                .containsExactly(big);
    }
}
