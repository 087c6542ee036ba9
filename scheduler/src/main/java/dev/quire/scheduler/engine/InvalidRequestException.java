package dev.quire.scheduler.engine;

/** A request the engine cannot run as given; {@link #field()} names the offending field. */
public class InvalidRequestException extends IllegalArgumentException {
    private final String field;

    public InvalidRequestException(String field, String problem) {
        super(field + ": " + problem);
        this.field = field;
    }

    public String field() {
        return field;
    }
}
