package dev.quire.gateway.api;

import dev.quire.gateway.observability.AccessLog;
import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.TokenLogprob;
import dev.quire.proto.v1.TopLogprob;
import dev.quire.proto.v1.Usage;
import dev.quire.scheduler.engine.RequestHandle;
import dev.quire.scheduler.engine.TokenLogprobs;
import io.vertx.core.Context;
import io.vertx.grpc.server.GrpcServerResponse;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Relays one request's engine output to its gRPC stream. Engine callbacks arrive on the engine
 * thread; every write hops to the stream's Vert.x context so the event loop owns the stream.
 *
 * <p>Tokens are not written one message each. The engine appends them to a pending chunk, and a
 * write is scheduled on the context when the chunk is started; tokens that arrive before that write
 * runs join the same chunk, so a busy event loop does less work per token while an idle stream
 * still gets every token at once (nothing waits on a timer). While the stream's write queue is full
 * (the client reads slower than the engine emits) nothing is written: tokens keep merging into the
 * pending chunk, with their text, logprobs and the cumulative usage, and the drain handler writes it
 * when the client has read. A chunk is closed at {@link #MAX_CHUNK_BYTES} and the next one started,
 * so that no message nears the 4 MiB a gRPC client accepts by default. Tokens are never dropped,
 * reordered or repeated, and the final chunk (finish reason and usage) goes after everything
 * pending.
 *
 * <p>What a stalled client costs is therefore the write queue's few messages plus the pending
 * chunks, which grow by a few bytes per token (its id and text, and its logprobs when asked for):
 * bounded by the request's max_tokens, never by how long the client stalls. A client that reads
 * nothing for the slow-client timeout is aborted: its sequence is cancelled, which frees its KV
 * blocks, and the stream is reset, which drops what was queued for it.
 */
final class GrpcTokenRelay extends ClientStream {
    /** Largest pending chunk, as an over-estimate of its encoded size. */
    static final int MAX_CHUNK_BYTES = 1 << 20;

    private static final Logger LOG = LoggerFactory.getLogger(GrpcTokenRelay.class);

    private final Context context;
    private final GrpcServerResponse<GenerateRequest, GenerateResponse> response;
    private final String requestId;
    private final int promptTokens;
    private final RequestHandle handle;
    /** Milliseconds the write queue may stay full before the stream is aborted; 0 never aborts. */
    private final long slowClientTimeoutMs;

    // Shared by the engine thread and the context; guarded by this.
    /** Chunks that reached MAX_CHUNK_BYTES and wait for the client, oldest first. */
    private final ArrayDeque<GenerateResponse> full = new ArrayDeque<>();
    /** Tokens after those, not yet handed to the stream, or null. */
    private GenerateResponse.Builder pending;
    private StringBuilder pendingText;
    /** Upper bound of the pending chunk's encoded size. */
    private int pendingBytes;
    /** Tokens received from the engine so far: the usage of the pending chunk. */
    private int completionTokens;
    /** The final chunk, once the engine finished. */
    private GenerateResponse last;
    /** A flush will run without being asked again: queued on the context, or waiting for the drain handler. */
    private boolean flushScheduled;

    /** Context only: the timer of a full write queue, or -1. */
    private long stallTimer = -1;

    /** Call on the call's context. */
    GrpcTokenRelay(Context context, GrpcServerResponse<GenerateRequest, GenerateResponse> response, String requestId,
                   int promptTokens, RequestHandle handle, Duration slowClientTimeout) {
        super(context, response);
        this.context = context;
        this.response = response;
        this.requestId = requestId;
        this.promptTokens = promptTokens;
        this.handle = handle;
        this.slowClientTimeoutMs = slowClientTimeout.toMillis();
        response.drainHandler(v -> {
            cancelStallTimer();
            flush();
        });
    }

    @Override
    String requestId() {
        return requestId;
    }

    @Override
    public void onTokens(int[] tokenIds, String text, TokenLogprobs[] logprobs) {
        List<TokenLogprob> lps = logprobs == null ? List.of() : new ArrayList<>(logprobs.length);
        addLogprobs(logprobs, lps::add);
        // Varint ids, UTF-8 text, and per logprob entry its fields and tags.
        int bytes = 5 * tokenIds.length + 3 * text.length();
        for (TokenLogprob lp : lps) {
            bytes += 16 + 12 * lp.getTopCount();
        }
        boolean schedule;
        synchronized (this) {
            if (pending != null && pendingBytes + bytes > MAX_CHUNK_BYTES) {
                full.add(takePending());
            }
            if (pending == null) {
                pending = GenerateResponse.newBuilder().setRequestId(requestId);
                pendingText = new StringBuilder();
                pendingBytes = 32 + requestId.length(); // request id and usage
            }
            for (int id : tokenIds) {
                pending.addTokenIds(id);
            }
            pendingText.append(text);
            pending.addAllLogprobs(lps);
            pendingBytes += bytes;
            completionTokens += tokenIds.length;
            schedule = !flushScheduled;
            flushScheduled = true;
        }
        if (schedule) {
            onContext(this::flush);
        }
    }

    @Override
    public void onFinish(dev.quire.scheduler.engine.FinishReason reason, int prompt, int completion) {
        GenerateResponse end = GenerateResponse.newBuilder()
                .setRequestId(requestId)
                .setFinishReason(FinishReason.valueOf(reason.name()))
                .setUsage(usage(prompt, completion))
                .build();
        boolean schedule;
        synchronized (this) {
            last = end;
            schedule = !flushScheduled;
            flushScheduled = true;
        }
        if (schedule) {
            onContext(this::flush);
        }
    }

    /**
     * Writes what waits, oldest first, and the final chunk once the engine finished, for as long as
     * the write queue has room; when it is full the drain handler calls again. Context only.
     */
    private void flush() {
        while (!isClosed()) {
            if (response.writeQueueFull()) {
                synchronized (this) {
                    flushScheduled = true; // the drain handler flushes; the engine need not ask
                }
                armStallTimer();
                return;
            }
            GenerateResponse chunk;
            GenerateResponse end = null;
            boolean more;
            synchronized (this) {
                chunk = full.poll();
                more = chunk != null;
                if (!more) {
                    chunk = takePending();
                    end = last; // set after the engine's last tokens, which are taken now
                    flushScheduled = false; // the engine schedules the next flush
                }
            }
            if (chunk != null) {
                response.write(chunk);
            }
            if (end != null) {
                close();
                cancelStallTimer();
                response.end(end);
            }
            if (!more) {
                return;
            }
        }
    }

    /** The pending chunk with its usage, now handed over; null when none. Holding this. */
    private GenerateResponse takePending() {
        if (pending == null) {
            return null;
        }
        GenerateResponse chunk = pending.setText(pendingText.toString())
                .setUsage(usage(promptTokens, completionTokens)).build();
        pending = null;
        pendingText = null;
        return chunk;
    }

    /** An engine failure ends the call: the tokens before it go first, whatever the queue holds. */
    @Override
    void beforeError() {
        List<GenerateResponse> chunks;
        synchronized (this) {
            chunks = new ArrayList<>(full);
            full.clear();
            GenerateResponse chunk = takePending();
            if (chunk != null) {
                chunks.add(chunk);
            }
        }
        cancelStallTimer();
        chunks.forEach(response::write);
    }

    private void armStallTimer() {
        if (stallTimer < 0 && slowClientTimeoutMs > 0) {
            stallTimer = context.owner().setTimer(slowClientTimeoutMs, t -> {
                stallTimer = -1;
                abortSlowClient();
            });
        }
    }

    private void cancelStallTimer() {
        if (stallTimer >= 0) {
            context.owner().cancelTimer(stallTimer);
            stallTimer = -1;
        }
    }

    /** The client read nothing for the slow-client timeout: free the sequence and what waits for the client. */
    private void abortSlowClient() {
        if (isClosed()) {
            return;
        }
        close();
        synchronized (this) {
            full.clear();
            pending = null;
            pendingText = null;
        }
        LOG.warn("request {}: the client read nothing for {} ms; aborting its stream",
                AccessLog.escape(requestId, AccessLog.MAX_FIELD_CHARS), slowClientTimeoutMs);
        handle.cancel();
        response.cancel(); // resets the stream, which drops the messages queued for it
    }

    static Usage usage(int prompt, int completion) {
        return Usage.newBuilder().setPromptTokens(prompt).setCompletionTokens(completion).build();
    }

    static void addLogprobs(TokenLogprobs[] logprobs, java.util.function.Consumer<TokenLogprob> sink) {
        if (logprobs == null) {
            return;
        }
        for (TokenLogprobs lp : logprobs) {
            TokenLogprob.Builder b = TokenLogprob.newBuilder().setTokenId(lp.tokenId()).setLogprob(lp.logprob());
            for (int i = 0; i < lp.topTokenIds().length; i++) {
                b.addTop(TopLogprob.newBuilder().setTokenId(lp.topTokenIds()[i]).setLogprob(lp.topLogprobs()[i]));
            }
            sink.accept(b.build());
        }
    }
}
