package dev.quire.loadtest.driver;

import org.junit.jupiter.api.Test;

import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

class KeepAlivePoolTest {
    @Test
    void readsTheKeepAliveHeader() {
        assertThat(KeepAlivePool.KeepAlive.parse("timeout=5, max=100")).isEqualTo(new KeepAlivePool.KeepAlive(5, 100));
        assertThat(KeepAlivePool.KeepAlive.parse("Timeout = 2")).isEqualTo(new KeepAlivePool.KeepAlive(2, -1));
        assertThat(KeepAlivePool.KeepAlive.parse("max=\"7\",timeout=\"1\"")).isEqualTo(new KeepAlivePool.KeepAlive(1, 7));
        assertThat(KeepAlivePool.KeepAlive.parse("timeout=soon, max=-3, other")).isEqualTo(new KeepAlivePool.KeepAlive(-1, -1));
        assertThat(KeepAlivePool.KeepAlive.parse(null)).isEqualTo(new KeepAlivePool.KeepAlive(-1, -1));
    }

    @Test
    void keepsAMarginBelowTheServersTimeout() {
        long s = TimeUnit.SECONDS.toNanos(1);
        assertThat(KeepAlivePool.usableIdleNanos(5 * s)).isEqualTo(4 * s);
        assertThat(KeepAlivePool.usableIdleNanos(60 * s)).isEqualTo(59 * s);
        assertThat(KeepAlivePool.usableIdleNanos(s)).isEqualTo(s / 2);
        assertThat(KeepAlivePool.usableIdleNanos(0)).isZero();
        assertThat(KeepAlivePool.usableIdleNanos(KeepAlivePool.DEFAULT_TIMEOUT_NANOS)).isEqualTo(4 * s);
    }
}
