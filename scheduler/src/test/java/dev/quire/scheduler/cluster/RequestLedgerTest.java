package dev.quire.scheduler.cluster;

import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GeneratedOutput;
import dev.quire.scheduler.engine.SamplingOptions;
import dev.quire.scheduler.engine.TokenLogprobs;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** Two gateway members in this JVM sharing the request ledger, on loopback. */
class RequestLedgerTest {
    final String name = "ledger-" + UUID.randomUUID();
    final List<ClusterMember> members = new ArrayList<>();

    @AfterEach
    void shutdown() {
        members.forEach(ClusterMember::close);
    }

    ClusterMember member(int port) {
        ClusterMember m = ClusterMember.start(new ClusterSettings(name, "127.0.0.1", port,
                List.of("127.0.0.1:15921"), false, null));
        members.add(m);
        return m;
    }

    static <T> T get(java.util.concurrent.CompletionStage<T> stage) throws Exception {
        return stage.toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    static LedgerEntry entry(String id, String gateway) {
        SamplingOptions sampling = SamplingOptions.builder().maxTokens(50).temperature(0.8f).seed(42L)
                .stop(List.of("\n\n")).stopTokenIds(7).logprobs(2).build();
        return new LedgerEntry(id, "key-0", "m", new int[]{1, 2, 3}, sampling, 0, gateway, "", GeneratedOutput.EMPTY,
                null, 0);
    }

    static GeneratedOutput out(String text, int... ids) {
        TokenLogprobs[] lp = new TokenLogprobs[ids.length];
        for (int i = 0; i < ids.length; i++) {
            lp[i] = new TokenLogprobs(ids[i], -0.5f * i, new int[]{ids[i], 9}, new float[]{-0.5f * i, -3f});
        }
        return new GeneratedOutput(ids, text, lp);
    }

    @Test
    void anEntryOutlivesItsGatewayAndOnlyTheNextOwnerAppendsInOrder() throws Exception {
        ClusterMember a = member(15_921);
        ClusterMember b = member(15_922);
        RequestLedger onA = new RequestLedger(a);
        RequestLedger onB = new RequestLedger(b);
        assertThat(get(onA.open(entry("r1", a.memberId())))).as("a free id is recorded").isNull();
        assertThat(get(onB.open(entry("r1", b.memberId()))).gateway()).as("the id is taken, by A").isEqualTo(a.memberId());
        assertThat(get(onB.openFresh(entry("r1", b.memberId()))).gateway()).as("also when opened as fresh")
                .isEqualTo(a.memberId());
        assertThat(get(onB.openFresh(entry("fresh-1", b.memberId())))).as("a fresh id is recorded").isNull();
        assertThat(get(onA.find("fresh-1")).gateway()).isEqualTo(b.memberId());

        assertThat(get(onA.append("r1", new RequestLedger.AppendOutput(a.memberId(), "w1", 0, out("ab", 10, 11)))))
                .isTrue();
        assertThat(get(onA.append("r1", new RequestLedger.AppendOutput(a.memberId(), "", 0, out("x", 12)))))
                .as("a batch that does not continue the entry is refused").isFalse();
        assertThat(get(onB.append("r1", new RequestLedger.AppendOutput(b.memberId(), "", 2, out("x", 12)))))
                .as("only the owner appends").isFalse();
        assertThat(get(onA.append("r1", new RequestLedger.AppendOutput(a.memberId(), "", 2, out("c", 12))))).isTrue();

        // Many entries, so that some live (as owner copy) on the gateway that dies.
        for (int i = 0; i < 50; i++) {
            get(onA.open(entry("bulk-" + i, a.memberId())));
        }
        String aId = a.memberId();
        a.hazelcast().getLifecycleService().terminate();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (onB.isMember(aId)) {
            assertThat(System.nanoTime()).isLessThan(deadline);
            Thread.sleep(20);
        }
        LedgerEntry seen = get(onB.find("r1"));
        assertThat(seen.worker()).isEqualTo("w1");
        assertThat(seen.output().tokenIds()).containsExactly(10, 11, 12);
        assertThat(seen.output().text()).isEqualTo("abc");
        assertThat(seen.output().logprobs()[2].topTokenIds()).containsExactly(12, 9);
        assertThat(seen.sampling().seed()).isEqualTo(42L);
        assertThat(seen.sampling().stop()).containsExactly("\n\n");
        for (int i = 0; i < 50; i++) {
            assertThat(get(onB.find("bulk-" + i))).as("entry %d survived its owner's death", i).isNotNull();
        }

        LedgerEntry taken = get(onB.takeOver("r1", aId, b.memberId()));
        assertThat(taken.gateway()).isEqualTo(b.memberId());
        assertThat(get(onB.takeOver("r1", aId, "someone-else")).gateway()).as("taken once").isEqualTo(b.memberId());
        assertThat(seen.sameRequest("key-0", "m", new int[]{1, 2, 3}, SamplingOptions.builder().maxTokens(50)
                .temperature(0.8f).stop(List.of("\n\n")).stopTokenIds(7).logprobs(2).build())).isTrue();
        assertThat(seen.sameRequest("key-1", "m", new int[]{1, 2, 3}, seen.sampling())).isFalse();
        assertThat(seen.sameRequest("key-0", "m", new int[]{1, 2}, seen.sampling())).isFalse();

        get(onB.finish(taken.finishedWith(taken.output(), FinishReason.LENGTH, 3), Duration.ofMillis(1500)));
        LedgerEntry done = get(onB.find("r1"));
        assertThat(done.finished()).isTrue();
        assertThat(done.finish()).isEqualTo(FinishReason.LENGTH);
        assertThat(get(onB.open(entry("r1", b.memberId()))).finished()).as("a kept result holds its id").isTrue();
        Thread.sleep(2500);
        assertThat(get(onB.find("r1"))).as("the result expired").isNull();
    }

    @Test
    void ledgerCallsStartNoThreadPerOperation() throws Exception {
        ClusterMember a = member(15_921);
        RequestLedger ledger = new RequestLedger(a);
        java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
        get(ledger.open(entry("warm", a.memberId())));
        long before = threads.getTotalStartedThreadCount();
        int requests = 100;
        List<java.util.concurrent.CompletableFuture<?>> all = new ArrayList<>();
        for (int i = 0; i < requests; i++) {
            String id = "t-" + i;
            all.add(ledger.open(entry(id, a.memberId()))
                    .thenCompose(ok -> ledger.append(id, new RequestLedger.AppendOutput(a.memberId(), "w", 0,
                            out("a", 5))))
                    .thenCompose(ok -> ledger.find(id))
                    .thenCompose(e -> ledger.finish(e.finishedWith(e.output(), FinishReason.LENGTH, 1),
                            Duration.ofMinutes(1)))
                    .toCompletableFuture());
        }
        for (var f : all) {
            f.get(30, TimeUnit.SECONDS);
        }
        // Before: where the common pool has one thread (2 cores), every callback started a thread of its own.
        assertThat(threads.getTotalStartedThreadCount() - before).as("threads started by %d x 5 ledger operations",
                requests).isLessThan(20);
        assertThat(get(ledger.find("t-7")).finished()).isTrue();
    }
}
