package dev.quire.worker.service;

import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.RequestHandle;
import dev.quire.scheduler.engine.TokenLogprobs;
import io.vertx.core.Context;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * One generation on this worker, apart from the data-plane stream that carries it to a gateway.
 * It keeps what it has emitted (token ids, text, log-probabilities: a few bytes a token), so that
 * when its gateway is lost (the connection closed without a cancel) it runs on, orphaned, for the
 * grace period, and the gateway that takes the request over re-attaches: it receives every event
 * from the first, then the live ones. An orphan nobody re-attaches to within the grace is aborted
 * (its KV blocks freed); one that finished meanwhile is kept until the grace ends. A cancel from
 * the gateway (its client hung up) aborts it at once.
 *
 * <p>Engine callbacks hop to the context the generation started on; all state is touched there.
 */
final class Generation implements GenerationListener {
    /** What the service learns of a generation's life. */
    interface Lifecycle {
        /** The engine is done with it (finished, failed or aborted). */
        void engineDone(Generation g);

        /** Nothing can attach to it any more: forget it. */
        void gone(Generation g);
    }

    private final Context context;
    private final String requestId;
    private final long graceMillis;
    private final Lifecycle lifecycle;
    private RequestHandle handle;
    /** The stream it writes to; null while orphaned. */
    private EventStream stream;
    private boolean scheduled;
    private int[] ids = new int[16];
    private int count;
    private final StringBuilder text = new StringBuilder();
    /** Null unless the request asked for log-probabilities. */
    private List<TokenLogprobs> logprobs;
    /** Replays the last event; set once the engine is done. */
    private Consumer<GenerationListener> ending;
    /** Its gateway cancelled it, or a drain handed it elsewhere: nobody will attach. */
    private boolean abandoned;
    private boolean gone;
    private long graceTimer = -1;
    /** No gateway streams it now (read from other threads). */
    private volatile boolean orphaned;

    Generation(Context context, String requestId, Duration grace, Lifecycle lifecycle) {
        this.context = context;
        this.requestId = requestId;
        this.graceMillis = Math.max(1, grace.toMillis());
        this.lifecycle = lifecycle;
    }

    String requestId() {
        return requestId;
    }

    /** Submitted: {@code handle} aborts it, {@code first} carries it. Context only. */
    void started(RequestHandle handle, EventStream first) {
        this.handle = handle;
        attachStream(first);
    }

    @Override
    public void onScheduled() {
        context.runOnContext(v -> {
            scheduled = true;
            if (stream != null) {
                stream.onScheduled();
            }
        });
    }

    @Override
    public void onTokens(int[] tokenIds, String delta, TokenLogprobs[] lp) {
        context.runOnContext(v -> {
            if (count + tokenIds.length > ids.length) {
                ids = Arrays.copyOf(ids, Math.max(ids.length * 2, count + tokenIds.length));
            }
            System.arraycopy(tokenIds, 0, ids, count, tokenIds.length);
            count += tokenIds.length;
            text.append(delta);
            if (lp != null) {
                if (logprobs == null) {
                    logprobs = new ArrayList<>();
                }
                logprobs.addAll(Arrays.asList(lp));
            }
            if (stream != null) {
                stream.onTokens(tokenIds, delta, lp);
            }
        });
    }

    @Override
    public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
        ended(l -> l.onFinish(reason, promptTokens, completionTokens));
    }

    @Override
    public void onError(Throwable error) {
        ended(l -> l.onError(error));
    }

    private void ended(Consumer<GenerationListener> last) {
        context.runOnContext(v -> {
            if (ending != null) {
                return;
            }
            ending = last;
            lifecycle.engineDone(this);
            if (stream != null) {
                last.accept(stream);
                forget();
            } else if (abandoned) {
                forget();
            }
            // else: an orphan that finished; kept until re-attached or the grace ends
        });
    }

    /**
     * A gateway takes the request over: {@code to} gets every event so far, then the live ones.
     *
     * @return false when another gateway holds it already, or it is gone (the caller says NOT_FOUND)
     */
    boolean attach(EventStream to) {
        if (gone || abandoned || stream != null) {
            return false;
        }
        if (graceTimer >= 0) {
            context.owner().cancelTimer(graceTimer);
            graceTimer = -1;
        }
        orphaned = false;
        if (scheduled) {
            to.onScheduled();
        }
        if (count > 0) {
            to.onTokens(Arrays.copyOf(ids, count), text.toString(),
                    logprobs == null ? null : logprobs.toArray(TokenLogprobs[]::new));
        }
        if (ending != null) {
            ending.accept(to);
            forget();
            return true;
        }
        attachStream(to);
        return true;
    }

    /** Attaches on this generation's context; {@code whenRefused} runs there if it cannot be. */
    void attachLater(EventStream to, Runnable whenRefused) {
        context.runOnContext(v -> {
            if (!attach(to)) {
                whenRefused.run();
            }
        });
    }

    private void attachStream(EventStream s) {
        stream = s;
        s.onGone(new EventStream.Gone() {
            @Override
            public void cancelled() {
                context.runOnContext(v -> {
                    if (stream == s) {
                        abandon();
                    }
                });
            }

            @Override
            public void lost() {
                context.runOnContext(v -> {
                    if (stream == s) {
                        orphan();
                    }
                });
            }
        });
    }

    /** The gateway cancelled it: abort now, keep nothing. */
    private void abandon() {
        stream = null;
        abandoned = true;
        if (ending != null) {
            forget();
        } else {
            handle.cancel();
        }
    }

    /** Whether no gateway streams it now: its gateway was lost and nobody attached yet. */
    boolean isOrphaned() {
        return orphaned;
    }

    /** The gateway was lost: run on, and wait for another to attach, up to the grace period. */
    private void orphan() {
        stream = null;
        orphaned = true;
        graceTimer = context.owner().setTimer(graceMillis, t -> {
            graceTimer = -1;
            if (stream == null && !gone) {
                abandoned = true;
                if (ending != null) {
                    forget();
                } else {
                    handle.cancel();
                }
            }
        });
    }

    /** A drain hands it to its gateway to continue elsewhere; orphans are aborted (a taker resumes them). */
    void migrate(String reason) {
        context.runOnContext(v -> {
            if (ending != null || gone) {
                return;
            }
            if (stream != null) {
                stream.migrate(reason);
            }
            stream = null;
            abandoned = true;
            handle.cancel();
        });
    }

    private void forget() {
        if (!gone) {
            gone = true;
            stream = null;
            if (graceTimer >= 0) {
                context.owner().cancelTimer(graceTimer);
                graceTimer = -1;
            }
            lifecycle.gone(this);
        }
    }
}
