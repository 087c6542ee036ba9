package dev.quire.gateway.observability;

import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.TokenLogprobs;

/**
 * Sits between the engine and a protocol's listener: records latency metrics, releases the
 * admission permit, writes the access log line, and turns a queue timeout into an error.
 * Callbacks come from the engine thread, one at a time per request.
 */
public final class RequestObserver implements GenerationListener {
    /** Times the request continued on another worker after its worker was lost. */
    private final java.util.concurrent.atomic.AtomicInteger migrations = new java.util.concurrent.atomic.AtomicInteger();
    private final GenerationListener downstream;
    private final AdmissionController.Permit permit;
    private final GatewayMetrics metrics;
    private final AccessLog accessLog;
    private final String requestId;
    private final String protocol;
    private final String model;
    private final String identity;
    private final String promptText;
    private final long arrivalNanos;
    private final Runnable onDone;
    private final StringBuilder output;
    private long scheduledNanos;
    private long firstTokenNanos;
    private long lastTokenNanos;
    private volatile boolean queueTimedOut;

    public RequestObserver(GenerationListener downstream, AdmissionController.Permit permit, GatewayMetrics metrics,
                           AccessLog accessLog, String requestId, String protocol, String model, String identity,
                           String promptText, long arrivalNanos, Runnable onDone) {
        this.onDone = onDone;
        this.downstream = downstream;
        this.permit = permit;
        this.metrics = metrics;
        this.accessLog = accessLog;
        this.requestId = requestId;
        this.protocol = protocol;
        this.model = model;
        this.identity = identity;
        this.promptText = accessLog.logsContent() ? promptText : null;
        this.arrivalNanos = arrivalNanos;
        this.output = accessLog.logsContent() ? new StringBuilder() : null;
    }

    /** The request was not scheduled in time; the caller cancels it and the client gets an error. */
    public void markQueueTimeout() {
        queueTimedOut = true;
    }

    public boolean started() {
        return permit.isStarted();
    }

    @Override
    public void onScheduled() {
        scheduledNanos = System.nanoTime();
        permit.started();
        metrics.recordQueueTime(scheduledNanos - arrivalNanos);
        downstream.onScheduled();
    }

    @Override
    public void onTokens(int[] tokenIds, String text, TokenLogprobs[] logprobs) {
        long now = System.nanoTime();
        if (firstTokenNanos == 0) {
            firstTokenNanos = now;
            metrics.recordFirstToken(now - arrivalNanos);
        } else {
            metrics.recordInterToken(now - lastTokenNanos);
        }
        lastTokenNanos = now;
        metrics.recordGenerated(tokenIds.length);
        if (output != null) {
            output.append(text);
        }
        downstream.onTokens(tokenIds, text, logprobs);
    }

    @Override
    public void onFinish(FinishReason reason, int promptTokens, int completionTokens) {
        long now = System.nanoTime();
        permit.chargeGenerated(completionTokens);
        permit.close();
        onDone.run();
        if (queueTimedOut && reason == FinishReason.ABORTED && firstTokenNanos == 0) {
            metrics.recordFailure("queue_timeout");
            log(promptTokens, completionTokens, now, "QUEUE_TIMEOUT");
            downstream.onError(new GatewayException(ErrorKind.OVERLOADED, null,
                    "the request was not scheduled within the queue timeout; retry shortly", 1));
            return;
        }
        metrics.recordFinished(reason, promptTokens, completionTokens, now - arrivalNanos);
        log(promptTokens, completionTokens, now, reason.name());
        downstream.onFinish(reason, promptTokens, completionTokens);
    }

    @Override
    public void onMigrated(String lostWorker) {
        migrations.incrementAndGet();
        downstream.onMigrated(lostWorker);
    }

    @Override
    public void onError(Throwable error) {
        permit.close();
        onDone.run();
        metrics.recordFailure("engine_error");
        log(0, 0, System.nanoTime(), "ERROR");
        downstream.onError(error);
    }

    private void log(int prompt, int completion, long now, String status) {
        accessLog.log(new AccessLog.Entry(requestId, protocol, model, identity, prompt, completion,
                scheduledNanos == 0 ? -1 : (scheduledNanos - arrivalNanos) / 1e6,
                firstTokenNanos == 0 ? -1 : (firstTokenNanos - arrivalNanos) / 1e6,
                (now - arrivalNanos) / 1e6, status, promptText, output == null ? null : output.toString(),
                migrations.get()));
    }
}
