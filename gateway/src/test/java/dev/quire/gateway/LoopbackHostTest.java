package dev.quire.gateway;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Which bind addresses count as this machine only, for the "open to the network" start-up warning. */
class LoopbackHostTest {

    @Test
    void loopbackNamesAndAddressesAreLoopbackAndEverythingElseIsNot() {
        for (String host : new String[]{"localhost", "127.0.0.1", "127.1.2.3", "::1"}) {
            assertThat(ClusterGateway.isLoopback(host)).as(host).isTrue();
        }
        for (String host : new String[]{"0.0.0.0", "::", "10.0.0.5", "192.168.1.20", "gateway.example",
                "128.0.0.1"}) {
            assertThat(ClusterGateway.isLoopback(host)).as(host).isFalse();
        }
    }
}
