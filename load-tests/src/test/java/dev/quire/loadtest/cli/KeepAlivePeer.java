package dev.quire.loadtest.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A test peer on plain sockets that keeps HTTP/1.1 connections the way cpp-httplib-based servers (llama.cpp's
 * {@code llama-server}) do: every response says {@code Keep-Alive: timeout=T, max=M}, a connection idle for
 * longer than T is closed, and a connection is done after M requests. It speaks enough of the OpenAI API for
 * the HTTP driver: {@code GET /v1/models} and {@code POST /v1/completions} or {@code /v1/chat/completions},
 * streamed (server-sent events, chunked) or whole (with a length).
 *
 * <p>Losing a request to such a close is a race: the server closes the idle (or spent) connection just as
 * the client writes on it, and the client reads the end of the connection instead of an answer. The peer
 * makes that race deterministic: it keeps the socket open past its limits, and a request that arrives on a
 * connection past them is treated as the server would have, as arriving on a closed connection: the peer
 * closes the connection without writing a byte. Whether a client writes on such a connection is then a fact
 * the test can count, not a matter of timing.
 *
 * <p>A {@link Policy} decides what happens to each generation request; tests use it to drop, reset or
 * half-answer chosen requests. Every generation request is recorded in {@link #seen}.
 */
final class KeepAlivePeer implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What the peer does with one generation request. */
    enum Action {
        /** Answer, keeping the connection. */
        ANSWER,
        /** Answer with {@code Connection: close}, then close. */
        ANSWER_AND_CLOSE,
        /** Close the connection without writing a byte: the request met a connection the server had closed. */
        DROP,
        /** Reset the connection (RST) without writing a byte. */
        RESET,
        /** Write the status line and part of the headers, then close: the server had started the request. */
        PARTIAL_HEAD,
        /** Write the headers and part of the first event, then close: the server had started the request. */
        PARTIAL_BODY
    }

    /** Decides the fate of a generation request. */
    interface Policy {
        /**
         * @param index     the request's place on its connection, from 1
         * @param idleNanos how long the connection was idle before the request: since the last response was
         *                  written, or since it was accepted
         */
        Action decide(int index, long idleNanos);
    }

    /**
     * One generation request as the peer saw it.
     *
     * @param connection which connection (numbered from 1 in accept order)
     * @param index      its place on that connection, from 1
     * @param idleMillis how long the connection had been idle
     * @param action     what the peer did
     * @param body       the request body
     */
    record Seen(int connection, int index, long idleMillis, Action action, JsonNode body) {
    }

    /** cpp-httplib's behaviour: past {@code timeout} idle or {@code max} requests the connection is closed. */
    static Policy httplib(long timeoutMillis, int max, int closeEvery) {
        return (index, idleNanos) -> {
            if (index > max || (index > 1 && idleNanos > TimeUnit.MILLISECONDS.toNanos(timeoutMillis))) {
                return Action.DROP;
            }
            return closeEvery > 0 && index % closeEvery == 0 ? Action.ANSWER_AND_CLOSE : Action.ANSWER;
        };
    }

    final List<Seen> seen = new CopyOnWriteArrayList<>();
    /** The {@code Keep-Alive} header of every response. */
    volatile String keepAlive = "timeout=1, max=5";
    volatile Policy policy = httplib(1000, 5, 0);

    private final ServerSocket server;
    private final Thread acceptor;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final AtomicInteger connections = new AtomicInteger();

    KeepAlivePeer() throws IOException {
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        acceptor = new Thread(this::accept, "keep-alive-peer");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    int port() {
        return server.getLocalPort();
    }

    String url() {
        return "http://127.0.0.1:" + port();
    }

    /** The generation requests that met the given action. */
    List<Seen> seen(Action action) {
        return seen.stream().filter(s -> s.action() == action).toList();
    }

    private void accept() {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                s.setTcpNoDelay(true);
                sockets.add(s);
                int id = connections.incrementAndGet();
                Thread t = new Thread(() -> serve(s, id), "keep-alive-peer-" + id);
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void serve(Socket socket, int id) {
        try (socket) {
            // A connection nobody uses is closed for real eventually, so threads do not pile up.
            socket.setSoTimeout(30_000);
            InputStream in = new BufferedInputStream(socket.getInputStream());
            OutputStream out = socket.getOutputStream();
            long idleSince = System.nanoTime();
            for (int index = 1; ; index++) {
                String requestLine = line(in);
                if (requestLine == null) {
                    return; // the client closed it
                }
                long idle = System.nanoTime() - idleSince;
                String[] parts = requestLine.split(" ");
                int length = 0;
                for (String header; (header = line(in)) != null && !header.isEmpty(); ) {
                    int colon = header.indexOf(':');
                    if (colon > 0 && header.substring(0, colon).strip().equalsIgnoreCase("content-length")) {
                        length = Integer.parseInt(header.substring(colon + 1).strip());
                    }
                }
                byte[] body = in.readNBytes(length);
                if (parts.length > 1 && parts[1].endsWith("/v1/models")) {
                    out.write(whole("{\"object\":\"list\",\"data\":[{\"id\":\"peer-model\",\"object\":\"model\"}]}",
                            false));
                    out.flush();
                    idleSince = System.nanoTime();
                    continue;
                }
                JsonNode request = JSON.readTree(body);
                Action action = policy.decide(index, idle);
                seen.add(new Seen(id, index, TimeUnit.NANOSECONDS.toMillis(idle), action, request));
                boolean chat = parts.length > 1 && parts[1].endsWith("/chat/completions");
                if (!answer(socket, out, action, request, chat)) {
                    return;
                }
                idleSince = System.nanoTime();
            }
        } catch (IOException e) {
            // the client went away, or the peer is closing
        }
    }

    /** @return whether the connection stays open */
    private boolean answer(Socket socket, OutputStream out, Action action, JsonNode request, boolean chat)
            throws IOException {
        boolean close = action == Action.ANSWER_AND_CLOSE;
        int n = request.path("max_tokens").asInt(3);
        switch (action) {
            case DROP -> {
                return false;
            }
            case RESET -> {
                socket.setSoLinger(true, 0);
                return false;
            }
            case PARTIAL_HEAD -> {
                out.write(ascii("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"));
                out.flush();
                return false;
            }
            case PARTIAL_BODY -> {
                out.write(streamHead(false));
                byte[] event = ascii("data: " + chunk(chat, "Once", null) + "\n\n");
                out.write(chunked(Arrays.copyOf(event, event.length / 2)));
                out.flush();
                return false;
            }
            default -> {
                if (request.path("stream").asBoolean(false)) {
                    out.write(streamHead(close));
                    for (int i = 1; i <= n; i++) {
                        out.write(event(chunk(chat, i == 1 ? "Once" : " tok" + i, i == n ? "length" : null)));
                    }
                    out.write(event("{\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":" + n
                            + ",\"total_tokens\":" + (2 + n) + "}}"));
                    out.write(event("[DONE]"));
                    out.write(ascii("0\r\n\r\n"));
                } else {
                    String text = JSON.valueToTree("x ".repeat(n)).toString();
                    String choice = chat ? "{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":" + text
                            + "},\"finish_reason\":\"length\"}"
                            : "{\"index\":0,\"text\":" + text + ",\"finish_reason\":\"length\"}";
                    out.write(whole("{\"choices\":[" + choice + "],\"usage\":{\"prompt_tokens\":2,"
                            + "\"completion_tokens\":" + n + ",\"total_tokens\":" + (2 + n) + "}}", close));
                }
                out.flush();
                if (close) {
                    socket.shutdownOutput();
                }
                return !close;
            }
        }
    }

    private byte[] streamHead(boolean close) {
        return ascii("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                + "Keep-Alive: " + keepAlive + "\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n");
    }

    private byte[] whole(String json, boolean close) {
        byte[] body = json.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(ascii("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + body.length
                + "\r\nKeep-Alive: " + keepAlive + "\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n"));
        b.writeBytes(body);
        return b.toByteArray();
    }

    private static String chunk(boolean chat, String text, String finish) {
        String f = finish == null ? "null" : "\"" + finish + "\"";
        return chat ? "{\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\""
                + text + "\"},\"finish_reason\":" + f + "}]}"
                : "{\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\"" + text
                + "\",\"finish_reason\":" + f + "}]}";
    }

    private static byte[] event(String data) {
        return chunked(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] chunked(byte[] data) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.writeBytes(ascii(Integer.toHexString(data.length).toUpperCase(Locale.ROOT) + "\r\n"));
        b.writeBytes(data);
        b.writeBytes(ascii("\r\n"));
        return b.toByteArray();
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    /** One CRLF-terminated line, or null at the end of the stream before any byte. */
    private static String line(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int c; (c = in.read()) != -1; ) {
            if (c == '\n') {
                int end = sb.length() > 0 && sb.charAt(sb.length() - 1) == '\r' ? sb.length() - 1 : sb.length();
                return sb.substring(0, end);
            }
            sb.append((char) c);
        }
        if (sb.length() == 0) {
            return null;
        }
        throw new IOException("connection closed inside a line");
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (Socket s : sockets) {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
        try {
            acceptor.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
