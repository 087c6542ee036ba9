package dev.quire.scheduler.placement;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The least-loaded worker ({@link Candidate#load()}), then the one with most free KV blocks; workers
 * still tied take turns, so that requests arriving one by one at an idle cluster spread over it
 * instead of all going to the same worker.
 */
public final class LeastLoadedPlacement implements PlacementPolicy {
    static final Comparator<Candidate> BY_LOAD = Comparator.comparingDouble(Candidate::load)
            .thenComparing(Comparator.comparingInt(Candidate::kvBlocksFree).reversed());

    private final AtomicLong turn = new AtomicLong();

    @Override
    public Candidate choose(List<Candidate> candidates) {
        Candidate best = candidates.stream().min(BY_LOAD).orElseThrow();
        List<Candidate> tied = new ArrayList<>();
        for (Candidate c : candidates) {
            if (BY_LOAD.compare(c, best) == 0) {
                tied.add(c);
            }
        }
        if (tied.size() == 1) {
            return best;
        }
        tied.sort(Comparator.comparing(Candidate::workerId));
        return tied.get((int) Math.floorMod(turn.getAndIncrement(), (long) tied.size()));
    }
}
