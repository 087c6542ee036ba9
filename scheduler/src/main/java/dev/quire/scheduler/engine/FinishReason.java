package dev.quire.scheduler.engine;

/** Why a sequence stopped generating. */
public enum FinishReason {
    /** The model emitted an end-of-sequence token or one of the request's stop token ids. */
    STOP,
    /** The request's max_tokens was reached, or the model's context window is full. */
    LENGTH,
    /** One of the request's stop strings appeared in the output. */
    STOP_STRING,
    /** The client or the server cancelled the request. */
    ABORTED
}
