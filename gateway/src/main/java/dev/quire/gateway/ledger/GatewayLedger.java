package dev.quire.gateway.ledger;

import com.hazelcast.map.IMap;
import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.scheduler.cluster.ClusterMember;
import dev.quire.scheduler.cluster.LedgerEntry;
import dev.quire.scheduler.cluster.RequestLedger;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.SamplingOptions;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * This gateway's side of the request ledger ({@link RequestLedger}): claims a request id at
 * admission, records what each request delivers (in batches, off the engine's thread), and keeps
 * finished results for {@code resultTtl}.
 *
 * <p>A claim of an id already in the ledger is one of: the same request asked again by the same
 * caller (its finished result is replayed; if it is still running on a gateway that died, this
 * gateway takes it over), or a conflict: another request or caller holds the id, or its gateway is
 * alive and streaming it ({@code ALREADY_EXISTS}). Whether a gateway that owns an entry is alive
 * is settled by its heartbeat in {@value #BEATS_MAP}: a retry that arrives before the cluster
 * noticed a dead gateway waits for the verdict, bounded by {@code verdictTimeout}.
 */
public final class GatewayLedger implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(GatewayLedger.class);
    /** Each gateway's heartbeat counter, advanced every {@link #BEAT_MILLIS}. */
    public static final String BEATS_MAP = "quire.gateway-beats";
    static final long BEAT_MILLIS = 250;
    /**
     * How often buffered output is appended to the ledger (also at every {@link #FLUSH_TOKENS} tokens).
     * What the ledger lacks is recomputed only when a gateway and its request's worker die together.
     */
    static final long FLUSH_MILLIS = 500;
    static final int FLUSH_TOKENS = 64;
    /** How often a retry checks whether the gateway owning its request is alive. */
    private static final long POLL_MILLIS = 50;

    private final Vertx vertx;
    private final RequestLedger ledger;
    private final IMap<String, Long> beats;
    private final Duration resultTtl;
    private final Duration verdictTimeout;
    private final Set<LedgerRecorder> recorders = ConcurrentHashMap.newKeySet();
    private final long flushTimer;
    /** The heartbeat has a thread of its own: a busy event loop must not make a live gateway look dead. */
    private final java.util.concurrent.ScheduledExecutorService beater =
            java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "quire-ledger-heartbeat");
                t.setDaemon(true);
                return t;
            });
    private long beat;

    /** What a claim found. */
    public sealed interface Claim {
        /** The id was free: the request is new, recorded with this gateway as its owner. */
        record New(LedgerEntry entry) implements Claim {
        }

        /** The same request finished earlier: its result is to be sent again. */
        record Finished(LedgerEntry entry) implements Claim {
        }

        /** The same request is running and its gateway died: this gateway owns it now and continues it. */
        record TakenOver(LedgerEntry entry) implements Claim {
        }
    }

    public GatewayLedger(Vertx vertx, ClusterMember member, Duration resultTtl, Duration verdictTimeout) {
        this.vertx = vertx;
        this.ledger = new RequestLedger(member);
        this.beats = member.hazelcast().getMap(BEATS_MAP);
        this.resultTtl = resultTtl;
        this.verdictTimeout = verdictTimeout;
        this.flushTimer = vertx.setPeriodic(FLUSH_MILLIS, t -> recorders.forEach(LedgerRecorder::flush));
        beat();
        beater.scheduleAtFixedRate(this::beat, BEAT_MILLIS, BEAT_MILLIS, TimeUnit.MILLISECONDS);
    }

    private void beat() {
        try {
            beats.setAsync(ledger.memberId(), ++beat, 30, TimeUnit.SECONDS);
        } catch (RuntimeException e) {
            // The member is shutting down.
        }
    }

    public String memberId() {
        return ledger.memberId();
    }

    RequestLedger ledger() {
        return ledger;
    }

    Duration resultTtl() {
        return resultTtl;
    }

    void recording(LedgerRecorder r, boolean on) {
        if (on) {
            recorders.add(r);
        } else {
            recorders.remove(r);
        }
    }

    /**
     * Claims {@code wanted.requestId()} for {@code wanted} (owned by this gateway, its seed fixed).
     * An entry already there is the same request when the caller, model, prompt and the sampling
     * options as {@code asked} (the seed aside, when none was asked) match. Fails with
     * ALREADY_EXISTS when the id is in use by another request, another caller, or a live gateway.
     *
     * @param freshId whether this gateway made the id up just now (a random UUID: no kept result can hold it)
     */
    public Future<Claim> claim(LedgerEntry wanted, SamplingOptions asked, boolean freshId) {
        Context context = vertx.getOrCreateContext();
        Promise<Claim> result = Promise.promise();
        attempt(context, wanted, asked, freshId, System.nanoTime() + verdictTimeout.toNanos(), null, -1, result);
        return result.future();
    }

    private void attempt(Context context, LedgerEntry wanted, SamplingOptions asked, boolean freshId, long deadline,
                         String watchedOwner, long firstBeat, Promise<Claim> result) {
        String id = wanted.requestId();
        // Opening an id returns what holds it instead, when taken: a new request costs one or two round trips.
        var opened = freshId ? ledger.openFresh(wanted) : ledger.open(wanted);
        Future.fromCompletionStage(opened, context).onComplete(found -> {
            if (found.failed()) {
                result.fail(unavailable(found.cause()));
                return;
            }
            LedgerEntry entry = found.result();
            if (entry == null) {
                result.complete(new Claim.New(wanted));
                return;
            }
            if (!entry.sameRequest(wanted.client(), wanted.model(), wanted.prompt(), asked)) {
                result.fail(inUse(id, "by another request"));
                return;
            }
            if (entry.finished()) {
                result.complete(new Claim.Finished(entry));
                return;
            }
            String owner = entry.gateway();
            if (owner.equals(memberId())) {
                // Owned here, yet not running here (the dispatcher checked): a leftover of this gateway's own.
                result.complete(new Claim.TakenOver(entry));
                return;
            }
            if (!ledger.isMember(owner)) {
                Future.fromCompletionStage(ledger.takeOver(id, owner, memberId()), context).onComplete(taken -> {
                    if (taken.failed()) {
                        result.fail(unavailable(taken.cause()));
                    } else if (taken.result() != null && taken.result().gateway().equals(memberId())) {
                        LOG.info("Taking over request {} from gateway {}, which left the cluster", id, owner);
                        result.complete(new Claim.TakenOver(taken.result()));
                    } else {
                        attempt(context, wanted, asked, freshId, deadline, null, -1, result);
                    }
                });
                return;
            }
            // Its gateway is a member still: alive (its heartbeat advances), or dead and not noticed yet.
            Future.fromCompletionStage(beats.getAsync(owner), context).onComplete(b -> {
                long now = b.succeeded() && b.result() != null ? b.result() : -1;
                boolean sameOwner = owner.equals(watchedOwner);
                if (sameOwner && firstBeat >= 0 && now > firstBeat + 1) {
                    result.fail(inUse(id, "and still streaming through another gateway"));
                } else if (System.nanoTime() - deadline > 0) {
                    result.fail(inUse(id, "on gateway " + owner + ", which has not answered for "
                            + verdictTimeout.toMillis() + " ms but has not left the cluster either"));
                } else {
                    long start = sameOwner && firstBeat >= 0 ? firstBeat : now;
                    vertx.setTimer(POLL_MILLIS, t -> attempt(context, wanted, asked, freshId, deadline, owner, start,
                            result));
                }
            });
        });
    }

    /** Records what {@code downstream} receives for {@code entry}'s request, owned by this gateway. */
    public GenerationListener record(LedgerEntry entry, GenerationListener downstream) {
        return new LedgerRecorder(this, entry, downstream);
    }

    private static GatewayException inUse(String id, String how) {
        return new GatewayException(ErrorKind.ALREADY_EXISTS, "request_id", "request_id: '" + id
                + "' is already in use " + how);
    }

    private static GatewayException unavailable(Throwable cause) {
        return new GatewayException(ErrorKind.UNAVAILABLE, null, "the request ledger is unreachable: "
                + cause.getMessage());
    }

    @Override
    public void close() {
        vertx.cancelTimer(flushTimer);
        beater.shutdownNow();
        recorders.forEach(LedgerRecorder::flush);
    }
}
