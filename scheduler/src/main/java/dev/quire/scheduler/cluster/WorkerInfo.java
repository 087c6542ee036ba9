package dev.quire.scheduler.cluster;

import java.io.Serializable;
import java.util.List;

/**
 * What a worker publishes to the cluster for placement: the models it serves and its load.
 *
 * @param workerId      the worker's cluster member id
 * @param endpoint      where gateways reach it ("in-process" in the all-in-one mode)
 * @param models        names of the models it serves
 * @param kvBlocksTotal KV cache blocks it has
 * @param kvBlocksUsed  blocks in use
 * @param running       sequences running
 * @param waiting       sequences waiting
 * @param updatedAtMillis when this record was published (wall clock of the worker)
 */
public record WorkerInfo(String workerId, String endpoint, List<String> models, int kvBlocksTotal, int kvBlocksUsed,
                         int running, int waiting, long updatedAtMillis) implements Serializable {
    public WorkerInfo {
        models = List.copyOf(models);
    }
}
