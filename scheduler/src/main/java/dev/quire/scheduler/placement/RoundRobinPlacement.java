package dev.quire.scheduler.placement;

import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/** Each worker in turn (ordered by id), whatever its load or cache. */
public final class RoundRobinPlacement implements PlacementPolicy {
    private final AtomicLong next = new AtomicLong();

    @Override
    public Candidate choose(List<Candidate> candidates) {
        List<Candidate> ordered = candidates.stream().sorted(Comparator.comparing(Candidate::workerId)).toList();
        return ordered.get((int) Math.floorMod(next.getAndIncrement(), (long) ordered.size()));
    }
}
