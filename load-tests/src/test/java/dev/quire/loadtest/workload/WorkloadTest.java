package dev.quire.loadtest.workload;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class WorkloadTest {
    private static final PromptSynthesizer IDS = new PromptSynthesizer(PromptFormat.IDS, 512);
    private static final PromptSynthesizer TEXT = new PromptSynthesizer(PromptFormat.TEXT, 0);

    @Test
    void randomTokenPromptsHaveExactLengthsAndStayInsideTheVocabulary() {
        RandomWorkload w = new RandomWorkload(IDS, 32, 16, 0, 1);
        for (int i = 0; i < 200; i++) {
            RequestSpec r = w.next();
            assertThat(r.prompt().isTokens()).isTrue();
            assertThat(r.prompt().tokenIds()).hasSize(32);
            assertThat(r.promptLen()).isEqualTo(32);
            assertThat(r.outputLen()).isEqualTo(16);
            // Special tokens sit at the ends of the vocabulary: the middle 98% is used.
            assertThat(Arrays.stream(r.prompt().tokenIds()).boxed()).allSatisfy(id -> assertThat(id).isBetween(6, 505));
        }
    }

    @Test
    void sameSeedGivesTheSameRequestsAndAnotherSeedDoesNot() {
        RandomWorkload a = new RandomWorkload(IDS, 20, 10, 0.5, 99);
        RandomWorkload b = new RandomWorkload(IDS, 20, 10, 0.5, 99);
        RandomWorkload c = new RandomWorkload(IDS, 20, 10, 0.5, 100);
        boolean differs = false;
        for (int i = 0; i < 50; i++) {
            RequestSpec x = a.next();
            assertThat(b.next()).isEqualTo(x);
            differs |= !c.next().equals(x);
        }
        assertThat(differs).isTrue();
    }

    @Test
    void rangeRatioSpreadsLengthsUniformlyAroundTheMean() {
        RandomWorkload w = new RandomWorkload(IDS, 100, 50, 0.2, 5);
        Set<Integer> inputs = new HashSet<>();
        double sum = 0;
        for (int i = 0; i < 5000; i++) {
            RequestSpec r = w.next();
            assertThat(r.promptLen()).isBetween(80, 120);
            assertThat(r.outputLen()).isBetween(40, 60);
            assertThat(r.prompt().tokenIds()).hasSize(r.promptLen());
            inputs.add(r.promptLen());
            sum += r.promptLen();
        }
        assertThat(inputs).hasSize(41);
        assertThat(sum / 5000).isBetween(99.0, 101.0);
    }

    @Test
    void textPromptsAreWordsOfTheAskedCount() {
        RequestSpec r = new RandomWorkload(TEXT, 25, 8, 0, 3).next();
        assertThat(r.prompt().isTokens()).isFalse();
        assertThat(r.prompt().text().split(" ")).hasSize(25);
        assertThat(r.promptLen()).isEqualTo(25);
    }

    @Test
    void sharedPrefixRequestsShareOneOfNPrefixes() {
        SharedPrefixWorkload w = new SharedPrefixWorkload(IDS, 3, 64, 8, 4, 0, 12);
        Set<String> prefixes = new HashSet<>();
        Set<String> suffixes = new HashSet<>();
        for (int i = 0; i < 300; i++) {
            RequestSpec r = w.next();
            int[] ids = r.prompt().tokenIds();
            assertThat(ids).hasSize(72);
            assertThat(r.promptLen()).isEqualTo(72);
            prefixes.add(Arrays.toString(Arrays.copyOfRange(ids, 0, 64)));
            suffixes.add(Arrays.toString(Arrays.copyOfRange(ids, 64, 72)));
        }
        assertThat(prefixes).hasSize(3);
        assertThat(suffixes).hasSizeGreaterThan(250);
    }

    @Test
    void sharedPrefixTextPromptsStartWithTheGroupsPrefix() {
        SharedPrefixWorkload w = new SharedPrefixWorkload(TEXT, 1, 10, 5, 4, 0, 1);
        String first = w.next().prompt().text();
        String prefix = String.join(" ", Arrays.copyOf(first.split(" "), 10));
        IntStream.range(0, 20).forEach(i -> assertThat(w.next().prompt().text()).startsWith(prefix + " "));
    }

    @Test
    void rejectsWhatCannotBeSent() {
        assertThatThrownBy(() -> new PromptSynthesizer(PromptFormat.IDS, 0)).hasMessageContaining("vocabulary");
        assertThatThrownBy(() -> new RandomWorkload(IDS, 0, 5, 0, 1)).hasMessageContaining(">= 1");
        assertThatThrownBy(() -> new RandomWorkload(IDS, 5, 5, 1.0, 1)).hasMessageContaining("range ratio");
        assertThatThrownBy(() -> new RequestSpec(Prompt.ofText("x"), 1, 0)).hasMessageContaining("output length");
    }
}
