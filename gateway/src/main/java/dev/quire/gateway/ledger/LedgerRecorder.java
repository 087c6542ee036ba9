package dev.quire.gateway.ledger;

import dev.quire.scheduler.cluster.LedgerEntry;
import dev.quire.scheduler.cluster.RequestLedger;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GeneratedOutput;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.TokenLogprobs;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Passes a request's output on and records it in the ledger: the engine's thread only appends to
 * a local buffer; the buffer goes to the ledger every {@link GatewayLedger#FLUSH_MILLIS} ms or
 * {@link GatewayLedger#FLUSH_TOKENS} tokens, one append in flight at a time, so the ledger holds a
 * prefix of what the client received, never more. A finished request's whole result goes to the
 * results map; an aborted or failed one is forgotten, freeing its id.
 */
final class LedgerRecorder implements GenerationListener {
    private static final Logger LOG = LoggerFactory.getLogger(LedgerRecorder.class);

    private final GatewayLedger owner;
    private final LedgerEntry entry;
    private final GenerationListener downstream;
    private final GeneratedOutput.Builder output = new GeneratedOutput.Builder();
    private int persistedTokens;
    private int persistedChars;
    private String worker = "";
    private boolean workerChanged;
    private boolean appending;
    private boolean over;
    /** An append was refused or failed: the ledger keeps the prefix it has, which stays correct. */
    private boolean stopped;

    LedgerRecorder(GatewayLedger owner, LedgerEntry entry, GenerationListener downstream) {
        this.owner = owner;
        this.entry = entry;
        this.downstream = downstream;
        // A request taken over: the ledger holds this much of what the worker (or the replay) sends again.
        this.persistedTokens = entry.output().size();
        this.persistedChars = entry.output().text().length();
        owner.recording(this, true);
    }

    @Override
    public void onScheduled() {
        downstream.onScheduled();
    }

    @Override
    public void onPlaced(String workerId) {
        synchronized (this) {
            worker = workerId;
            workerChanged = true;
        }
        flush();
        downstream.onPlaced(workerId);
    }

    @Override
    public void onMigrated(String lostWorker) {
        downstream.onMigrated(lostWorker);
    }

    @Override
    public void onTokens(int[] tokenIds, String text, TokenLogprobs[] logprobs) {
        boolean full;
        synchronized (this) {
            output.add(tokenIds, text, logprobs);
            full = output.size() - persistedTokens >= GatewayLedger.FLUSH_TOKENS;
        }
        downstream.onTokens(tokenIds, text, logprobs);
        if (full) {
            flush();
        }
    }

    @Override
    public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
        downstream.onFinish(reason, promptTokens, completionTokens);
        GeneratedOutput all;
        synchronized (this) {
            over = true;
            all = output.build();
        }
        owner.recording(this, false);
        String id = entry.requestId();
        if (reason == FinishReason.ABORTED) {
            owner.ledger().forget(id);
            return;
        }
        owner.ledger().finish(entry.finishedWith(all, reason, completionTokens), owner.resultTtl())
                .whenComplete((v, e) -> {
                    if (e != null) {
                        LOG.warn("Could not keep the result of request {} in the ledger: {}", id, e.toString());
                    }
                });
    }

    @Override
    public void onError(Throwable error) {
        synchronized (this) {
            over = true;
        }
        owner.recording(this, false);
        owner.ledger().forget(entry.requestId());
        downstream.onError(error);
    }

    /** Appends what was delivered since the last append, unless one is in flight. */
    void flush() {
        RequestLedger.AppendOutput append;
        synchronized (this) {
            if (appending || over || stopped) {
                return;
            }
            GeneratedOutput more = output.since(persistedTokens, persistedChars);
            if (more.size() == 0 && more.text().isEmpty() && !workerChanged) {
                return;
            }
            append = new RequestLedger.AppendOutput(owner.memberId(), workerChanged ? worker : "", persistedTokens, more);
            workerChanged = false;
            appending = true;
        }
        owner.ledger().append(entry.requestId(), append).whenComplete((ok, e) -> {
            synchronized (this) {
                appending = false;
                if (e == null && Boolean.TRUE.equals(ok)) {
                    persistedTokens += append.more().size();
                    persistedChars += append.more().text().length();
                } else {
                    stopped = true;
                }
            }
            if (e != null || !Boolean.TRUE.equals(ok)) {
                LOG.debug("Stopped recording request {} in the ledger: {}", entry.requestId(),
                        e != null ? e.toString() : "its entry changed hands or was removed");
            }
        });
    }
}
