package dev.quire.gateway.admission;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** How a request's priority is settled: server options, per-key settings from the keys file. */
class PriorityPolicyTest {
    @TempDir
    Path dir;

    @Test
    void unsetTakesTheDefaultAndTooUrgentIsClampedToTheMinimum() {
        PriorityPolicy p = new PriorityPolicy(5, 0);
        assertThat(p.resolve(null)).isEqualTo(5);
        assertThat(p.resolve(3)).isEqualTo(3);
        assertThat(p.resolve(0)).isEqualTo(0);
        assertThat(p.resolve(-7)).isEqualTo(0);
        assertThat(p.resolve(1000)).isEqualTo(1000);
        assertThat(PriorityPolicy.defaults().resolve(null)).isZero();
        assertThat(PriorityPolicy.defaults().resolve(-1000)).isEqualTo(-1000);
    }

    @Test
    void aDefaultMoreUrgentThanTheMinimumOrOutOfRangeIsRefused() {
        assertThatThrownBy(() -> new PriorityPolicy(-1, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("below the min priority 0");
        assertThatThrownBy(() -> new PriorityPolicy(1001, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new PriorityPolicy(0, -1001)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void keysFileLinesMayCarryTheirOwnPrioritySettings() throws Exception {
        Path file = dir.resolve("keys");
        Files.writeString(file, """
                # plain keys, as before
                plain-key

                urgent-key priority=-10 min-priority=-20
                capped-key   min-priority=0
                batch-key priority=50
                """);
        AdmissionLimits limits = AdmissionLimits.defaults().withPriority(new PriorityPolicy(3, -5));
        AdmissionController c = new AdmissionController(ApiKeys.of(List.of("flag-key"), file), limits);
        assertThat(c.authenticate("flag-key")).isEqualTo("key-0");
        assertThat(c.authenticate("plain-key")).isEqualTo("key-1");
        assertThat(c.authenticate("urgent-key")).isEqualTo("key-2");
        assertThat(c.authenticate("capped-key")).isEqualTo("key-3");
        assertThat(c.authenticate("batch-key")).isEqualTo("key-4");
        // Keys without settings: the server's policy.
        for (String id : new String[]{"key-0", "key-1", "anonymous"}) {
            assertThat(c.priority(id, null)).isEqualTo(3);
            assertThat(c.priority(id, -100)).isEqualTo(-5);
        }
        assertThat(c.priority("key-2", null)).isEqualTo(-10);
        assertThat(c.priority("key-2", -100)).isEqualTo(-20);
        assertThat(c.priority("key-3", null)).as("the server's default").isEqualTo(3);
        assertThat(c.priority("key-3", -4)).isEqualTo(0);
        assertThat(c.priority("key-4", null)).isEqualTo(50);
        assertThat(c.priority("key-4", -100)).as("the server's minimum").isEqualTo(-5);
    }

    @Test
    void badSettingsAreStartUpErrorsNamingTheLineNeverTheKey() throws Exception {
        Path file = dir.resolve("keys");
        Files.writeString(file, "ok-key\nsecret-one two\n");
        assertThatThrownBy(() -> ApiKeys.of(List.of(), file)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("line 2").hasMessageContaining("priority=N")
                .hasMessageNotContaining("secret").hasMessageNotContaining("two");
        Files.writeString(file, "k priority=high\n");
        assertThatThrownBy(() -> ApiKeys.of(List.of(), file)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("line 1: priority must be an integer in [-1000, 1000], got 'high'");
        Files.writeString(file, "k min-priority=2000\n");
        assertThatThrownBy(() -> ApiKeys.of(List.of(), file)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("min-priority must be an integer in [-1000, 1000]");
        Files.writeString(file, "k priority=1 priority=2\n");
        assertThatThrownBy(() -> ApiKeys.of(List.of(), file)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("priority is given twice");
        // A key's default below its minimum (its own, or the server's it falls back on).
        Files.writeString(file, "k priority=-5\n");
        ApiKeys keys = ApiKeys.of(List.of(), file);
        assertThatThrownBy(() -> new AdmissionController(keys,
                AdmissionLimits.defaults().withPriority(new PriorityPolicy(0, 0))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("line 1: the key's default priority -5 is below its min-priority 0");
    }
}
