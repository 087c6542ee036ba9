package dev.quire.scheduler.engine;

/** The engine cannot take requests now: it is draining, shut down, or no worker serves the model. */
public class EngineUnavailableException extends RuntimeException {
    public EngineUnavailableException(String message) {
        super(message);
    }

    public EngineUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
