package dev.quire.worker.engine;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;

class StopStringFilterTest {

    @Test
    void withoutStopStringsTextPassesThrough() {
        StopStringFilter f = new StopStringFilter(List.of());
        assertThat(f.offer("abc")).isEqualTo(new StopStringFilter.Result("abc", false));
    }

    @Test
    void holdsBackAPossibleStartOfAStopStringUntilItIsDecided() {
        StopStringFilter f = new StopStringFilter(List.of("STOP"));
        assertThat(f.offer("hello S").text()).isEqualTo("hello ");
        assertThat(f.offer("T").text()).isEmpty();
        assertThat(f.offer("ar").text()).isEqualTo("STar");
    }

    @Test
    void stopStringSplitAcrossChunksIsCutAndNeverSent() {
        StopStringFilter f = new StopStringFilter(List.of("the end"));
        StringBuilder sent = new StringBuilder();
        StopStringFilter.Result r = null;
        for (String chunk : List.of("and that was", " th", "e e", "nd of it")) {
            r = f.offer(chunk);
            sent.append(r.text());
            if (r.stopped()) {
                break;
            }
        }
        assertThat(r.stopped()).isTrue();
        assertThat(sent.toString()).isEqualTo("and that was ");
    }

    @Test
    void earliestOfSeveralStopStringsWins() {
        StopStringFilter f = new StopStringFilter(List.of("xyz", "b"));
        StopStringFilter.Result r = f.offer("a b xyz");
        assertThat(r).isEqualTo(new StopStringFilter.Result("a ", true));
    }

    @Test
    void flushReleasesHeldTextWhenGenerationEndsOtherwise() {
        StopStringFilter f = new StopStringFilter(List.of("abc"));
        assertThat(f.offer("xxab").text()).isEqualTo("xx");
        assertThat(f.flush()).isEqualTo("ab");
    }

    @Test
    void randomChunkingNeverChangesWhatIsSent() {
        Random random = new Random(7);
        String alphabet = "ab ";
        List<String> stops = List.of("abba", "b a");
        for (int trial = 0; trial < 2000; trial++) {
            StringBuilder full = new StringBuilder();
            for (int i = 0; i < 30; i++) {
                full.append(alphabet.charAt(random.nextInt(alphabet.length())));
            }
            String text = full.toString();
            int cut = -1;
            for (String s : stops) {
                int at = text.indexOf(s);
                if (at >= 0 && (cut < 0 || at < cut)) {
                    cut = at;
                }
            }
            String expected = cut < 0 ? text : text.substring(0, cut);

            StopStringFilter f = new StopStringFilter(stops);
            StringBuilder sent = new StringBuilder();
            boolean stopped = false;
            int at = 0;
            while (at < text.length() && !stopped) {
                int len = 1 + random.nextInt(4);
                StopStringFilter.Result r = f.offer(text.substring(at, Math.min(text.length(), at + len)));
                sent.append(r.text());
                stopped = r.stopped();
                at += len;
            }
            if (!stopped) {
                sent.append(f.flush());
            }
            assertThat(sent.toString()).as(text).isEqualTo(expected);
            assertThat(stopped).isEqualTo(cut >= 0);
        }
    }
}
