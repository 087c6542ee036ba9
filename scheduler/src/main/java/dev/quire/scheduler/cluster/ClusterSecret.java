package dev.quire.scheduler.cluster;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Objects;

/**
 * The secret every gateway and worker of one cluster shares, and the proofs built from it. The
 * secret itself never travels: a gateway proves itself to a worker with an HMAC bound to that
 * worker's data-plane address (so a proof captured by a forged worker is worthless against any
 * other), and a worker proves itself to a gateway with an HMAC over the gateway's fresh nonce.
 * Proofs are compared in constant time; {@link #toString()} never shows the secret.
 */
public final class ClusterSecret {
    /** Metadata key that carries a gateway's proof on every data-plane call. */
    public static final String AUTH_HEADER = "quire-cluster-auth";
    /** Shortest secret accepted, in bytes. */
    public static final int MIN_BYTES = 16;

    private static final SecureRandom RANDOM = new SecureRandom();
    private final byte[] key;

    private ClusterSecret(byte[] key) {
        if (key.length < MIN_BYTES) {
            throw new IllegalArgumentException("the cluster secret must be at least " + MIN_BYTES + " bytes long");
        }
        this.key = key.clone();
    }

    /** A secret given as text (a flag, an environment variable or a file's first line). */
    public static ClusterSecret of(String secret) {
        Objects.requireNonNull(secret, "secret");
        return new ClusterSecret(secret.strip().getBytes(StandardCharsets.UTF_8));
    }

    /** Reads the secret from the first line of a file. */
    public static ClusterSecret fromFile(Path file) {
        try {
            String text = Files.readString(file, StandardCharsets.UTF_8).lines().findFirst().orElse("");
            return of(text);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("cannot read the cluster secret file " + file + ": " + e.getMessage());
        }
    }

    /** A fresh random secret, for a process that runs the whole cluster itself (serve, tests). */
    public static ClusterSecret random() {
        byte[] bytes = new byte[32];
        RANDOM.nextBytes(bytes);
        return new ClusterSecret(Base64.getUrlEncoder().withoutPadding().encode(bytes));
    }

    /** A fresh nonce for {@link #workerProof}. */
    public static byte[] nonce() {
        byte[] bytes = new byte[24];
        RANDOM.nextBytes(bytes);
        return bytes;
    }

    /** What a gateway sends with every call to the worker at {@code workerAddress} (host:port). */
    public String gatewayProof(String workerAddress) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(mac("gateway", workerAddress.getBytes(
                StandardCharsets.UTF_8)));
    }

    /** Whether {@code proof} is a gateway's proof for this worker's own address. */
    public boolean checkGatewayProof(String proof, String workerAddress) {
        if (proof == null) {
            return false;
        }
        byte[] expected = gatewayProof(workerAddress).getBytes(StandardCharsets.US_ASCII);
        return MessageDigest.isEqual(expected, proof.getBytes(StandardCharsets.US_ASCII));
    }

    /** What a worker answers to a gateway's nonce. */
    public byte[] workerProof(byte[] nonce) {
        return mac("worker", nonce);
    }

    /** Whether {@code proof} is a worker's answer to {@code nonce}. */
    public boolean checkWorkerProof(byte[] nonce, byte[] proof) {
        return proof != null && MessageDigest.isEqual(workerProof(nonce), proof);
    }

    private byte[] mac(String role, byte[] message) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            mac.update(role.getBytes(StandardCharsets.US_ASCII));
            mac.update((byte) 0);
            return mac.doFinal(message);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available", e);
        }
    }

    @Override
    public String toString() {
        return "ClusterSecret[hidden]";
    }
}
