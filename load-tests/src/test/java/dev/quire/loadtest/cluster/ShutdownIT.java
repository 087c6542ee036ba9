package dev.quire.loadtest.cluster;

import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.proto.v1.TokenIds;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * SIGTERM to {@code ./quire serve} with long streams in flight, over gRPC and HTTP, fast and slow readers:
 * every stream must end with its final chunk (a finish reason; {@code [DONE]} and the end of the chunked body
 * over HTTP), never a broken connection; requests that arrive during the drain are refused with 503 and
 * UNAVAILABLE; the process exits with status 0.
 */
class ShutdownIT {
    static final int GRPC_STREAMS = 12;
    static final int HTTP_STREAMS = 6;
    static final int SLOW_STREAMS = 3;
    /**
     * Streams whose client reads the first event and then nothing until the drain is over: eight prompts with
     * 20 log-probabilities per token make far more output than the socket buffers hold, so the server still
     * has each one's final chunks to send when it would close its ports.
     */
    static final int STALLED_STREAMS = 2;
    /** The model's context is 512 tokens: eight prompt tokens and 480 out keep every stream running for seconds. */
    static final int TOKENS = 480;

    /** One HTTP stream read on a plain socket: everything the server sent before it closed the connection. */
    record HttpStream(CompletableFuture<String> raw, CountDownLatch firstEvent, String kind) {
    }

