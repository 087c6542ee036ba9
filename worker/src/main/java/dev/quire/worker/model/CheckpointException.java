package dev.quire.worker.model;

/**
 * Thrown when a checkpoint folder is missing, malformed or unsupported. The message names the file
 * and the problem (for example {@code "config.json: missing key 'hidden_size'"}), so that it can be
 * shown to an operator as is. An argument error: the operator pointed Quire at a bad folder.
 */
public final class CheckpointException extends IllegalArgumentException {

    private static final long serialVersionUID = 1L;

    /** @param message names the file and the problem */
    public CheckpointException(String message) {
        super(message);
    }

    /**
     * @param message names the file and the problem
     * @param cause the underlying I/O or parse error
     */
    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
