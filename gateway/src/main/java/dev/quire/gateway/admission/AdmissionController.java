package dev.quire.gateway.admission;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

/**
 * Decides whether a request may enter: authentication, draining, concurrency and queue bounds,
 * and per-key rate limits. Thread-safe and non-blocking: a refusal is immediate.
 */
public final class AdmissionController {
    private final ApiKeys keys;
    private final AdmissionLimits limits;
    private final LongSupplier nanoClock;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger queued = new AtomicInteger();
    private final AtomicBoolean draining = new AtomicBoolean();
    private final Map<String, TokenBucket> requestBuckets = new ConcurrentHashMap<>();
    private final Map<String, TokenBucket> tokenBuckets = new ConcurrentHashMap<>();
    /** Keys with priority settings of their own, by identity; the others use the limits' policy. */
    private final Map<String, PriorityPolicy> keyPriorities;

    /** @throws IllegalArgumentException when a key's priority settings contradict each other */
    public AdmissionController(ApiKeys keys, AdmissionLimits limits, LongSupplier nanoClock) {
        this.keys = keys;
        this.limits = limits;
        this.nanoClock = nanoClock;
        this.keyPriorities = keys.priorities(limits.priority());
    }

    public AdmissionController(ApiKeys keys, AdmissionLimits limits) {
        this(keys, limits, System::nanoTime);
    }

    public AdmissionLimits limits() {
        return limits;
    }

    public boolean authRequired() {
        return keys.required();
    }

    /** @see ApiKeys#authenticate(String) */
    public String authenticate(String bearerKey) {
        return keys.authenticate(bearerKey);
    }

    /**
     * The priority a request of {@code identity} runs at: its key's default when it asked for none,
     * what it asked for raised to its key's minimum otherwise.
     *
     * @param requested in [{@link PriorityPolicy#MIN_VALUE}, {@link PriorityPolicy#MAX_VALUE}], or null
     */
    public int priority(String identity, Integer requested) {
        return keyPriorities.getOrDefault(identity, limits.priority()).resolve(requested);
    }

    /** Refuses new requests from now on; in-flight ones carry on. */
    public void startDraining() {
        draining.set(true);
    }

    public boolean draining() {
        return draining.get();
    }

    public int inFlight() {
        return inFlight.get();
    }

    public int queued() {
        return queued.get();
    }

    /**
     * Admits a request of {@code promptTokens} or refuses it with a {@link GatewayException}.
     * The returned permit must be {@linkplain Permit#close() closed} when the request ends.
     */
    public Permit admit(String identity, int promptTokens) {
        if (draining.get()) {
            throw new GatewayException(ErrorKind.DRAINING, null, "the server is shutting down; retry on another instance");
        }
        long now = nanoClock.getAsLong();
        if (limits.requestsPerMinute() > 0) {
            long wait = requestBuckets.computeIfAbsent(identity, k -> new TokenBucket(limits.requestsPerMinute(), now))
                    .tryTake(1, now);
            if (wait > 0) {
                throw new GatewayException(ErrorKind.RATE_LIMITED, null, "request rate limit of "
                        + limits.requestsPerMinute() + " per minute exceeded", seconds(wait));
            }
        }
        TokenBucket tokens = null;
        if (limits.tokensPerMinute() > 0) {
            tokens = tokenBuckets.computeIfAbsent(identity, k -> new TokenBucket(limits.tokensPerMinute(), now));
            long wait = tokens.tryTake(promptTokens, now);
            if (wait > 0) {
                throw new GatewayException(ErrorKind.RATE_LIMITED, null, "token rate limit of "
                        + limits.tokensPerMinute() + " per minute exceeded", seconds(wait));
            }
        }
        if (inFlight.incrementAndGet() > limits.maxConcurrentRequests()) {
            inFlight.decrementAndGet();
            throw new GatewayException(ErrorKind.OVERLOADED, null, "too many concurrent requests ("
                    + limits.maxConcurrentRequests() + "); retry shortly", 1);
        }
        if (queued.incrementAndGet() > limits.maxQueuedRequests()) {
            queued.decrementAndGet();
            inFlight.decrementAndGet();
            throw new GatewayException(ErrorKind.OVERLOADED, null, "the request queue is full ("
                    + limits.maxQueuedRequests() + " waiting); retry shortly", 1);
        }
        return new Permit(tokens);
    }

    private static long seconds(long nanos) {
        return Math.max(1, (nanos + 999_999_999L) / 1_000_000_000L);
    }

    /** An admitted request's hold on the gateway's capacity. */
    public final class Permit implements AutoCloseable {
        private final TokenBucket tokens;
        private final AtomicBoolean started = new AtomicBoolean();
        private final AtomicBoolean closed = new AtomicBoolean();

        private Permit(TokenBucket tokens) {
            this.tokens = tokens;
        }

        /** The request left the queue: an engine is computing it. */
        public void started() {
            if (!closed.get() && started.compareAndSet(false, true)) {
                queued.decrementAndGet();
            }
        }

        /** Charges the generated tokens to the key's token budget. */
        public void chargeGenerated(int completionTokens) {
            if (tokens != null && completionTokens > 0) {
                tokens.charge(completionTokens, nanoClock.getAsLong());
            }
        }

        public boolean isStarted() {
            return started.get();
        }

        @Override
        public void close() {
            if (closed.compareAndSet(false, true)) {
                if (started.compareAndSet(false, true)) {
                    queued.decrementAndGet();
                }
                inFlight.decrementAndGet();
            }
        }
    }
}
