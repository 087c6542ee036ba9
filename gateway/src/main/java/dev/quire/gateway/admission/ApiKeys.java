package dev.quire.gateway.admission;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The API keys the gateway accepts. With none configured, every request is anonymous and allowed.
 * Keys are compared in constant time, and every configured key is compared on each call, so the
 * time taken reveals neither a key's prefix nor which key matched.
 *
 * <p>A line of the keys file may give the key its own priority settings after it:
 * {@code KEY priority=5 min-priority=0} (see {@link PriorityPolicy}); a line holding only a key, as
 * before, uses the server's.
 */
public final class ApiKeys {
    private final List<byte[]> keys;
    /** Per key index, its own priority settings; entries are null where the key has none. */
    private final List<Overrides> overrides;

    /**
     * A key's priority settings from its line of the keys file; a null field takes the server's.
     *
     * @param origin where the key was read, for start-up errors (never the key itself)
     */
    private record Overrides(Integer defaultPriority, Integer minPriority, String origin) {
    }

    private ApiKeys(List<byte[]> keys, List<Overrides> overrides) {
        this.keys = keys;
        this.overrides = overrides;
    }

    public static ApiKeys none() {
        return new ApiKeys(List.of(), List.of());
    }

    public static ApiKeys of(Collection<String> keys) {
        return of(keys, Collections.nCopies(keys.size(), null));
    }

    /** @param overrides per key, in the same order; null entries for keys without settings */
    private static ApiKeys of(Collection<String> keys, List<Overrides> overrides) {
        List<byte[]> out = new ArrayList<>();
        for (String k : keys) {
            if (k == null || k.isBlank()) {
                throw new IllegalArgumentException("API keys must not be empty");
            }
            out.add(k.strip().getBytes(StandardCharsets.UTF_8));
        }
        return new ApiKeys(List.copyOf(out), Collections.unmodifiableList(new ArrayList<>(overrides)));
    }

    /**
     * Keys from {@code --api-key} values plus a file of one key per line ('#' starts a comment), each
     * optionally followed by {@code priority=N} and/or {@code min-priority=N}.
     */
    public static ApiKeys of(Collection<String> keys, Path keysFile) {
        List<String> all = new ArrayList<>(keys);
        List<Overrides> settings = new ArrayList<>(Collections.nCopies(keys.size(), null));
        if (keysFile != null) {
            List<String> lines;
            try {
                lines = Files.readAllLines(keysFile);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read API keys file " + keysFile + ": " + e.getMessage(), e);
            }
            for (int n = 0; n < lines.size(); n++) {
                String k = lines.get(n).strip();
                if (!k.isEmpty() && !k.startsWith("#")) {
                    String[] parts = k.split("\\s+");
                    all.add(parts[0]);
                    settings.add(settings(parts, "API keys file " + keysFile + " line " + (n + 1)));
                }
            }
            if (all.isEmpty()) {
                throw new IllegalArgumentException("API keys file " + keysFile + " holds no key");
            }
        }
        return of(all, settings);
    }

    /** The settings after the key on one line of the keys file; null when there are none. */
    private static Overrides settings(String[] parts, String origin) {
        if (parts.length == 1) {
            return null;
        }
        Integer priority = null;
        Integer minPriority = null;
        for (int i = 1; i < parts.length; i++) {
            String[] kv = parts[i].split("=", 2);
            String name = kv[0];
            if (kv.length != 2 || !(name.equals("priority") || name.equals("min-priority"))) {
                // Not echoed: on a line meant as one key with a space, it would be part of the secret.
                throw new IllegalArgumentException(origin + ": word " + (i + 1) + " is not a setting; only "
                        + "priority=N and min-priority=N may follow the key (a key holds no spaces)");
            }
            int value;
            try {
                value = Integer.parseInt(kv[1]);
            } catch (NumberFormatException e) {
                value = Integer.MIN_VALUE;
            }
            if (value < PriorityPolicy.MIN_VALUE || value > PriorityPolicy.MAX_VALUE) {
                throw new IllegalArgumentException(origin + ": " + name + " must be an integer in ["
                        + PriorityPolicy.MIN_VALUE + ", " + PriorityPolicy.MAX_VALUE + "], got '" + kv[1] + "'");
            }
            if ((name.equals("priority") ? priority : minPriority) != null) {
                throw new IllegalArgumentException(origin + ": " + name + " is given twice");
            }
            if (name.equals("priority")) {
                priority = value;
            } else {
                minPriority = value;
            }
        }
        return new Overrides(priority, minPriority, origin);
    }

    /**
     * The priority policy of every key that has settings of its own, by identity ("key-N"), with
     * the server's policy filling in what the key leaves out. Keys not in the map use the server's.
     *
     * @throws IllegalArgumentException when a key's resulting default is below its minimum
     */
    public Map<String, PriorityPolicy> priorities(PriorityPolicy server) {
        Map<String, PriorityPolicy> out = new HashMap<>();
        for (int i = 0; i < overrides.size(); i++) {
            Overrides o = overrides.get(i);
            if (o == null) {
                continue;
            }
            int dflt = o.defaultPriority() != null ? o.defaultPriority() : server.defaultPriority();
            int min = o.minPriority() != null ? o.minPriority() : server.minPriority();
            if (dflt < min) {
                throw new IllegalArgumentException(o.origin() + ": the key's default priority " + dflt
                        + " is below its min-priority " + min + " (set both on its line)");
            }
            out.put(identity(i), new PriorityPolicy(dflt, min));
        }
        return Map.copyOf(out);
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
        return identity(match);
    }

    private static String identity(int index) {
        return "key-" + index;
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
