package dev.quire.scheduler.placement;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PlacementPolicyTest {
    static Candidate worker(String id, int running, int waiting, int cachedBlocks) {
        return new Candidate(id, running, waiting, 0, 1000, 900, cachedBlocks);
    }

    @Test
    void leastLoadedPrefersShortQueuesThenFewerRunningThenFreeBlocks() {
        PlacementPolicy p = new LeastLoadedPlacement();
        assertThat(p.choose(List.of(worker("a", 4, 2, 0), worker("b", 7, 0, 0))).workerId()).isEqualTo("b");
        assertThat(p.choose(List.of(worker("a", 4, 0, 0), worker("b", 3, 0, 0))).workerId()).isEqualTo("b");
        Candidate fuller = new Candidate("a", 1, 0, 0, 1000, 100, 0);
        Candidate emptier = new Candidate("b", 1, 0, 0, 1000, 500, 0);
        assertThat(p.choose(List.of(fuller, emptier)).workerId()).isEqualTo("b");
        // Requests this gateway sent and the worker has not started yet count as queued.
        Candidate busyHere = new Candidate("a", 0, 0, 3, 1000, 900, 0);
        assertThat(p.choose(List.of(busyHere, worker("b", 2, 0, 0))).workerId()).isEqualTo("b");
    }

    @Test
    void leastLoadedSpreadsRequestsOverWorkersThatAreTied() {
        PlacementPolicy p = new LeastLoadedPlacement();
        List<Candidate> idle = List.of(worker("c", 0, 0, 0), worker("a", 0, 0, 0), worker("b", 0, 0, 0));
        List<String> chosen = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            chosen.add(p.choose(idle).workerId());
        }
        assertThat(chosen).containsExactly("a", "b", "c", "a", "b", "c");
    }

    @Test
    void cacheAwarePicksTheLongestCachedPrefixWhileLoadIsWithinTheThreshold() {
        PlacementPolicy p = new CacheAwarePlacement(8);
        List<Candidate> c = List.of(worker("a", 0, 0, 0), worker("b", 3, 1, 2), worker("c", 2, 0, 5));
        assertThat(p.choose(c).workerId()).isEqualTo("c");
        // c is now far busier than a: the cache is not worth the wait.
        List<Candidate> overloaded = List.of(worker("a", 0, 0, 0), worker("c", 4, 4, 5));
        assertThat(p.choose(overloaded).workerId()).isEqualTo("a");
        // Nobody holds any of the prompt: least loaded.
        assertThat(p.choose(List.of(worker("a", 3, 0, 0), worker("b", 1, 0, 0))).workerId()).isEqualTo("b");
        // Equal prefixes: the less loaded of the two.
        assertThat(p.choose(List.of(worker("a", 3, 0, 4), worker("b", 1, 0, 4))).workerId()).isEqualTo("b");
    }

    @Test
    void roundRobinVisitsEveryWorkerInTurnWhateverTheLoad() {
        PlacementPolicy p = new RoundRobinPlacement();
        List<Candidate> c = List.of(worker("b", 9, 9, 9), worker("a", 0, 0, 0), worker("c", 1, 0, 0));
        List<String> chosen = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            chosen.add(p.choose(c).workerId());
        }
        assertThat(chosen).containsExactly("a", "b", "c", "a", "b", "c");
    }

    @Test
    void policiesByName() {
        assertThat(PlacementPolicy.named("cache-aware", 1)).isInstanceOf(CacheAwarePlacement.class);
        assertThat(PlacementPolicy.named("LEAST-LOADED", 1)).isInstanceOf(LeastLoadedPlacement.class);
        assertThat(PlacementPolicy.named("round-robin", 1)).isInstanceOf(RoundRobinPlacement.class);
        assertThatThrownBy(() -> PlacementPolicy.named("random", 1)).hasMessageContaining("unknown placement policy");
    }

    @Test
    void prefixIndexCountsLeadingBlocksOnlyAndFollowsNewVersions() {
        PrefixIndex index = new PrefixIndex();
        long[] chain = {11, 22, 33, 44};
        assertThat(index.cachedBlocks("w", 1, new long[]{22, 11, 44}, chain)).isEqualTo(2);
        assertThat(index.cachedBlocks("w", 1, new long[]{}, chain)).as("same version: cached set reused")
                .isEqualTo(2);
        assertThat(index.cachedBlocks("w", 2, new long[]{11, 22, 33, 44}, chain)).isEqualTo(4);
        assertThat(index.cachedBlocks("w", 3, new long[]{22, 33}, chain)).isZero();
    }
}