    @Test
    void sigtermFinishesEveryStreamRefusesNewWorkAndExitsZero() throws Exception {
        int grpc = QuireProcess.freePort();
        int http = QuireProcess.freePort();
        QuireProcess serve = QuireProcess.start("shutdown-serve", Map.of(), "serve", "--host", "127.0.0.1",
                "--grpc-port", "" + grpc, "--http-port", "" + http, "--kv-cache-bytes", "64m", "--drain-timeout", "1s",
                "--cluster-name", "shutdown-it-" + System.nanoTime());
        ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", grpc).usePlaintext().build();
        try (serve) {
            serve.awaitLog("Quire is serving", 180);

            List<CompletableFuture<List<GenerateResponse>>> grpcStreams = new ArrayList<>();
            CountDownLatch grpcStarted = new CountDownLatch(GRPC_STREAMS);
            for (int i = 0; i < GRPC_STREAMS; i++) {
                grpcStreams.add(generate(channel, request(i), grpcStarted));
            }
            List<HttpStream> httpStreams = new ArrayList<>();
            CountDownLatch resume = new CountDownLatch(1);
            for (int i = 0; i < HTTP_STREAMS + SLOW_STREAMS; i++) {
                httpStreams.add(stream(http, i, i >= HTTP_STREAMS ? "slow" : "fast", body(i, true, TOKENS), null));
            }
            for (int i = 0; i < STALLED_STREAMS; i++) {
                httpStreams.add(stream(http, 50 + i, "stalled", stalledBody(50 + i), resume));
            }
            assertThat(grpcStarted.await(120, TimeUnit.SECONDS)).as("every gRPC stream started").isTrue();
            for (HttpStream s : httpStreams) {
                assertThat(s.firstEvent().await(120, TimeUnit.SECONDS)).as("every HTTP stream started").isTrue();
            }
            for (CompletableFuture<?> s : grpcStreams) {
                assertThat(s).as("no stream ended before the SIGTERM").isNotDone();
            }

            serve.terminate(); // SIGTERM

            // Readiness turns false at once; from then on new work is refused, until the ports close.
            awaitNotReady(http);
            int refusedHttp = 0;
            int refusedGrpc = 0;
            List<String> wrong = new ArrayList<>();
            while (serve.process.isAlive()) {
                try {
                    String answer = post(http, body(99, false, 8));
                    if (answer.startsWith("HTTP/1.1 503")) {
                        refusedHttp++;
                    } else {
                        wrong.add(answer.lines().findFirst().orElse(answer));
                    }
                } catch (ConnectException e) {
                    break; // the port is closed
                } catch (IOException e) {
                    wrong.add("HTTP: " + e);
                }
                try {
                    InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                            .generate(request(99)).forEachRemaining(r -> { });
                    wrong.add("gRPC: a new request ran during the drain");
                } catch (StatusRuntimeException e) {
                    if (e.getStatus().getCode() == Status.Code.UNAVAILABLE
                            && String.valueOf(e.getStatus().getDescription()).contains("shutting down")) {
                        refusedGrpc++;
                    } else if (e.getStatus().getCode() != Status.Code.UNAVAILABLE) {
                        wrong.add("gRPC: " + e.getStatus());
                    }
                }
                if (refusedHttp >= 3 && refusedGrpc >= 3) {
                    break;
                }
            }
            assertThat(wrong).as("answers to new requests during the drain").isEmpty();
            assertThat(refusedHttp).as("HTTP requests refused with 503 during the drain").isPositive();
            assertThat(refusedGrpc).as("gRPC requests refused with UNAVAILABLE during the drain").isPositive();

            // Every stream ends with its final chunk.
            int aborted = 0;
            for (int i = 0; i < GRPC_STREAMS; i++) {
                List<GenerateResponse> chunks = grpcStreams.get(i).get(120, TimeUnit.SECONDS);
                GenerateResponse last = chunks.get(chunks.size() - 1);
                assertThat(last.getFinishReason()).as("gRPC stream %d's last chunk", i)
                        .isIn(FinishReason.LENGTH, FinishReason.ABORTED);
                aborted += last.getFinishReason() == FinishReason.ABORTED ? 1 : 0;
            }
            // The stalled readers read again only now, when every gRPC stream has ended.
            resume.countDown();
            for (int i = 0; i < httpStreams.size(); i++) {
                String raw = httpStreams.get(i).raw().get(120, TimeUnit.SECONDS);
                String tail = raw.substring(Math.max(0, raw.length() - 400));
                assertThat(raw).as("HTTP stream %d (%s reader, %d bytes) ends with [DONE] and the chunked body's end: ...%s",
                        i, httpStreams.get(i).kind(), raw.length(), tail).endsWith("data: [DONE]\n\n\r\n0\r\n\r\n");
                assertThat(raw).as("HTTP stream %d has a finish reason", i)
                        .containsPattern("\"finish_reason\":\"(length|abort)\"");
                aborted += raw.contains("\"finish_reason\":\"abort\"") ? 1 : 0;
            }
            assertThat(aborted).as("streams the drain's end aborted (the test must reach that path)").isPositive();

            assertThat(serve.awaitExit(120)).as("the server exits after the drain:%n%s", serve.output()).isTrue();
            assertThat(serve.process.exitValue()).as(serve.output()).isZero();
            assertThat(serve.output()).doesNotContain("error while shutting down", "Exception", " ERROR ");
        } finally {
            channel.shutdownNow();
        }
    }

    static GenerateRequest request(int n) {
        TokenIds.Builder ids = TokenIds.newBuilder();
        for (int i = 0; i < 8; i++) {
            ids.addIds(1 + (n * 37 + i * 11) % 500);
        }
        return GenerateRequest.newBuilder().setPromptTokenIds(ids)
                .setSampling(SamplingParams.newBuilder().setMaxTokens(TOKENS).setIgnoreEos(true).setSeed(n)).build();
    }

    static CompletableFuture<List<GenerateResponse>> generate(ManagedChannel channel, GenerateRequest request,
                                                             CountDownLatch started) {
        CompletableFuture<List<GenerateResponse>> done = new CompletableFuture<>();
        List<GenerateResponse> chunks = new ArrayList<>();
        InferenceGrpc.newStub(channel).generate(request, new StreamObserver<>() {
            @Override
            public void onNext(GenerateResponse value) {
                if (chunks.isEmpty()) {
                    started.countDown();
                }
                chunks.add(value);
            }

            @Override
            public void onError(Throwable t) {
                done.completeExceptionally(new AssertionError("a gRPC stream broke after " + chunks.size()
                        + " chunks instead of ending with a final chunk: " + t, t));
            }

            @Override
            public void onCompleted() {
                done.complete(chunks);
            }
        });
        return done;
    }

