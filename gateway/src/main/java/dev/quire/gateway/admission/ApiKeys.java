package dev.quire.gateway.admission;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * The API keys the gateway accepts. With none configured, every request is anonymous and allowed.
 * Keys are compared in constant time, and every configured key is compared on each call, so the
 * time taken reveals neither a key's prefix nor which key matched.
 */
public final class ApiKeys {
    private final List<byte[]> keys;

    private ApiKeys(List<byte[]> keys) {
        this.keys = keys;
    }

    public static ApiKeys none() {
        return new ApiKeys(List.of());
    }

    public static ApiKeys of(Collection<String> keys) {
        List<byte[]> out = new ArrayList<>();
        for (String k : keys) {
            if (k == null || k.isBlank()) {
                throw new IllegalArgumentException("API keys must not be empty");
            }
            out.add(k.strip().getBytes(StandardCharsets.UTF_8));
        }
        return new ApiKeys(List.copyOf(out));
    }

    /** Keys from {@code --api-key} values plus a file of one key per line ('#' starts a comment). */
    public static ApiKeys of(Collection<String> keys, Path keysFile) {
        List<String> all = new ArrayList<>(keys);
        if (keysFile != null) {
            try {
                for (String line : Files.readAllLines(keysFile)) {
                    String k = line.strip();
                    if (!k.isEmpty() && !k.startsWith("#")) {
                        all.add(k);
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read API keys file " + keysFile + ": " + e.getMessage(), e);
            }
            if (all.isEmpty()) {
                throw new IllegalArgumentException("API keys file " + keysFile + " holds no key");
            }
        }
        return of(all);
    }

    public boolean required() {
        return !keys.isEmpty();
    }

    /**
     * The identity of the caller: its key's index ("key-N", for rate limiting and logs, never the key
     * itself), or "anonymous" when no keys are configured.
     *
     * @param presented the bearer token the client sent, or null
     * @throws GatewayException UNAUTHENTICATED when keys are required and none matches
     */
    public String authenticate(String presented) {
        if (keys.isEmpty()) {
            return "anonymous";
        }
        if (presented == null || presented.isEmpty()) {
            throw new GatewayException(ErrorKind.UNAUTHENTICATED, null,
                    "missing API key: send it as 'Authorization: Bearer <key>'");
        }
        byte[] given = presented.getBytes(StandardCharsets.UTF_8);
        int match = -1;
        for (int i = 0; i < keys.size(); i++) {
            if (MessageDigest.isEqual(keys.get(i), given) & match < 0) {
                match = i;
            }
        }
        if (match < 0) {
            throw new GatewayException(ErrorKind.UNAUTHENTICATED, null, "invalid API key");
        }
        return "key-" + match;
    }

    /** The key of an {@code Authorization} header value ("Bearer k"), or null if absent or malformed. */
    public static String bearer(String authorization) {
        if (authorization == null) {
            return null;
        }
        String v = authorization.strip();
        if (v.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return v.substring(7).strip();
        }
        return null;
    }
}
