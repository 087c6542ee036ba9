package dev.quire.gateway.admission;

import java.time.Duration;

/**
 * Bounds the gateway enforces on requests and their streams.
 *
 * @param maxConcurrentRequests requests admitted and not finished, across all clients
 * @param maxQueuedRequests     admitted requests not yet scheduled by an engine; beyond this new
 *                              requests are refused at once instead of queueing without bound
 * @param queueTimeout          a request not scheduled within this is failed as overloaded
 * @param requestsPerMinute     per API key; 0 for no limit
 * @param tokensPerMinute       prompt + generated tokens per API key; 0 for no limit
 * @param maxPromptTokens       0 uses the model's context length
 * @param maxTokens             most tokens a request may ask to generate; 0 for the context length
 * @param maxRequestBytes       largest request body or message accepted
 * @param priority              default and most urgent priority of a request, for keys without their own
 * @param slowClientTimeout     a gRPC stream whose client has read nothing for this long while
 *                              output waits for it is aborted, freeing its KV blocks; zero never aborts
 * @param maxTextJobs           text work before admission (tokenizing a prompt, rendering a chat
 *                              template, Tokenize, Detokenize) running or waiting for a thread, over
 *                              all clients; beyond this new work is refused at once as overloaded
 * @param connections           bounds on the public ports' connections
 */
public record AdmissionLimits(int maxConcurrentRequests, int maxQueuedRequests, Duration queueTimeout,
                              long requestsPerMinute, long tokensPerMinute, int maxPromptTokens, int maxTokens,
                              int maxRequestBytes, PriorityPolicy priority, Duration slowClientTimeout,
                              int maxTextJobs, ConnectionLimits connections) {
    /** The default slow-client timeout. */
    public static final Duration DEFAULT_SLOW_CLIENT_TIMEOUT = Duration.ofSeconds(60);
    /** The default bound on text work before admission. */
    public static final int DEFAULT_MAX_TEXT_JOBS = 1024;

    public AdmissionLimits {
        if (maxConcurrentRequests <= 0 || maxQueuedRequests <= 0 || maxRequestBytes <= 0) {
            throw new IllegalArgumentException("concurrency, queue and request size bounds must be positive");
        }
        if (requestsPerMinute < 0 || tokensPerMinute < 0 || maxPromptTokens < 0 || maxTokens < 0) {
            throw new IllegalArgumentException("rate limits and token bounds must not be negative");
        }
        if (queueTimeout == null || queueTimeout.isNegative() || queueTimeout.isZero()) {
            throw new IllegalArgumentException("queue timeout must be positive");
        }
        if (priority == null) {
            throw new IllegalArgumentException("priority policy must be set");
        }
        if (slowClientTimeout == null || slowClientTimeout.isNegative()) {
            throw new IllegalArgumentException("slow-client timeout must not be negative");
        }
        if (maxTextJobs <= 0) {
            throw new IllegalArgumentException("the bound on text jobs must be positive");
        }
        if (connections == null) {
            throw new IllegalArgumentException("connection limits must be set");
        }
    }

    /** Bounds with the default text-job and connection limits. */
    public AdmissionLimits(int maxConcurrentRequests, int maxQueuedRequests, Duration queueTimeout,
                           long requestsPerMinute, long tokensPerMinute, int maxPromptTokens, int maxTokens,
                           int maxRequestBytes, PriorityPolicy priority, Duration slowClientTimeout) {
        this(maxConcurrentRequests, maxQueuedRequests, queueTimeout, requestsPerMinute, tokensPerMinute,
                maxPromptTokens, maxTokens, maxRequestBytes, priority, slowClientTimeout, DEFAULT_MAX_TEXT_JOBS,
                ConnectionLimits.defaults());
    }

    /** Bounds with the default priority policy and slow-client timeout. */
    public AdmissionLimits(int maxConcurrentRequests, int maxQueuedRequests, Duration queueTimeout,
                           long requestsPerMinute, long tokensPerMinute, int maxPromptTokens, int maxTokens,
                           int maxRequestBytes) {
        this(maxConcurrentRequests, maxQueuedRequests, queueTimeout, requestsPerMinute, tokensPerMinute,
                maxPromptTokens, maxTokens, maxRequestBytes, PriorityPolicy.defaults(), DEFAULT_SLOW_CLIENT_TIMEOUT);
    }

    /** Bounds with {@code priority} and the default slow-client timeout. */
    public AdmissionLimits(int maxConcurrentRequests, int maxQueuedRequests, Duration queueTimeout,
                           long requestsPerMinute, long tokensPerMinute, int maxPromptTokens, int maxTokens,
                           int maxRequestBytes, PriorityPolicy priority) {
        this(maxConcurrentRequests, maxQueuedRequests, queueTimeout, requestsPerMinute, tokensPerMinute,
                maxPromptTokens, maxTokens, maxRequestBytes, priority, DEFAULT_SLOW_CLIENT_TIMEOUT);
    }

    /** Bounds with the default priority policy and {@code slowClientTimeout}. */
    public AdmissionLimits(int maxConcurrentRequests, int maxQueuedRequests, Duration queueTimeout,
                           long requestsPerMinute, long tokensPerMinute, int maxPromptTokens, int maxTokens,
                           int maxRequestBytes, Duration slowClientTimeout) {
        this(maxConcurrentRequests, maxQueuedRequests, queueTimeout, requestsPerMinute, tokensPerMinute,
                maxPromptTokens, maxTokens, maxRequestBytes, PriorityPolicy.defaults(), slowClientTimeout);
    }

    /** These bounds with {@code p} as the priority policy. */
    public AdmissionLimits withPriority(PriorityPolicy p) {
        return new AdmissionLimits(maxConcurrentRequests, maxQueuedRequests, queueTimeout, requestsPerMinute,
                tokensPerMinute, maxPromptTokens, maxTokens, maxRequestBytes, p, slowClientTimeout, maxTextJobs,
                connections);
    }

    /** These bounds with another slow-client timeout. */
    public AdmissionLimits withSlowClientTimeout(Duration timeout) {
        return new AdmissionLimits(maxConcurrentRequests, maxQueuedRequests, queueTimeout, requestsPerMinute,
                tokensPerMinute, maxPromptTokens, maxTokens, maxRequestBytes, priority, timeout, maxTextJobs,
                connections);
    }

    /** These bounds with another bound on text work before admission. */
    public AdmissionLimits withMaxTextJobs(int jobs) {
        return new AdmissionLimits(maxConcurrentRequests, maxQueuedRequests, queueTimeout, requestsPerMinute,
                tokensPerMinute, maxPromptTokens, maxTokens, maxRequestBytes, priority, slowClientTimeout, jobs,
                connections);
    }

    /** These bounds with other connection limits. */
    public AdmissionLimits withConnections(ConnectionLimits c) {
        return new AdmissionLimits(maxConcurrentRequests, maxQueuedRequests, queueTimeout, requestsPerMinute,
                tokensPerMinute, maxPromptTokens, maxTokens, maxRequestBytes, priority, slowClientTimeout, maxTextJobs,
                c);
    }

    public static AdmissionLimits defaults() {
        return new AdmissionLimits(4096, 1024, Duration.ofSeconds(60), 0, 0, 0, 0, 4 << 20);
    }
}
