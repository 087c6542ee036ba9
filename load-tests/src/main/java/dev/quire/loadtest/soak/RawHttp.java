package dev.quire.loadtest.soak;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A deliberately small HTTP/1.1 client on a plain socket, one request per connection
 * ({@code Connection: close}). The soak needs what pooled clients hide: a connection it can drop in the
 * middle of a stream, a reader that takes its time, and no idle connections of its own holding the
 * server's file descriptors when it checks that they were all given back.
 */
final class RawHttp {
    private final String host;
    private final int port;
    private final String authorization;
    private final int timeoutMillis;

    RawHttp(String host, int port, String authorization, int timeoutMillis) {
        this.host = host;
        this.port = port;
        this.authorization = authorization;
        this.timeoutMillis = timeoutMillis;
    }

    /** A whole response: status, headers (lower-case names) and the body, de-chunked. */
    record Response(int status, Map<String, String> headers, String body) {
    }

    Response get(String path) throws IOException {
        return exchange("GET", path, null, null);
    }

    Response post(String path, String contentType, String body) throws IOException {
        return exchange("POST", path, contentType, body);
    }

    Response exchange(String method, String path, String contentType, String body) throws IOException {
        try (Socket socket = open(0)) {
            write(socket, method, path, contentType, body);
            return read(socket.getInputStream(), 0, 0);
        }
    }

    /**
     * Sends a request and reads its response slowly: {@code chunkBytes} at a time with {@code pauseMillis}
     * between reads, through a small receive buffer, so that the server meets a full socket and must wait.
     */
    Response postSlowly(String path, String body, int chunkBytes, int pauseMillis) throws IOException {
        try (Socket socket = open(4096)) {
            write(socket, "POST", path, "application/json", body);
            return read(socket.getInputStream(), chunkBytes, pauseMillis);
        }
    }

    /**
     * Sends a streaming request, reads until {@code events} server-sent events have arrived (or the stream
     * ended), then drops the connection without reading further. Returns the status line's code and how
     * many events arrived.
     */
    int[] postThenDisconnect(String path, String body, int events) throws IOException {
        Socket socket = open(0);
        try {
            write(socket, "POST", path, "application/json", body);
            InputStream in = socket.getInputStream();
            ByteArrayOutputStream seen = new ByteArrayOutputStream();
            byte[] buf = new byte[512];
            int status = -1;
            int count = 0;
            while (count < events) {
                int n = in.read(buf);
                if (n < 0) {
                    break;
                }
                seen.write(buf, 0, n);
                String text = seen.toString(StandardCharsets.UTF_8);
                if (status < 0 && text.contains("\r\n")) {
                    status = statusOf(text.substring(0, text.indexOf("\r\n")));
                    if (status != 200) {
                        break;
                    }
                }
                count = occurrences(text, "data: ");
            }
            return new int[]{status, count};
        } finally {
            // An abrupt reset, as a killed client or a dropped network leaves the server.
            socket.setSoLinger(true, 0);
            socket.close();
        }
    }

    private Socket open(int receiveBuffer) throws IOException {
        Socket socket = new Socket();
        if (receiveBuffer > 0) {
            socket.setReceiveBufferSize(receiveBuffer); // before connect, so the window starts small
        }
        socket.setSoTimeout(timeoutMillis);
        socket.setTcpNoDelay(true);
        socket.connect(new InetSocketAddress(host, port), timeoutMillis);
        return socket;
    }

    private void write(Socket socket, String method, String path, String contentType, String body)
            throws IOException {
        byte[] payload = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        StringBuilder head = new StringBuilder();
        head.append(method).append(' ').append(path).append(" HTTP/1.1\r\n");
        head.append("Host: ").append(host).append(':').append(port).append("\r\n");
        head.append("Connection: close\r\n");
        if (authorization != null) {
            head.append("Authorization: ").append(authorization).append("\r\n");
        }
        if (body != null) {
            if (contentType != null) {
                head.append("Content-Type: ").append(contentType).append("\r\n");
            }
            head.append("Content-Length: ").append(payload.length).append("\r\n");
        }
        head.append("\r\n");
        OutputStream out = socket.getOutputStream();
        out.write(head.toString().getBytes(StandardCharsets.ISO_8859_1));
        out.write(payload);
        out.flush();
    }

    private static Response read(InputStream in, int chunkBytes, int pauseMillis) throws IOException {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        byte[] buf = new byte[chunkBytes > 0 ? chunkBytes : 8192];
        int n;
        while ((n = in.read(buf)) >= 0) {
            all.write(buf, 0, n);
            if (pauseMillis > 0) {
                try {
                    Thread.sleep(pauseMillis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted");
                }
            }
        }
        byte[] bytes = all.toByteArray();
        int headEnd = indexOf(bytes, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        if (headEnd < 0) {
            throw new IOException("the connection closed before a whole response head (" + bytes.length + " bytes)");
        }
        String[] lines = new String(bytes, 0, headEnd, StandardCharsets.ISO_8859_1).split("\r\n");
        Map<String, String> headers = new LinkedHashMap<>();
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(':');
            if (colon > 0) {
                headers.put(lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT), lines[i].substring(colon + 1).trim());
            }
        }
        byte[] rest = java.util.Arrays.copyOfRange(bytes, headEnd + 4, bytes.length);
        if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            rest = dechunk(rest);
        }
        return new Response(statusOf(lines[0]), headers, new String(rest, StandardCharsets.UTF_8));
    }

    /** Chunked transfer decoding; a body cut off before its last (empty) chunk is an error. */
    static byte[] dechunk(byte[] raw) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int i = 0;
        while (true) {
            int lineEnd = indexOf(raw, i, "\r\n".getBytes(StandardCharsets.ISO_8859_1));
            if (lineEnd < 0) {
                throw new IOException("chunked body cut off (no terminating chunk)");
            }
            String sizeLine = new String(raw, i, lineEnd - i, StandardCharsets.ISO_8859_1);
            int semi = sizeLine.indexOf(';');
            int size = Integer.parseInt((semi >= 0 ? sizeLine.substring(0, semi) : sizeLine).trim(), 16);
            i = lineEnd + 2;
            if (size == 0) {
                return out.toByteArray();
            }
            if (i + size > raw.length) {
                throw new IOException("chunked body cut off inside a chunk");
            }
            out.write(raw, i, size);
            i += size + 2;
        }
    }

    private static int statusOf(String statusLine) throws IOException {
        String[] parts = statusLine.split(" ");
        if (parts.length < 2 || !parts[0].startsWith("HTTP/")) {
            throw new IOException("not an HTTP status line: " + statusLine);
        }
        return Integer.parseInt(parts[1]);
    }

    private static int occurrences(String text, String what) {
        int count = 0;
        for (int i = text.indexOf(what); i >= 0; i = text.indexOf(what, i + what.length())) {
            count++;
        }
        return count;
    }

    private static int indexOf(byte[] data, byte[] what) {
        return indexOf(data, 0, what);
    }

    private static int indexOf(byte[] data, int from, byte[] what) {
        outer:
        for (int i = from; i <= data.length - what.length; i++) {
            for (int j = 0; j < what.length; j++) {
                if (data[i + j] != what[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
