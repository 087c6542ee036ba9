package dev.quire.gateway.cli;

import dev.quire.scheduler.cluster.ClusterSecret;
import dev.quire.scheduler.cluster.ClusterSettings;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** How a gateway or worker process joins its cluster: {@code quire gateway} and {@code quire worker}. */
public final class ClusterOptions {

    @Option(names = "--cluster-name", defaultValue = "quire", paramLabel = "NAME",
            description = "Hazelcast cluster name; only members of the same name join (a label, not a secret) "
                    + "(default: ${DEFAULT-VALUE}).")
    public String clusterName;

    @Option(names = "--cluster-interface", defaultValue = "127.0.0.1", paramLabel = "ADDR",
            description = "The address this member binds and advertises, for Hazelcast and for the internal data "
                    + "plane; never every interface. Use the host's address on the cluster's private network "
                    + "(default: ${DEFAULT-VALUE}).")
    public String clusterInterface;

    @Option(names = "--cluster-port", defaultValue = "5701", paramLabel = "N",
            description = "This member's Hazelcast port; the next free one is taken when it is in use "
                    + "(default: ${DEFAULT-VALUE}).")
    public int clusterPort;

    @Option(names = "--join", paramLabel = "HOST:PORT", split = ",",
            description = "Members to join (TCP-IP), e.g. --join 10.0.0.5:5701,10.0.0.6:5701. Empty: start a new "
                    + "cluster (a gateway) or wait for one on this host's port 5701 (a worker).")
    public List<String> join = new ArrayList<>();

    @Option(names = "--kubernetes-service-dns", paramLabel = "NAME",
            description = "Discover members through this headless Service's DNS name (Kubernetes), instead of --join.")
    public String kubernetesServiceDns;

    @picocli.CommandLine.Mixin
    public ClusterSecretOptions secretOptions = new ClusterSecretOptions();

    /**
     * The settings of this member; a worker is a lite member (owns no data, so its loss moves none).
     * Without --join a gateway lists itself (it starts the cluster others join) and a worker looks
     * for a gateway on its own host's default port.
     */
    public ClusterSettings settings(boolean liteMember) {
        List<String> members = join;
        if (members.isEmpty() && kubernetesServiceDns == null) {
            members = List.of(clusterInterface + ":" + (liteMember ? ClusterSettings.DEFAULT_PORT : clusterPort));
        }
        return new ClusterSettings(clusterName, clusterInterface, clusterPort, members, liteMember,
                kubernetesServiceDns);
    }

    /** The cluster secret; required: internal endpoints are never open to whoever reaches the port. */
    public ClusterSecret secret() {
        return secretOptions.secret();
    }
}
