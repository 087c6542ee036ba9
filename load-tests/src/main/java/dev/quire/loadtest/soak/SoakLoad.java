package dev.quire.loadtest.soak;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.proto.v1.AbortRequest;
import dev.quire.proto.v1.AbortResponse;
import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpcClient;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.proto.v1.TokenIds;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.common.GrpcStatus;

import java.io.IOException;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The soak's mixed load: {@code concurrency} client threads each send one request after another, each of a
 * kind drawn at random ({@link Kind}), until told to stop. Every request is checked against what the server
 * must answer (a whole stream with its finish reason and token count, the right error status, an abort's
 * finish reason); anything else counts as unexpected, with the first messages kept for the report.
 */
public final class SoakLoad implements AutoCloseable {
    /** The kinds of request in the mix, with their relative weights. */
    public enum Kind {
        COMPLETION(2, "non-streaming completion, text prompt"),
        COMPLETION_TOKENS(1, "non-streaming completion, token-id prompt"),
        STREAM(2, "streaming completion, text prompt"),
        STREAM_TOKENS(1, "streaming completion, token-id prompt"),
        CHAT_STREAM(1, "streaming chat completion"),
        GRPC_STREAM(1, "gRPC Generate, token-id prompt"),
        GRPC_CANCEL(1, "gRPC Generate cancelled by the client after its first chunk"),
        GRPC_ABORT(1, "gRPC Generate stopped by an Abort call after its first chunk"),
        DISCONNECT(1, "HTTP stream dropped by the client (TCP reset) after its first chunks"),
        SLOW_READER(1, "HTTP stream read slowly through a small receive window"),
        BAD_REQUEST(1, "malformed or refused requests (400, 404, 405, 415)");

        final int weight;
        public final String description;

        Kind(int weight, String description) {
            this.weight = weight;
            this.description = description;
        }
    }

    /** Per-kind counts: sent, as expected, refused for load (429), unexpected. */
    public static final class Tally {
        public final AtomicLong sent = new AtomicLong();
        public final AtomicLong ok = new AtomicLong();
        public final AtomicLong refused = new AtomicLong();
        public final AtomicLong unexpected = new AtomicLong();
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] SENTENCES = {
            "Once upon a time, there was a little girl named Lily.",
            "The dog ran to the park and saw a big red ball.",
            "Tom and his mom went to the store to buy some milk.",
            "One day, a bird found a shiny stone under the tree.",
            "The sun was hot, so the cat slept in the shade all day."};
    private static final int KEEP_MESSAGES = 20;

    private final RawHttp http;
    private final Vertx vertx;
    private final GrpcClient grpc;
    private final SocketAddress grpcAddress;
    private final String authorization;
    private final String model;
    private final int vocab;
    private final int maxContext;
    private final int maxTokens;
    private final Map<Kind, Tally> tallies = new EnumMap<>(Kind.class);
    private final List<String> messages = new ArrayList<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicLong ids = new AtomicLong();
    private final AtomicInteger badRequestCase = new AtomicInteger();

    public SoakLoad(String httpHost, int httpPort, String grpcHost, int grpcPort, String authorization, String model,
                    int vocab, int maxContext, int maxTokens) {
        this.http = new RawHttp(httpHost, httpPort, authorization, 120_000);
        this.vertx = Vertx.vertx();
        this.grpc = GrpcClient.client(vertx, new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
                .setHttp2ClearTextUpgrade(false).setConnectTimeout(10_000));
        this.grpcAddress = SocketAddress.inetSocketAddress(grpcPort, grpcHost);
        this.authorization = authorization;
        this.model = model;
        this.vocab = vocab;
        this.maxContext = maxContext;
        this.maxTokens = maxTokens;
        for (Kind k : Kind.values()) {
            tallies.put(k, new Tally());
        }
    }

    public Map<Kind, Tally> tallies() {
        return tallies;
    }

    public synchronized List<String> messages() {
        return List.copyOf(messages);
    }

    public long unexpected() {
        return tallies.values().stream().mapToLong(t -> t.unexpected.get()).sum();
    }

