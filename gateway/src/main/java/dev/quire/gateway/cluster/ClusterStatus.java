package dev.quire.gateway.cluster;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.hazelcast.cluster.Member;
import dev.quire.scheduler.cluster.ClusterMember;
import dev.quire.scheduler.cluster.WorkerDirectory;
import dev.quire.scheduler.cluster.WorkerRecord;

/**
 * The live view of the cluster that {@code GET /cluster} returns: every gateway (the full
 * Hazelcast members, with the public ports they announced) and every worker with its state and
 * load, as this gateway's directory holds them.
 */
public final class ClusterStatus {
    /** Member attributes a gateway announces. */
    public static final String GRPC_ATTRIBUTE = "quire.grpc";
    public static final String HTTP_ATTRIBUTE = "quire.http";

    private static final ObjectMapper JSON = new ObjectMapper();
    private final ClusterMember member;
    private final WorkerDirectory directory;

    public ClusterStatus(ClusterMember member, WorkerDirectory directory) {
        this.member = member;
        this.directory = directory;
    }

    public ObjectNode json() {
        ObjectNode out = JSON.createObjectNode();
        ArrayNode gateways = out.putArray("gateways");
        for (Member m : member.dataMembers()) {
            ObjectNode g = gateways.addObject().put("id", m.getUuid().toString())
                    .put("address", m.getAddress().getHost() + ":" + m.getAddress().getPort())
                    .put("self", m.localMember());
            if (m.getAttribute(GRPC_ATTRIBUTE) != null) {
                g.put("grpc", m.getAttribute(GRPC_ATTRIBUTE));
            }
            if (m.getAttribute(HTTP_ATTRIBUTE) != null) {
                g.put("http", m.getAttribute(HTTP_ATTRIBUTE));
            }
        }
        ArrayNode workers = out.putArray("workers");
        for (WorkerDirectory.Entry e : directory.all()) {
            WorkerRecord r = e.record();
            ObjectNode w = workers.addObject().put("id", r.workerId()).put("address", r.address())
                    .put("state", r.state().label());
            ArrayNode models = w.putArray("models");
            r.models().forEach(models::add);
            w.put("kv_blocks_total", r.kvBlocksTotal()).put("kv_blocks_used", r.kvBlocksUsed())
                    .put("running", r.running()).put("waiting", r.waiting())
                    .put("requests_completed", r.requestsCompleted())
                    .put("prefix_hit_rate", Math.round(r.prefixHitRate() * 10_000) / 10_000.0)
                    .put("step_ms", Math.round(r.stepMillis() * 100) / 100.0)
                    .put("cached_prefix_blocks", r.prefixHashes().length)
                    .put("metrics_address", r.metricsAddress())
                    .put("stale", !directory.isFresh(e));
        }
        return out;
    }
}
