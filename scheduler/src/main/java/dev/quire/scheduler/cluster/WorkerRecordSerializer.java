package dev.quire.scheduler.cluster;

import com.hazelcast.nio.serialization.compact.CompactReader;
import com.hazelcast.nio.serialization.compact.CompactSerializer;
import com.hazelcast.nio.serialization.compact.CompactWriter;

import java.util.List;

/**
 * Hazelcast Compact serialization of {@link WorkerRecord}: a schema of plain fields, no Java
 * serialization and no reflection, so a member reading a record never instantiates a class named
 * by the sender.
 */
public final class WorkerRecordSerializer implements CompactSerializer<WorkerRecord> {
    public static final String TYPE_NAME = "quire.WorkerRecord";

    @Override
    public WorkerRecord read(CompactReader in) {
        String[] models = in.readArrayOfString("models");
        WorkerState state;
        try {
            state = WorkerState.valueOf(in.readString("state"));
        } catch (IllegalArgumentException | NullPointerException e) {
            state = WorkerState.NOT_READY;
        }
        long[] hashes = in.readArrayOfInt64("prefixHashes");
        return new WorkerRecord(nonNull(in.readString("workerId")), nonNull(in.readString("address")),
                nonNull(in.readString("metricsAddress")), models == null ? List.of() : List.of(models), state,
                in.readInt32("kvBlocksTotal"), in.readInt32("kvBlocksUsed"), in.readInt32("blockSize"),
                in.readInt32("maxRunning"), in.readInt32("running"), in.readInt32("waiting"), in.readInt64("requestsCompleted"),
                in.readFloat64("stepMillis"), in.readInt64("prefixQueryTokens"), in.readInt64("prefixHitTokens"),
                hashes == null ? new long[0] : hashes, in.readInt64("version"));
    }

    @Override
    public void write(CompactWriter out, WorkerRecord r) {
        out.writeString("workerId", r.workerId());
        out.writeString("address", r.address());
        out.writeString("metricsAddress", r.metricsAddress());
        out.writeArrayOfString("models", r.models().toArray(String[]::new));
        out.writeString("state", r.state().name());
        out.writeInt32("kvBlocksTotal", r.kvBlocksTotal());
        out.writeInt32("kvBlocksUsed", r.kvBlocksUsed());
        out.writeInt32("blockSize", r.blockSize());
        out.writeInt32("maxRunning", r.maxRunning());
        out.writeInt32("running", r.running());
        out.writeInt32("waiting", r.waiting());
        out.writeInt64("requestsCompleted", r.requestsCompleted());
        out.writeFloat64("stepMillis", r.stepMillis());
        out.writeInt64("prefixQueryTokens", r.prefixQueryTokens());
        out.writeInt64("prefixHitTokens", r.prefixHitTokens());
        out.writeArrayOfInt64("prefixHashes", r.prefixHashes());
        out.writeInt64("version", r.version());
    }

    @Override
    public String getTypeName() {
        return TYPE_NAME;
    }

    @Override
    public Class<WorkerRecord> getCompactClass() {
        return WorkerRecord.class;
    }

    private static String nonNull(String s) {
        return s == null ? "" : s;
    }
}
