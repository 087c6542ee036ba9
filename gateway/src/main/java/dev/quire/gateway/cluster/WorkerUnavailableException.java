package dev.quire.gateway.cluster;

import dev.quire.scheduler.engine.EngineUnavailableException;

/**
 * A worker could not run a request: unreachable, refused it (draining), or its stream broke. When
 * no token of the request was delivered yet, the gateway runs it on another worker instead.
 */
public final class WorkerUnavailableException extends EngineUnavailableException {
    private final String workerId;

    public WorkerUnavailableException(String workerId, String message, Throwable cause) {
        super(message, cause);
        this.workerId = workerId;
    }

    public String workerId() {
        return workerId;
    }
}
