package dev.quire.scheduler.cluster;

import com.hazelcast.cluster.Member;
import com.hazelcast.config.Config;
import com.hazelcast.config.EvictionConfig;
import com.hazelcast.config.EvictionPolicy;
import com.hazelcast.config.JavaSerializationFilterConfig;
import com.hazelcast.config.MapConfig;
import com.hazelcast.config.MaxSizePolicy;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;

/**
 * This process's membership in the Hazelcast control-plane cluster. Hazelcast binds the one
 * configured interface only (never every interface), Quire's records travel as Compact data, and
 * Java deserialization is refused for every class outside Hazelcast's own and the JDK's basic types.
 */
public final class ClusterMember implements AutoCloseable {
    /** Heap the request ledger's finished results may take on each gateway, in MiB. */
    public static final int RESULTS_HEAP_MB = 64;

    private final HazelcastInstance hazelcast;

    private ClusterMember(HazelcastInstance hazelcast) {
        this.hazelcast = hazelcast;
    }

    public static ClusterMember start(ClusterSettings settings) {
        return start(settings, java.util.Map.of());
    }

    /** Starts a member that announces {@code attributes} to the others (a gateway's public ports, say). */
    public static ClusterMember start(ClusterSettings settings, java.util.Map<String, String> attributes) {
        AsyncCallbacks.install();
        Config config = new Config();
        config.setClusterName(settings.clusterName());
        config.setLiteMember(settings.liteMember());
        attributes.forEach(config.getMemberAttributeConfig()::setAttribute);
        config.setProperty("hazelcast.phone.home.enabled", "false");
        config.setProperty("hazelcast.logging.type", "slf4j");
        // Bind the configured interface only: by default Hazelcast listens on every interface.
        config.setProperty("hazelcast.socket.bind.any", "false");
        // The process's own shutdown (drain, then leave the cluster) decides the order; Hazelcast's
        // hook would leave the cluster first, under requests still running.
        config.setProperty("hazelcast.shutdownhook.enabled", "false");
        // Quick failure detection of frozen members; a killed member is noticed at once anyway.
        config.setProperty("hazelcast.heartbeat.interval.seconds", "1");
        config.setProperty("hazelcast.max.no.heartbeat.seconds", "5");
        // A joining member waits this long for others at start; a lone member need not wait 5 s.
        config.setProperty("hazelcast.wait.seconds.before.join", "0");
        config.getNetworkConfig().setPort(settings.port()).setPortAutoIncrement(true);
        config.getNetworkConfig().getInterfaces().setEnabled(true).addInterface(settings.host());
        JoinConfig join = config.getNetworkConfig().getJoin();
        join.getMulticastConfig().setEnabled(false);
        join.getAutoDetectionConfig().setEnabled(false);
        if (settings.kubernetesDns() != null) {
            join.getKubernetesConfig().setEnabled(true).setProperty("service-dns", settings.kubernetesDns());
        } else {
            // A member given no others joins nobody and accepts nobody (Hazelcast refuses members
            // whose join methods differ): the all-in-one mode's private cluster.
            join.getTcpIpConfig().setEnabled(!settings.members().isEmpty());
            joinAddresses(settings.members()).forEach(join.getTcpIpConfig()::addMember);
        }
        config.getSerializationConfig().getCompactSerializationConfig()
                .addSerializer(new WorkerRecordSerializer());
        LedgerSerializers.all().forEach(config.getSerializationConfig().getCompactSerializationConfig()::addSerializer);
        // The request ledger: one backup of each entry, so that it outlives the gateway holding it;
        // finished results are bounded in heap per member, least recently used evicted first. (Entries
        // stay in binary form: held as objects, an entry processor would serialize on a partition
        // thread, where the first use of a Compact type blocks on the cluster-wide schema exchange.)
        config.addMapConfig(new MapConfig(RequestLedger.RUNNING_MAP).setBackupCount(1));
        config.addMapConfig(new MapConfig(RequestLedger.RESULTS_MAP).setBackupCount(1)
                .setEvictionConfig(new EvictionConfig().setEvictionPolicy(EvictionPolicy.LRU)
                        .setMaxSizePolicy(MaxSizePolicy.USED_HEAP_SIZE).setSize(RESULTS_HEAP_MB)));
        config.getSerializationConfig().setJavaSerializationFilterConfig(new JavaSerializationFilterConfig()
                .setDefaultsDisabled(false));
        config.getSerializationConfig().getJavaSerializationFilterConfig().getWhitelist()
                .addPrefixes("com.hazelcast.", "java.lang.", "java.util.", "[");
        return new ClusterMember(Hazelcast.newHazelcastInstance(config));
    }

    public HazelcastInstance hazelcast() {
        return hazelcast;
    }

    public String memberId() {
        return hazelcast.getCluster().getLocalMember().getUuid().toString();
    }

    /** This member's Hazelcast address, host:port. */
    public String address() {
        var a = hazelcast.getCluster().getLocalMember().getAddress();
        return a.getHost() + ":" + a.getPort();
    }

    /** The full (non-lite) members: the gateways. */
    public List<Member> dataMembers() {
        return hazelcast.getCluster().getMembers().stream().filter(m -> !m.isLiteMember()).toList();
    }

    @Override
    public void close() {
        hazelcast.shutdown();
    }

    /**
     * The members to join with host names resolved to addresses. With interfaces configured,
     * Hazelcast keeps a host name of the TCP-IP member list only when it resolves to an address of
     * one of this member's own interfaces, so {@code --join gateway:5701} (a container's or another
     * machine's name) would silently join nobody. Addresses, ranges and names that do not resolve
     * (Hazelcast then logs them) are passed on as they are.
     */
    static List<String> joinAddresses(List<String> members) {
        List<String> out = new ArrayList<>();
        for (String member : members) {
            String host = member;
            String port = "";
            int colon = member.lastIndexOf(':');
            if (member.startsWith("[") || member.indexOf(':') != colon) {
                out.add(member); // an IPv6 address
                continue;
            }
            if (colon >= 0) {
                host = member.substring(0, colon);
                port = member.substring(colon);
            }
            if (!host.matches(".*[A-Za-z].*")) {
                out.add(member); // an IPv4 address, range or wildcard
                continue;
            }
            try {
                for (InetAddress address : InetAddress.getAllByName(host)) {
                    String ip = address.getHostAddress();
                    out.add((address instanceof Inet6Address ? "[" + ip + "]" : ip) + port);
                }
            } catch (UnknownHostException e) {
                out.add(member);
            }
        }
        return out;
    }
}