    public long sent() {
        return tallies.values().stream().mapToLong(t -> t.sent.get()).sum();
    }

    /** Requests the client has sent and not yet seen end. */
    public int inFlight() {
        return inFlight.get();
    }

    /**
     * Runs the mix on {@code concurrency} threads until {@code stop} is set, then waits for every request of
     * it to end.
     */
    public void run(int concurrency, long seed, AtomicBoolean stop) throws InterruptedException {
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < concurrency; i++) {
            Random random = new Random(seed * 31 + i);
            Thread t = new Thread(() -> {
                while (!stop.get()) {
                    one(pick(random), random);
                }
            }, "soak-client-" + i);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
    }

    private static Kind pick(Random random) {
        int total = 0;
        for (Kind k : Kind.values()) {
            total += k.weight;
        }
        int r = random.nextInt(total);
        for (Kind k : Kind.values()) {
            r -= k.weight;
            if (r < 0) {
                return k;
            }
        }
        throw new AssertionError();
    }

    /** Sends one request of {@code kind} and checks its answer. */
    void one(Kind kind, Random random) {
        Tally tally = tallies.get(kind);
        tally.sent.incrementAndGet();
        inFlight.incrementAndGet();
        try {
            Result r = switch (kind) {
                case COMPLETION -> completion(random, false, false);
                case COMPLETION_TOKENS -> completion(random, true, false);
                case STREAM -> completion(random, false, true);
                case STREAM_TOKENS -> completion(random, true, true);
                case CHAT_STREAM -> chat(random);
                case GRPC_STREAM -> grpcStream(random, false, false);
                case GRPC_CANCEL -> grpcStream(random, true, false);
                case GRPC_ABORT -> grpcStream(random, false, true);
                case DISCONNECT -> disconnect(random);
                case SLOW_READER -> slowReader(random);
                case BAD_REQUEST -> badRequest();
            };
            switch (r) {
                case OK -> tally.ok.incrementAndGet();
                case REFUSED -> tally.refused.incrementAndGet();
            }
        } catch (Unexpected | IOException | RuntimeException | ExecutionException | TimeoutException e) {
            tally.unexpected.incrementAndGet();
            note(kind + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            inFlight.decrementAndGet();
        }
    }

    private enum Result { OK, REFUSED }

    /** An answer the server must not give. */
    static final class Unexpected extends Exception {
        Unexpected(String message) {
            super(message);
        }
    }

    private synchronized void note(String message) {
        if (messages.size() < KEEP_MESSAGES) {
            messages.add(message);
        }
    }

    // ---- HTTP ----

    private int outputLen(Random random) {
        return 8 + random.nextInt(Math.max(1, maxTokens - 7));
    }

    private ObjectNode body(Random random, boolean tokens, boolean stream, int max) {
        ObjectNode b = JSON.createObjectNode();
        b.put("model", model);
        if (tokens) {
            ArrayNode ids = b.putArray("prompt");
            int n = 4 + random.nextInt(44);
            for (int i = 0; i < n; i++) {
                ids.add(1 + random.nextInt(Math.max(1, vocab - 1)));
            }
        } else {
            b.put("prompt", SENTENCES[random.nextInt(SENTENCES.length)]);
        }
        b.put("max_tokens", max);
        b.put("temperature", random.nextBoolean() ? 0.0 : 0.8);
        b.put("seed", random.nextInt(1_000_000));
        b.put("ignore_eos", true);
        if (stream) {
            b.put("stream", true);
            b.putObject("stream_options").put("include_usage", true);
        }
        return b;
    }

    private Result completion(Random random, boolean tokens, boolean stream) throws IOException, Unexpected {
        int max = outputLen(random);
        RawHttp.Response r = http.post("/v1/completions", "application/json", body(random, tokens, stream, max).toString());
        if (r.status() == 429) {
            return Result.REFUSED;
        }
        expectStatus(r, 200);
        if (stream) {
            checkStream(r.body(), max);
        } else {
            JsonNode json = JSON.readTree(r.body());
            String reason = json.path("choices").path(0).path("finish_reason").asText();
            int completion = json.path("usage").path("completion_tokens").asInt(-1);
            if (!reason.equals("length") || completion != max) {
                throw new Unexpected("finish_reason " + reason + ", " + completion + " tokens, expected length and "
                        + max + ": " + abbreviate(r.body()));
            }
        }
        return Result.OK;
    }

    private Result chat(Random random) throws IOException, Unexpected {
        int max = outputLen(random);
        ObjectNode b = JSON.createObjectNode();
        b.put("model", model);
        b.putArray("messages").addObject().put("role", "user").put("content",
                SENTENCES[random.nextInt(SENTENCES.length)]);
        b.put("max_tokens", max);
        b.put("ignore_eos", true);
        b.put("stream", true);
        b.putObject("stream_options").put("include_usage", true);
        RawHttp.Response r = http.post("/v1/chat/completions", "application/json", b.toString());
        if (r.status() == 429) {
            return Result.REFUSED;
        }
        expectStatus(r, 200);
        checkStream(r.body(), max);
        return Result.OK;
    }

    private Result slowReader(Random random) throws IOException, Unexpected {
        int max = outputLen(random);
        RawHttp.Response r = http.postSlowly("/v1/completions", body(random, false, true, max).toString(), 256, 15);
        if (r.status() == 429) {
            return Result.REFUSED;
        }
        expectStatus(r, 200);
        checkStream(r.body(), max);
        return Result.OK;
    }

    private Result disconnect(Random random) throws IOException, Unexpected {
        int[] answer = http.postThenDisconnect("/v1/completions",
                body(random, random.nextBoolean(), true, maxTokens).toString(), 1 + random.nextInt(3));
        if (answer[0] == 429) {
            return Result.REFUSED;
        }
        if (answer[0] != 200 || answer[1] < 1) {
            throw new Unexpected("status " + answer[0] + " with " + answer[1] + " events before the disconnect");
        }
        return Result.OK;
    }

    /** A streamed body must end with {@code [DONE]}, after one finish reason {@code length} and usage of {@code max}. */
    private static void checkStream(String body, int max) throws IOException, Unexpected {
        List<String> data = new ArrayList<>();
        for (String line : body.split("\n")) {
            if (line.startsWith("data: ")) {
                data.add(line.substring(6).trim());
            }
        }
        if (data.isEmpty() || !data.get(data.size() - 1).equals("[DONE]")) {
            throw new Unexpected("stream did not end with [DONE]: " + abbreviate(body));
        }
        int finishes = 0;
        int completion = -1;
        for (String d : data.subList(0, data.size() - 1)) {
            JsonNode json = JSON.readTree(d);
            if (json.has("error")) {
                throw new Unexpected("error event: " + d);
            }
            for (JsonNode choice : json.path("choices")) {
                String reason = choice.path("finish_reason").asText("null");
                if (!reason.equals("null")) {
                    finishes++;
                    if (!reason.equals("length")) {
                        throw new Unexpected("finish_reason " + reason + ", expected length");
                    }
                }
            }
            if (json.hasNonNull("usage")) {
                completion = json.path("usage").path("completion_tokens").asInt(-1);
            }
        }
        if (finishes != 1 || completion != max) {
            throw new Unexpected(finishes + " finish reasons and " + completion + " completion tokens, expected 1 and "
                    + max);
        }
    }

    /** The malformed requests, in rotation, with the status each must get. */
    private Result badRequest() throws IOException, Unexpected {
        int c = Math.floorMod(badRequestCase.getAndIncrement(), 8);
        String m = JSON.valueToTree(model).toString();
        RawHttp.Response r = switch (c) {
            case 0 -> http.post("/v1/completions", "application/json", "{\"model\": " + m + ", \"prompt\": ");
            case 1 -> http.post("/v1/completions", "application/json",
                    "{\"model\": " + m + ", \"prompt\": \"hi\", \"no_such_field\": 1}");
            case 2 -> http.post("/v1/completions", "application/json",
                    "{\"model\": " + m + ", \"prompt\": \"hi\", \"max_tokens\": \"ten\"}");
            case 3 -> http.post("/v1/completions", "text/plain", "{\"model\": " + m + ", \"prompt\": \"hi\"}");
            case 4 -> http.post("/v1/completions", "application/json",
                    "{\"model\": \"no-such-model\", \"prompt\": \"hi\"}");
            case 5 -> http.post("/v1/completions", "application/json", "{\"model\": " + m + ", \"prompt\": "
                    + tooLongPrompt() + ", \"max_tokens\": 1}");
            case 6 -> http.get("/v1/completions");
            default -> http.get("/v1/no-such-endpoint");
        };
        int expected = switch (c) {
            case 3 -> 415;
            case 4, 7 -> 404;
            case 6 -> 405;
            default -> 400;
        };
        if (r.status() != expected) {
            throw new Unexpected("bad request case " + c + ": status " + r.status() + ", expected " + expected + ": "
                    + abbreviate(r.body()));
        }
        if (!r.body().contains("\"error\"")) {
            throw new Unexpected("bad request case " + c + ": no error body: " + abbreviate(r.body()));
        }
        return Result.OK;
    }

    private String tooLongPrompt() {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < maxContext + 1; i++) {
            b.append(i == 0 ? "" : ",").append(1 + i % Math.max(1, vocab - 1));
        }
        return b.append(']').toString();
    }

