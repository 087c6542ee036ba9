package dev.quire.loadtest.report;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SloTest {
    @Test
    void parsesBoundsWithUnits() {
        Slo slo = Slo.parse("ttft=500ms, tpot=0.05s,e2el=2");
        assertThat(slo.boundsMs()).containsExactly(
                java.util.Map.entry("ttft", 500.0), java.util.Map.entry("tpot", 50.0), java.util.Map.entry("e2el", 2.0));
        assertThat(Slo.parse("TTFT=250us").boundsMs()).containsEntry("ttft", 0.25);
        assertThat(slo.toString()).isEqualTo("ttft=500ms,tpot=50ms,e2el=2ms");
        assertThat(Slo.parse(null).isEmpty()).isTrue();
        assertThat(Slo.parse(" ").isEmpty()).isTrue();
    }

    @Test
    void aRequestIsGoodWhenEveryBoundHolds() {
        Slo slo = Slo.parse("ttft=100ms,tpot=10ms");
        assertThat(slo.met(100, 10, 99999)).isTrue();
        assertThat(slo.met(100.1, 10, 1)).isFalse();
        assertThat(slo.met(1, 10.5, 1)).isFalse();
        assertThat(Slo.NONE.met(1e9, 1e9, 1e9)).isTrue();
    }

    @ParameterizedTest
    @ValueSource(strings = {"ttft", "ttft=", "=5ms", "ttft:500", "ttft=abc", "ttft=-5ms", "ttft=0", "latency=5ms",
            "ttft=5ms,ttft=6ms", "ttft=5ms,,tpot=4ms", "ttft=5 ms x"})
    void badSyntaxIsOneClearLine(String spec) {
        assertThatThrownBy(() -> Slo.parse(spec))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("bad --slo '" + spec + "'")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    }
}
