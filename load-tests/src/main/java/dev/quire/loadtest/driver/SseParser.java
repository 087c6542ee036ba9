package dev.quire.loadtest.driver;

import io.vertx.core.buffer.Buffer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * Incremental parser for a {@code text/event-stream} body (the HTML Living Standard's server-sent events).
 * Bytes may arrive split anywhere, including inside a line, a {@code \r\n} pair or a multi-byte UTF-8
 * character: lines are cut on raw bytes and decoded whole. Each event's {@code data} lines are joined with
 * {@code \n} and handed to the consumer; comments and other fields ({@code event}, {@code id}, {@code retry})
 * are skipped. Not thread-safe.
 */
public final class SseParser {
    private final Consumer<String> onData;
    private byte[] line = new byte[512];
    private int length;
    private boolean afterCarriageReturn;
    private final StringBuilder data = new StringBuilder();
    private boolean hasData;

    /** @param onData receives the data of each complete event */
    public SseParser(Consumer<String> onData) {
        this.onData = onData;
    }

    public void feed(Buffer buffer) {
        feed(buffer.getBytes());
    }

    public void feed(byte[] bytes) {
        feed(bytes, 0, bytes.length);
    }

    public void feed(byte[] bytes, int offset, int count) {
        for (int i = offset; i < offset + count; i++) {
            byte b = bytes[i];
            if (b == '\n') {
                if (afterCarriageReturn) {
                    afterCarriageReturn = false; // the \n of a \r\n pair
                    continue;
                }
                endLine();
            } else if (b == '\r') {
                endLine();
                afterCarriageReturn = true;
            } else {
                afterCarriageReturn = false;
                if (length == line.length) {
                    line = Arrays.copyOf(line, length * 2);
                }
                line[length++] = b;
            }
        }
    }

    /**
     * The body ended. An event whose closing blank line never came is still delivered: some servers end the
     * stream right after the last {@code data:} line.
     */
    public void finish() {
        if (length > 0) {
            endLine();
        }
        dispatch();
    }

    private void endLine() {
        if (length == 0) {
            dispatch();
            return;
        }
        String text = new String(line, 0, length, StandardCharsets.UTF_8);
        length = 0;
        if (text.charAt(0) == ':') {
            return; // comment, e.g. a keep-alive
        }
        int colon = text.indexOf(':');
        String field = colon < 0 ? text : text.substring(0, colon);
        if (!field.equals("data")) {
            return;
        }
        String value = colon < 0 ? "" : text.substring(colon + 1);
        if (value.startsWith(" ")) {
            value = value.substring(1);
        }
        if (hasData) {
            data.append('\n');
        }
        data.append(value);
        hasData = true;
    }

    private void dispatch() {
        if (hasData) {
            String event = data.toString();
            data.setLength(0);
            hasData = false;
            onData.accept(event);
        }
    }
}