    private static void expectStatus(RawHttp.Response r, int status) throws Unexpected {
        if (r.status() != status) {
            throw new Unexpected("status " + r.status() + ", expected " + status + ": " + abbreviate(r.body()));
        }
    }

    private static String abbreviate(String s) {
        s = s.replace("\r", "").replace("\n", " ");
        return s.length() <= 300 ? s : s.substring(0, 300) + "...";
    }

    // ---- gRPC ----

    private Result grpcStream(Random random, boolean cancel, boolean abort) throws InterruptedException,
            ExecutionException, TimeoutException, Unexpected {
        int max = cancel || abort ? maxTokens : outputLen(random);
        String requestId = "soak-" + ids.incrementAndGet();
        TokenIds.Builder prompt = TokenIds.newBuilder();
        int n = 4 + random.nextInt(44);
        for (int i = 0; i < n; i++) {
            prompt.addIds(1 + random.nextInt(Math.max(1, vocab - 1)));
        }
        GenerateRequest request = GenerateRequest.newBuilder().setModel(model).setPromptTokenIds(prompt)
                .setRequestId(requestId)
                .setSampling(SamplingParams.newBuilder().setMaxTokens(max).setIgnoreEos(true)
                        .setTemperature(random.nextBoolean() ? 0f : 0.8f).setSeed(random.nextInt(1_000_000)))
                .build();
        CompletableFuture<String> done = new CompletableFuture<>();
        CompletableFuture<Boolean> aborted = new CompletableFuture<>();
        int[] tokens = {0};
        FinishReason[] finish = {FinishReason.FINISH_REASON_UNSPECIFIED};
        boolean[] cancelled = {false};
        boolean[] abortSent = {false};
        grpc.request(grpcAddress, InferenceGrpcClient.Generate).onComplete(created -> {
            if (created.failed()) {
                done.completeExceptionally(created.cause());
                return;
            }
            GrpcClientRequest<GenerateRequest, GenerateResponse> call = created.result();
            if (authorization != null) {
                call.headers().set("authorization", authorization);
            }
            call.exceptionHandler(t -> {
                if (!cancelled[0]) {
                    done.completeExceptionally(t);
                }
            });
            call.response().onComplete(answered -> {
                if (answered.failed()) {
                    if (cancelled[0]) {
                        done.complete("cancelled");
                    } else {
                        done.completeExceptionally(answered.cause());
                    }
                    return;
                }
                var response = answered.result();
                if (response.status() != null && response.status() != GrpcStatus.OK) {
                    done.complete("status " + response.status());
                    return;
                }
                response.handler(chunk -> {
                    tokens[0] = chunk.hasUsage() ? chunk.getUsage().getCompletionTokens() : tokens[0];
                    if (chunk.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
                        finish[0] = chunk.getFinishReason();
                    }
                    if (chunk.getTokenIdsCount() > 0 && finish[0] == FinishReason.FINISH_REASON_UNSPECIFIED) {
                        if (cancel && !cancelled[0]) {
                            cancelled[0] = true;
                            call.cancel();
                            done.complete("cancelled");
                        } else if (abort && !abortSent[0]) {
                            abortSent[0] = true;
                            abort(requestId, aborted);
                        }
                    }
                });
                response.exceptionHandler(t -> {
                    if (!cancelled[0]) {
                        done.completeExceptionally(t);
                    }
                });
                response.endHandler(v -> done.complete(response.status() == null || response.status() == GrpcStatus.OK
                        ? "ok" : "status " + response.status()));
            });
            call.end(request);
        });
        String end = done.get(120, TimeUnit.SECONDS);
        if (cancel) {
            if (end.equals("cancelled") || (end.equals("ok") && finish[0] == FinishReason.LENGTH)) {
                return Result.OK;
            }
            throw new Unexpected("cancelled stream ended with " + end + ", finish " + finish[0]);
        }
        if (end.equals("status RESOURCE_EXHAUSTED")) {
            return Result.REFUSED;
        }
        if (!end.equals("ok")) {
            throw new Unexpected("stream ended with " + end);
        }
        if (abort) {
            // The stream may end before the Abort call's answer arrives: wait for it.
            boolean wasAborted = abortSent[0] && aborted.get(30, TimeUnit.SECONDS);
            FinishReason want = wasAborted ? FinishReason.ABORTED : FinishReason.LENGTH;
            if (finish[0] != want) {
                throw new Unexpected("Abort answered aborted=" + wasAborted + " but the stream finished with "
                        + finish[0]);
            }
            return Result.OK;
        }
        if (finish[0] != FinishReason.LENGTH || tokens[0] != max) {
            throw new Unexpected("stream finished with " + finish[0] + " after " + tokens[0] + " tokens, expected "
                    + "LENGTH after " + max);
        }
        return Result.OK;
    }

