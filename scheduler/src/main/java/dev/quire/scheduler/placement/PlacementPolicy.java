package dev.quire.scheduler.placement;

import java.util.List;
import java.util.Locale;

/** Chooses the worker that runs a request. Implementations are thread-safe. */
public interface PlacementPolicy {
    /**
     * @param candidates the workers that serve the request's model and take requests, never empty
     * @return the chosen one
     */
    Candidate choose(List<Candidate> candidates);

    /** Whether the policy looks at prefix-cache contents (the caller then computes {@link Candidate#cachedBlocks}). */
    default boolean usesPrefixCache() {
        return false;
    }

    /** The policy named {@code cache-aware}, {@code least-loaded} or {@code round-robin}. */
    static PlacementPolicy named(String name, double balanceThreshold) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "cache-aware" -> new CacheAwarePlacement(balanceThreshold);
            case "least-loaded" -> new LeastLoadedPlacement();
            case "round-robin" -> new RoundRobinPlacement();
            default -> throw new IllegalArgumentException("unknown placement policy '" + name
                    + "' (known: cache-aware, least-loaded, round-robin)");
        };
    }
}
