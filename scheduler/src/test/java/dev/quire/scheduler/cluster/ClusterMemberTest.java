package dev.quire.scheduler.cluster;

import org.junit.jupiter.api.Test;

import com.hazelcast.map.IMap;

import java.io.Serializable;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.Collections;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class ClusterMemberTest {

    @Test
    void hostNamesToJoinAreResolvedAndAddressesKept() {
        assertThat(ClusterMember.joinAddresses(List.of("localhost:5701", "10.0.0.5:5702", "10.0.0.1-4",
                "10.0.0.*", "[::1]:5701", "no-such-host.invalid:5701")))
                .contains("127.0.0.1:5701")
                .containsSubsequence("10.0.0.5:5702", "10.0.0.1-4", "10.0.0.*", "[::1]:5701",
                        "no-such-host.invalid:5701")
                .doesNotContain("localhost:5701");
    }

    /**
     * A member on this machine's network address joins one on loopback given as "localhost": a
     * name that resolves to none of the joining member's own interfaces, as a container joining
     * another container by its name.
     */
    @Test
    void aMemberJoinsAnotherGivenByAHostNameOfAnotherInterface() throws SocketException {
        String address = null;
        for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            for (InetAddress a : Collections.list(nic.getInetAddresses())) {
                if (nic.isUp() && a instanceof Inet4Address && !a.isLoopbackAddress()) {
                    address = a.getHostAddress();
                }
            }
        }
        assumeTrue(address != null, "this machine has no network address besides loopback");
        String name = "test-" + UUID.randomUUID();
        try (ClusterMember first = ClusterMember.start(new ClusterSettings(name, "127.0.0.1", 15_951,
                List.of("127.0.0.1:15951"), false, null));
             ClusterMember second = ClusterMember.start(new ClusterSettings(name, address, 15_961,
                     List.of("localhost:15951"), true, null))) {
            assertThat(second.hazelcast().getCluster().getMembers()).hasSize(2);
            assertThat(first.hazelcast().getCluster().getMembers()).hasSize(2);
        }
    }

    /** A serializable class outside the allow-list (com.hazelcast., java.lang., java.util., arrays). */
    static final class Outsider implements Serializable {
        private static final long serialVersionUID = 1L;
        final String payload = "gadget";
    }

    @Test
    void javaDeserializationRefusesAClassOutsideTheAllowList() {
        try (ClusterMember member = ClusterMember.start(ClusterSettings.standalone("filter-" + UUID.randomUUID()),
                Map.of())) {
            IMap<String, Object> map = member.hazelcast().getMap("filter-test");
            // Writing is not filtered; reading the value back is, as a member reading it off the wire would.
            map.set("outsider", new Outsider());
            assertThatThrownBy(() -> map.get("outsider"))
                    .hasStackTraceContaining("Resolving class " + Outsider.class.getName() + " is not allowed")
                    .satisfies(e -> {
                        List<Throwable> chain = new ArrayList<>();
                        for (Throwable t = e; t != null; t = t.getCause()) {
                            chain.add(t);
                        }
                        assertThat(chain).anyMatch(t -> t instanceof SecurityException);
                    });

            // A class on the list still travels by Java serialization.
            map.set("allowed", new java.util.concurrent.atomic.AtomicLong(42));
            assertThat(map.get("allowed")).isInstanceOfSatisfying(java.util.concurrent.atomic.AtomicLong.class,
                    a -> assertThat(a.get()).isEqualTo(42));
        }
    }
}
