package dev.quire.loadtest.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.proto.v1.TokenIds;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/** A test client of one gateway (or serve): greedy gRPC streams and the HTTP operations endpoints. */
final class ClusterClient implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /** One finished stream: the tokens in the order received, how it ended, and its time to first token. */
    record Output(List<Integer> tokens, FinishReason finish, double ttftMillis) {
    }

    private final ManagedChannel channel;
    private final int httpPort;

    ClusterClient(int grpcPort, int httpPort) {
        this.channel = NettyChannelBuilder.forAddress("127.0.0.1", grpcPort).usePlaintext().build();
        this.httpPort = httpPort;
    }

    /** A greedy stream of exactly {@code tokens} tokens (ignore_eos). */
    Output greedy(String prompt, int tokens) {
        return greedy(GenerateRequest.newBuilder().setPrompt(prompt), tokens);
    }

    /** The same for a prompt of token ids. */
    Output greedy(int[] promptIds, int tokens) {
        TokenIds.Builder ids = TokenIds.newBuilder();
        for (int id : promptIds) {
            ids.addIds(id);
        }
        return greedy(GenerateRequest.newBuilder().setPromptTokenIds(ids), tokens);
    }

    private Output greedy(GenerateRequest.Builder prompt, int tokens) {
        return generate(prompt.setSampling(SamplingParams.newBuilder().setTemperature(0).setMaxTokens(tokens)
                .setIgnoreEos(true)));
    }

    /** A seeded sampled stream of exactly {@code tokens} tokens (ignore_eos). */
    Output sampled(String prompt, int tokens, float temperature, long seed) {
        return generate(GenerateRequest.newBuilder().setPrompt(prompt).setSampling(SamplingParams.newBuilder()
                .setTemperature(temperature).setSeed(seed).setMaxTokens(tokens).setIgnoreEos(true)));
    }

    Output generate(GenerateRequest.Builder request) {
        GenerateRequest req = request.build();
        long start = System.nanoTime();
        long firstToken = 0;
        List<Integer> out = new ArrayList<>();
        FinishReason finish = FinishReason.FINISH_REASON_UNSPECIFIED;
        Iterator<GenerateResponse> it = InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(120, TimeUnit.SECONDS)
                .generate(req);
        while (it.hasNext()) {
            GenerateResponse r = it.next();
            if (firstToken == 0 && r.getTokenIdsCount() > 0) {
                firstToken = System.nanoTime();
            }
            out.addAll(r.getTokenIdsList());
            if (r.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
                finish = r.getFinishReason();
            }
        }
        return new Output(out, finish, (firstToken - start) / 1e6);
    }

    /**
     * Starts a greedy stream of {@code tokens} tokens and cancels it from the client side once
     * {@code cancelAfter} tokens arrived; the future completes when the cancel was sent.
     */
    java.util.concurrent.CompletableFuture<Integer> cancelAfter(String prompt, int tokens, int cancelAfter) {
        java.util.concurrent.CompletableFuture<Integer> cancelled = new java.util.concurrent.CompletableFuture<>();
        GenerateRequest req = GenerateRequest.newBuilder().setPrompt(prompt).setSampling(SamplingParams.newBuilder()
                .setTemperature(0).setMaxTokens(tokens).setIgnoreEos(true)).build();
        InferenceGrpc.newStub(channel).generate(req, new io.grpc.stub.ClientResponseObserver<GenerateRequest,
                GenerateResponse>() {
            io.grpc.stub.ClientCallStreamObserver<GenerateRequest> call;
            int received;

            @Override
            public void beforeStart(io.grpc.stub.ClientCallStreamObserver<GenerateRequest> requestStream) {
                call = requestStream;
            }

            @Override
            public void onNext(GenerateResponse value) {
                received += value.getTokenIdsCount();
                if (received >= cancelAfter && !cancelled.isDone()) {
                    call.cancel("client hang-up", null);
                    cancelled.complete(received);
                }
            }

            @Override
            public void onError(Throwable t) {
                cancelled.completeExceptionally(new AssertionError("stream ended before " + cancelAfter
                        + " tokens: " + t, t));
            }

            @Override
            public void onCompleted() {
                cancelled.completeExceptionally(new AssertionError("stream finished before it was cancelled"));
            }
        });
        return cancelled;
    }

    JsonNode getJson(String path) throws IOException, InterruptedException {
        HttpResponse<String> r = get(path);
        if (r.statusCode() != 200) {
            throw new IOException(path + ": HTTP " + r.statusCode() + " " + r.body());
        }
        return JSON.readTree(r.body());
    }

    HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + path))
                .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The worker entry of {@code GET /cluster} whose address is {@code address}, or null. */
    JsonNode worker(String address) throws IOException, InterruptedException {
        for (JsonNode w : getJson("/cluster").get("workers")) {
            if (w.get("address").asText().equals(address)) {
                return w;
            }
        }
        return null;
    }

    /** The ids of the workers this gateway's {@code GET /cluster} lists as ready; empty when it cannot tell. */
    List<String> readyWorkerIds() {
        List<String> ids = new ArrayList<>();
        try {
            for (JsonNode w : getJson("/cluster").get("workers")) {
                if (w.get("state").asText().equals("ready")) {
                    ids.add(w.get("id").asText());
                }
            }
        } catch (IOException e) {
            return List.of();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return List.of();
        }
        return ids;
    }

    /** Waits until this gateway serves a model (its workers described it), not only lists workers. */
    void awaitModel(long seconds) throws InterruptedException {
        await("the gateway serving a model", seconds, () -> {
            try {
                return getJson("/v1/models").get("data").size() > 0;
            } catch (Exception e) {
                return false;
            }
        });
    }

    static void await(String what, long seconds, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within " + seconds + " s: " + what);
            }
            Thread.sleep(50);
        }
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    /** Sum of a Prometheus counter over all its series, scraped from {@code http://address/metrics}. */
    static double scrape(String address, String metric) throws IOException, InterruptedException {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://" + address + "/metrics"))
                .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
        double sum = 0;
        for (String line : r.body().split("\n")) {
            if (line.startsWith(metric + "{") || line.startsWith(metric + " ")) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return sum;
    }

    /** Sum of a counter on this gateway's own /metrics. */
    static double scrapeSum(ClusterClient client, String metric) throws IOException, InterruptedException {
        return scrape("127.0.0.1:" + client.httpPort, metric);
    }
}
