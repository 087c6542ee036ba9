package dev.quire.scheduler.cluster;

import java.util.List;

/**
 * How a process joins the Quire control-plane cluster.
 *
 * @param clusterName   members only join others of the same name (a label, not a secret)
 * @param host          the one interface Hazelcast binds and advertises, e.g. 127.0.0.1
 * @param port          this member's Hazelcast port; the next free one is taken when it is in use
 * @param members       addresses of members to join (host:port), TCP-IP join; empty for none
 * @param liteMember    lite members own no data partitions, so losing one never migrates data
 * @param kubernetesDns a headless Service's DNS name to discover members by (Kubernetes), or null
 */
public record ClusterSettings(String clusterName, String host, int port, List<String> members, boolean liteMember,
                              String kubernetesDns) {
    /** The default Hazelcast port. */
    public static final int DEFAULT_PORT = 5701;

    public ClusterSettings {
        if (clusterName == null || clusterName.isBlank()) {
            throw new IllegalArgumentException("cluster name must not be empty");
        }
        if (host == null || host.isBlank()) {
            throw new IllegalArgumentException("cluster interface must not be empty");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("cluster port must be in [0, 65535], got " + port);
        }
        members = List.copyOf(members);
        if (kubernetesDns != null && kubernetesDns.isBlank()) {
            kubernetesDns = null;
        }
    }

    /** A single member on loopback that joins nobody: the all-in-one mode. */
    public static ClusterSettings standalone(String clusterName) {
        return new ClusterSettings(clusterName, "127.0.0.1", DEFAULT_PORT, List.of(), false, null);
    }
}
