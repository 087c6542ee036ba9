package dev.quire.scheduler.placement;

import java.util.Comparator;
import java.util.List;

/**
 * The worker holding the longest cached prefix of the prompt, unless it is overloaded compared
 * with the least-loaded worker by more than the balance threshold (in {@link Candidate#load()}
 * units); then, and when nobody holds any of the prefix, the least-loaded worker. Reusing a cached
 * prefix saves its whole prefill; the threshold keeps a popular prefix from piling every request
 * onto one worker while others idle.
 */
public final class CacheAwarePlacement implements PlacementPolicy {
    private final double balanceThreshold;
    private final LeastLoadedPlacement leastLoaded = new LeastLoadedPlacement();

    public CacheAwarePlacement(double balanceThreshold) {
        if (!(balanceThreshold >= 0)) {
            throw new IllegalArgumentException("balance threshold must be >= 0, got " + balanceThreshold);
        }
        this.balanceThreshold = balanceThreshold;
    }

    @Override
    public Candidate choose(List<Candidate> candidates) {
        Candidate idlest = candidates.stream().min(LeastLoadedPlacement.BY_LOAD).orElseThrow();
        Candidate bestCache = candidates.stream().max(Comparator.comparingInt(Candidate::cachedBlocks)
                .thenComparing(LeastLoadedPlacement.BY_LOAD.reversed())).orElseThrow();
        if (bestCache.cachedBlocks() > 0 && bestCache.load() - idlest.load() <= balanceThreshold) {
            return bestCache;
        }
        return leastLoaded.choose(candidates);
    }

    @Override
    public boolean usesPrefixCache() {
        return true;
    }
}
