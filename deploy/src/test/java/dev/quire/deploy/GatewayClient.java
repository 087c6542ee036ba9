package dev.quire.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.SamplingParams;
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
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/** A client of a gateway container from outside it: gRPC streams on its published port, and HTTP GETs. */
final class GatewayClient implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /** One finished stream: its tokens in the order received and how it ended. */
    record Output(List<Integer> tokens, FinishReason finish) {
    }

    private final ManagedChannel channel;

    GatewayClient(String host, int grpcPort) {
        channel = NettyChannelBuilder.forAddress(host, grpcPort).usePlaintext().build();
    }

    /** A greedy stream of exactly {@code tokens} tokens (ignore_eos). */
    Output greedy(String prompt, int tokens) {
        GenerateRequest request = GenerateRequest.newBuilder().setPrompt(prompt).setSampling(SamplingParams.newBuilder()
                .setTemperature(0).setMaxTokens(tokens).setIgnoreEos(true)).build();
        List<Integer> out = new ArrayList<>();
        FinishReason finish = FinishReason.FINISH_REASON_UNSPECIFIED;
        Iterator<GenerateResponse> it = InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(180, TimeUnit.SECONDS)
                .generate(request);
        while (it.hasNext()) {
            GenerateResponse r = it.next();
            out.addAll(r.getTokenIdsList());
            if (r.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED) {
                finish = r.getFinishReason();
            }
        }
        return new Output(out, finish);
    }

    /** Starts one greedy stream per prompt at once. */
    List<Future<Output>> start(ExecutorService pool, List<String> prompts, int tokens) {
        List<Future<Output>> futures = new ArrayList<>();
        for (String p : prompts) {
            futures.add(pool.submit(() -> greedy(p, tokens)));
        }
        return futures;
    }

    /** Runs one greedy stream per prompt, all at once, and returns their outputs in order. */
    List<Output> runAll(List<String> prompts, int tokens) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(prompts.size());
        try {
            List<Output> out = new ArrayList<>();
            for (Future<Output> f : start(pool, prompts, tokens)) {
                out.add(f.get(240, TimeUnit.SECONDS));
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    static List<String> prompts(int n) {
        String[] starts = {"Once upon a time", "The little dog", "One day, Lily", "Tom and Sam", "The sun was",
                "A big red ball", "In the park", "Mom said", "The cat wanted", "There was a tree"};
        List<String> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(starts[i % starts.length] + (i < starts.length ? "" : " and friend " + i / starts.length));
        }
        return out;
    }

    static HttpResponse<String> get(String url) throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode getJson(String url) throws IOException, InterruptedException {
        HttpResponse<String> r = get(url);
        if (r.statusCode() != 200) {
            throw new IOException(url + ": HTTP " + r.statusCode() + " " + r.body());
        }
        return JSON.readTree(r.body());
    }

    /** Sum of a Prometheus series over all its labels. */
    static double scrape(String url, String metric) throws IOException, InterruptedException {
        double sum = 0;
        for (String line : get(url).body().split("\n")) {
            if (line.startsWith(metric + "{") || line.startsWith(metric + " ")) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return sum;
    }

    static void await(String what, long seconds, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within " + seconds + " s: " + what);
            }
            Thread.sleep(100);
        }
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
}
