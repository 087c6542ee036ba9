package dev.quire.scheduler.placement;

import java.util.Comparator;
import java.util.List;

/** The least-loaded worker ({@link Candidate#load()}), then the one with most free KV blocks, then by id. */
public final class LeastLoadedPlacement implements PlacementPolicy {
    static final Comparator<Candidate> BY_LOAD = Comparator.comparingDouble(Candidate::load)
            .thenComparing(Comparator.comparingInt(Candidate::kvBlocksFree).reversed())
            .thenComparing(Candidate::workerId);

    @Override
    public Candidate choose(List<Candidate> candidates) {
        return candidates.stream().min(BY_LOAD).orElseThrow();
    }
}
