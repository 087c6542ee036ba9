package dev.quire.gateway.cli;

import dev.quire.scheduler.cluster.ClusterSecret;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** The cluster secret's options, for every command that makes internal calls. */
public final class ClusterSecretOptions {
    @Option(names = "--cluster-secret", paramLabel = "SECRET",
            description = "Shared secret every gateway and worker of the cluster holds (at least 16 characters); "
                    + "every internal call proves it. Prefer --cluster-secret-file or QUIRE_CLUSTER_SECRET: a flag "
                    + "is visible in the process list.")
    public String clusterSecret;

    @Option(names = "--cluster-secret-file", paramLabel = "FILE",
            description = "File whose first line is the cluster secret.")
    public Path clusterSecretFile;

    /** The cluster secret; required: internal endpoints are never open to whoever reaches the port. */
    public ClusterSecret secret() {
        if (clusterSecret != null && clusterSecretFile != null) {
            throw new IllegalArgumentException("give --cluster-secret or --cluster-secret-file, not both");
        }
        if (clusterSecretFile != null) {
            return ClusterSecret.fromFile(clusterSecretFile);
        }
        if (clusterSecret == null || clusterSecret.isBlank()) {
            throw new IllegalArgumentException("a cluster secret is required: --cluster-secret-file FILE (or "
                    + "QUIRE_CLUSTER_SECRET); every gateway and worker of the cluster must hold the same one");
        }
        return ClusterSecret.of(clusterSecret);
    }
}
