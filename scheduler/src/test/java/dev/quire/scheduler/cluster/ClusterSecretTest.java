package dev.quire.scheduler.cluster;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ClusterSecretTest {
    final ClusterSecret secret = ClusterSecret.of("correct horse battery staple");

    @Test
    void aGatewayProofIsBoundToTheWorkersAddress() {
        String proof = secret.gatewayProof("10.0.0.5:7000");
        assertThat(secret.checkGatewayProof(proof, "10.0.0.5:7000")).isTrue();
        // A forged worker that captured a proof cannot replay it against another worker.
        assertThat(secret.checkGatewayProof(proof, "10.0.0.6:7000")).isFalse();
        assertThat(secret.checkGatewayProof(null, "10.0.0.5:7000")).isFalse();
        assertThat(secret.checkGatewayProof("", "10.0.0.5:7000")).isFalse();
        assertThat(ClusterSecret.of("another secret of some length").checkGatewayProof(proof, "10.0.0.5:7000"))
                .isFalse();
        assertThat(proof).doesNotContain("horse");
    }

    @Test
    void aWorkerProofAnswersOneNonce() {
        byte[] nonce = ClusterSecret.nonce();
        byte[] proof = secret.workerProof(nonce);
        assertThat(secret.checkWorkerProof(nonce, proof)).isTrue();
        assertThat(secret.checkWorkerProof(ClusterSecret.nonce(), proof)).isFalse();
        assertThat(secret.checkWorkerProof(nonce, null)).isFalse();
        // The two roles never produce each other's proofs.
        assertThat(secret.checkWorkerProof("10.0.0.5:7000".getBytes(), secret.gatewayProof("10.0.0.5:7000")
                .getBytes())).isFalse();
    }

    @Test
    void shortSecretsAreRefusedAndTheSecretIsNeverPrinted(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> ClusterSecret.of("short")).hasMessageContaining("at least 16");
        assertThat(secret.toString()).doesNotContain("horse");
        Path file = dir.resolve("secret");
        Files.writeString(file, "correct horse battery staple\nsecond line ignored\n");
        String proof = ClusterSecret.fromFile(file).gatewayProof("h:1");
        assertThat(secret.checkGatewayProof(proof, "h:1")).isTrue();
        assertThatThrownBy(() -> ClusterSecret.fromFile(dir.resolve("missing"))).hasMessageContaining("cannot read");
    }
}