    static String body(int n, boolean stream, int maxTokens) {
        StringBuilder ids = new StringBuilder();
        for (int id : request(n).getPromptTokenIds().getIdsList()) {
            ids.append(ids.isEmpty() ? "" : ",").append(id);
        }
        return "{\"model\":\"stories260K\",\"prompt\":[" + ids + "],\"max_tokens\":" + maxTokens
                + ",\"ignore_eos\":true,\"seed\":" + n + (stream ? ",\"stream\":true" : "") + "}";
    }

    /** Eight prompts in one streamed request, each token with 20 log-probabilities. */
    static String stalledBody(int n) {
        StringBuilder prompts = new StringBuilder();
        for (int p = 0; p < 8; p++) {
            StringBuilder ids = new StringBuilder();
            for (int id : request(n * 8 + p).getPromptTokenIds().getIdsList()) {
                ids.append(ids.isEmpty() ? "" : ",").append(id);
            }
            prompts.append(p == 0 ? "" : ",").append('[').append(ids).append(']');
        }
        return "{\"model\":\"stories260K\",\"prompt\":[" + prompts + "],\"max_tokens\":" + TOKENS
                + ",\"ignore_eos\":true,\"logprobs\":20,\"seed\":" + n + ",\"stream\":true}";
    }

    /**
     * A streamed completion read on its own thread. A slow reader takes 128 bytes every 40 ms through a
     * 4 KiB receive buffer; a stalled one reads its first event, then waits for {@code resume}.
     */
    static HttpStream stream(int port, int n, String kind, String body, CountDownLatch resume) throws IOException {
        boolean slow = kind.equals("slow");
        Socket socket = new Socket();
        if (!kind.equals("fast")) {
            socket.setReceiveBufferSize(4096);
        }
        socket.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
        socket.setSoTimeout(120_000);
        send(socket, "POST", "/v1/completions", body);
        CompletableFuture<String> raw = new CompletableFuture<>();
        CountDownLatch first = new CountDownLatch(1);
        Thread reader = new Thread(() -> {
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            try (socket) {
                InputStream in = socket.getInputStream();
                byte[] buf = new byte[slow ? 128 : 8192];
                int read;
                while ((read = in.read(buf)) >= 0) {
                    all.write(buf, 0, read);
                    if (first.getCount() > 0 && all.toString(StandardCharsets.UTF_8).contains("data: ")) {
                        first.countDown();
                        if (resume != null) {
                            resume.await();
                        }
                    }
                    if (slow) {
                        Thread.sleep(40);
                    }
                }
                raw.complete(all.toString(StandardCharsets.UTF_8));
            } catch (IOException | InterruptedException e) {
                raw.complete(all.toString(StandardCharsets.UTF_8) + "\n<broken: " + e + ">");
            }
        }, "http-stream-" + n);
        reader.setDaemon(true);
        reader.start();
        return new HttpStream(raw, first, kind);
    }

    static void send(Socket socket, String method, String path, String body) throws IOException {
        byte[] payload = body.getBytes(StandardCharsets.UTF_8);
        OutputStream out = socket.getOutputStream();
        out.write((method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                + "Content-Type: application/json\r\nContent-Length: " + payload.length + "\r\n\r\n")
                .getBytes(StandardCharsets.ISO_8859_1));
        out.write(payload);
        out.flush();
    }

    /** A whole response on a new connection, as text. */
    static String post(int port, String body) throws IOException {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
            socket.setSoTimeout(30_000);
            send(socket, "POST", "/v1/completions", body);
            return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    static void awaitNotReady(int port) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
                socket.setSoTimeout(10_000);
                socket.getOutputStream().write("GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                        .getBytes(StandardCharsets.ISO_8859_1));
                String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                if (answer.startsWith("HTTP/1.1 503")) {
                    return;
                }
            }
            Thread.sleep(10);
        }
        throw new AssertionError("/ready did not turn 503 after SIGTERM");
    }

}
