package dev.quire.scheduler.cluster;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;

/** This process's membership in the Hazelcast control-plane cluster. */
public final class ClusterMember implements AutoCloseable {
    private final HazelcastInstance hazelcast;

    private ClusterMember(HazelcastInstance hazelcast) {
        this.hazelcast = hazelcast;
    }

    public static ClusterMember start(ClusterSettings settings) {
        Config config = new Config();
        config.setClusterName(settings.clusterName());
        config.setLiteMember(settings.liteMember());
        config.setProperty("hazelcast.phone.home.enabled", "false");
        config.setProperty("hazelcast.logging.type", "slf4j");
        // The process's own shutdown (drain, then leave the cluster) decides the order; Hazelcast's
        // hook would leave the cluster first, under requests still running.
        config.setProperty("hazelcast.shutdownhook.enabled", "false");
        // Quick failure detection of frozen members; a killed member is noticed at once anyway.
        config.setProperty("hazelcast.heartbeat.interval.seconds", "1");
        config.setProperty("hazelcast.max.no.heartbeat.seconds", "5");
        config.getNetworkConfig().setPort(settings.port()).setPortAutoIncrement(true);
        config.getNetworkConfig().getInterfaces().setEnabled(true).addInterface(settings.host());
        JoinConfig join = config.getNetworkConfig().getJoin();
        join.getMulticastConfig().setEnabled(false);
        join.getAutoDetectionConfig().setEnabled(false);
        join.getTcpIpConfig().setEnabled(!settings.members().isEmpty());
        settings.members().forEach(join.getTcpIpConfig()::addMember);
        return new ClusterMember(Hazelcast.newHazelcastInstance(config));
    }

    public HazelcastInstance hazelcast() {
        return hazelcast;
    }

    public String memberId() {
        return hazelcast.getCluster().getLocalMember().getUuid().toString();
    }

    @Override
    public void close() {
        hazelcast.shutdown();
    }
}