    private void abort(String requestId, CompletableFuture<Boolean> aborted) {
        grpc.request(grpcAddress, InferenceGrpcClient.Abort).compose(call -> {
            if (authorization != null) {
                call.headers().set("authorization", authorization);
            }
            return call.send(AbortRequest.newBuilder().setRequestId(requestId).build());
        }).compose(response -> response.last()).onComplete(ar -> {
            if (ar.succeeded()) {
                aborted.complete(ar.result().getAborted());
            } else {
                aborted.completeExceptionally(ar.cause());
            }
        });
    }

    /** The served model's name, vocabulary size and context length (gRPC {@code ListModels}). */
    public static dev.quire.loadtest.driver.ServerInfo probe(String grpcHost, int grpcPort, String authorization)
            throws Exception {
        Vertx vertx = Vertx.vertx();
        try {
            GrpcClient client = GrpcClient.client(vertx, new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
                    .setHttp2ClearTextUpgrade(false).setConnectTimeout(10_000));
            var models = client.request(SocketAddress.inetSocketAddress(grpcPort, grpcHost), InferenceGrpcClient.ListModels)
                    .compose(call -> {
                        if (authorization != null) {
                            call.headers().set("authorization", authorization);
                        }
                        return call.send(dev.quire.proto.v1.ListModelsRequest.getDefaultInstance());
                    })
                    .compose(response -> response.last())
                    .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            if (models.getModelsCount() == 0) {
                throw new IllegalStateException("the server lists no model");
            }
            var m = models.getModels(0);
            return new dev.quire.loadtest.driver.ServerInfo(m.getName(), m.getVocabSize(), m.getMaxContextLength());
        } finally {
            vertx.close();
        }
    }

    @Override
    public void close() {
        grpc.close();
        vertx.close();
    }
}
