package dev.quire.loadtest.driver;

import java.util.Arrays;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * Captures the timing of one request as its response arrives. Drivers call it from the event loop that owns
 * the request's connection; all calls for one request come from that one thread, so it needs no locking. The
 * first terminal call ({@link #end}, {@link #fail}) wins; later calls are ignored.
 */
public final class RequestRecorder {
    private final long sendNanos;
    private final int promptLen;
    private final int requestedTokens;
    private final boolean streamed;
    private final Consumer<RequestResult> onDone;

    private long[] offsets = new long[32];
    private int[] sizes = new int[32];
    private int chunks;
    private int tokensSeen;
    private int highestIndex;
    private boolean duplicated;
    private int usagePrompt = -1;
    private int usageCompletion = -1;
    private String finishReason;
    private boolean done;
    private int retries;
    private Runnable canceller = () -> { };

    /**
     * @param sendNanos       {@link System#nanoTime()} at send
     * @param promptLen       the workload's prompt length (used when the server reports no usage)
     * @param requestedTokens {@code max_tokens}
     * @param streamed        whether to keep per-chunk timing
     * @param onDone          receives the result once
     */
    public RequestRecorder(long sendNanos, int promptLen, int requestedTokens, boolean streamed,
                           Consumer<RequestResult> onDone) {
        this.sendNanos = sendNanos;
        this.promptLen = promptLen;
        this.requestedTokens = requestedTokens;
        this.streamed = streamed;
        this.onDone = onDone;
    }

    /** How to abandon the request on the wire (used on timeout). */
    public void onCancel(Runnable canceller) {
        this.canceller = canceller;
    }

    public boolean isDone() {
        return done;
    }

    /**
     * The request is being sent again on a new connection: the one it was written on was closed before any
     * of the response arrived, so the server cannot have started it.
     */
    public void retried() {
        retries++;
    }

    /**
     * A chunk arrived.
     *
     * @param nanos      {@link System#nanoTime()} at arrival
     * @param tokens     tokens in the chunk (0 for a chunk that carries none, e.g. the final one)
     * @param cumulative the server's count of tokens generated so far including this chunk, or -1 when the
     *                   chunk does not say; used to spot token indices delivered twice
     */
    public void chunk(long nanos, int tokens, int cumulative) {
        if (done) {
            return;
        }
        if (cumulative >= 0) {
            // The chunk covers token indices [cumulative - tokens, cumulative); anything below the highest index
            // already seen is a repeat (e.g. a retried worker replaying its stream).
            if (cumulative - tokens < highestIndex) {
                duplicated = true;
            }
            highestIndex = Math.max(highestIndex, cumulative);
        }
        if (tokens > 0) {
            if (chunks == offsets.length) {
                offsets = Arrays.copyOf(offsets, chunks * 2);
                sizes = Arrays.copyOf(sizes, chunks * 2);
            }
            offsets[chunks] = nanos - sendNanos;
            sizes[chunks] = tokens;
            chunks++;
            tokensSeen += tokens;
        }
    }

    /** The server's token counts (the last report wins). */
    public void usage(int promptTokens, int completionTokens) {
        if (promptTokens >= 0) {
            usagePrompt = promptTokens;
        }
        if (completionTokens >= 0) {
            usageCompletion = completionTokens;
        }
    }

    /** The server's finish reason, in any case; normalized to lower case. */
    public void finishReason(String reason) {
        if (reason != null && !reason.isEmpty()) {
            finishReason = reason.toLowerCase(Locale.ROOT);
        }
    }

    /** The response ended without an error. */
    public void end(long nanos) {
        if (done) {
            return;
        }
        Outcome outcome = finishReason == null || isAbort(finishReason) ? Outcome.TRUNCATED : Outcome.COMPLETED;
        finish(nanos, outcome, null, null);
    }

    /** The request failed. */
    public void fail(long nanos, String kind, String message) {
        if (done) {
            return;
        }
        finish(nanos, Outcome.FAILED, kind, message);
    }

    /** The client gave up waiting: records a timeout failure and cancels the request on the wire. */
    public void timeout(long nanos) {
        if (done) {
            return;
        }
        fail(nanos, "timeout", "no complete response within the request timeout");
        try {
            canceller.run();
        } catch (RuntimeException ignored) {
            // The stream may already be gone; the failure is recorded either way.
        }
    }

    private void finish(long nanos, Outcome outcome, String kind, String message) {
        done = true;
        // A completion count below the tokens streamed means tokens were sent twice.
        if (usageCompletion >= 0 && usageCompletion < highestIndex) {
            duplicated = true;
        }
        int output = usageCompletion >= 0 ? usageCompletion : tokensSeen;
        int prompt = usagePrompt >= 0 ? usagePrompt : promptLen;
        long[] keptOffsets = streamed ? Arrays.copyOf(offsets, chunks) : new long[0];
        int[] keptSizes = streamed ? Arrays.copyOf(sizes, chunks) : new int[0];
        onDone.accept(new RequestResult(sendNanos, nanos - sendNanos, keptOffsets, keptSizes, streamed, prompt, output,
                requestedTokens, finishReason, outcome, duplicated, kind, message, retries));
    }

    private static boolean isAbort(String reason) {
        return reason.equals("abort") || reason.equals("aborted") || reason.equals("cancelled");
    }
}
