package dev.quire.scheduler.engine;

import org.junit.jupiter.api.Test;

import java.util.Collections;
import java.util.List;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SamplingOptionsTest {

    private static void assertRejected(SamplingOptions.Builder builder, String field) {
        assertThatThrownBy(builder::build)
                .isInstanceOfSatisfying(InvalidRequestException.class, e -> assertThat(e.field()).isEqualTo(field));
    }

    @Test
    void stopStringsAreBoundedInCountAndLength() {
        List<String> most = IntStream.range(0, 16).mapToObj(i -> "s" + i).toList();
        assertThat(SamplingOptions.builder().stop(most).build().stop()).hasSize(16);
        List<String> tooMany = IntStream.range(0, 16 + 1).mapToObj(i -> "s" + i)
                .toList();
        assertRejected(SamplingOptions.builder().stop(tooMany), "stop");

        String longest = "x".repeat(256);
        assertThat(SamplingOptions.builder().stop(List.of(longest)).build().stop()).containsExactly(longest);
        assertRejected(SamplingOptions.builder().stop(List.of("ok", longest + "x")), "stop");
        assertRejected(SamplingOptions.builder().stop(Collections.nCopies(100_000, "a")), "stop");
    }

    @Test
    void stopTokenIdsAreBoundedInCount() {
        int[] most = IntStream.range(0, 64).toArray();
        assertThat(SamplingOptions.builder().stopTokenIds(most).build().stopTokenIds()).hasSize(64);
        assertRejected(SamplingOptions.builder().stopTokenIds(IntStream.range(0, 65).toArray()), "stop_token_ids");
        assertRejected(SamplingOptions.builder().stopTokenIds(new int[1_000_000]), "stop_token_ids");
    }

    @Test
    void temperaturesBelowTheEpsilonAreGreedy() {
        assertThat(SamplingOptions.builder().temperature(0f).build().isGreedy()).isTrue();
        assertThat(SamplingOptions.builder().temperature(Float.MIN_VALUE).build().isGreedy()).isTrue();
        assertThat(SamplingOptions.builder().temperature(1e-30f).build().isGreedy()).isTrue();
        assertThat(SamplingOptions.builder().temperature(9e-6f).build().isGreedy()).isTrue();
        assertThat(SamplingOptions.builder().temperature(1e-5f).build().isGreedy()).isFalse();
        assertThat(SamplingOptions.builder().temperature(0.7f).build().isGreedy()).isFalse();
    }
}
