package dev.quire.scheduler.cluster;

import java.util.List;

/**
 * How a process joins the Quire control-plane cluster.
 *
 * @param clusterName members only join others of the same name
 * @param host        interface to bind, e.g. 127.0.0.1
 * @param port        first port to try (increments when taken)
 * @param members     addresses of members to join (host:port); empty for a standalone member
 * @param liteMember  lite members own no data partitions, so losing one never migrates data
 */
public record ClusterSettings(String clusterName, String host, int port, List<String> members, boolean liteMember) {
    public ClusterSettings {
        if (clusterName == null || clusterName.isBlank()) {
            throw new IllegalArgumentException("cluster name must not be empty");
        }
        members = List.copyOf(members);
    }

    /** A single member on loopback that joins nobody: the all-in-one mode. */
    public static ClusterSettings standalone(String clusterName) {
        return new ClusterSettings(clusterName, "127.0.0.1", 5701, List.of(), false);
    }
}
