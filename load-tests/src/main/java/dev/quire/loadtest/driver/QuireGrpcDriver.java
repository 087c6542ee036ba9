package dev.quire.loadtest.driver;

import dev.quire.loadtest.workload.Prompt;
import dev.quire.loadtest.workload.RequestSpec;
import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpcClient;
import dev.quire.proto.v1.ListModelsRequest;
import dev.quire.proto.v1.ListModelsResponse;
import dev.quire.proto.v1.ModelInfo;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.proto.v1.TokenIds;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.client.GrpcClientResponse;
import io.vertx.grpc.common.GrpcStatus;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Drives Quire's gRPC API with the Vert.x gRPC client. Every chunk of a Quire stream carries the cumulative
 * {@code usage.completion_tokens}, which lets the recorder spot a token index delivered twice.
 */
public final class QuireGrpcDriver implements Driver {
    /** Streams per HTTP/2 connection are capped by the server (commonly 100); more connections carry the rest. */
    private static final int MAX_CONNECTIONS = 64;

    private final GrpcClient grpc;
    private final SocketAddress address;
    private final Target target;
    private final RequestOptions options;
    private final String authorization;

    public QuireGrpcDriver(Vertx vertx, Target target, RequestOptions options) {
        HttpClientOptions http = new HttpClientOptions()
                .setProtocolVersion(HttpVersion.HTTP_2)
                .setHttp2ClearTextUpgrade(false) // gRPC over cleartext HTTP/2 starts with prior knowledge
                .setConnectTimeout(10_000)
                .setTcpNoDelay(true);
        HttpClientAgent client = vertx.httpClientBuilder()
                .with(http)
                .with(new PoolOptions().setHttp2MaxSize(MAX_CONNECTIONS).setMaxWaitQueueSize(-1))
                .build();
        this.grpc = GrpcClient.client(vertx, client);
        this.address = SocketAddress.inetSocketAddress(target.port(), target.host());
        this.target = target;
        this.options = options;
        this.authorization = options.authorization();
    }

    @Override
    public Future<ServerInfo> probe() {
        return grpc.request(address, InferenceGrpcClient.ListModels)
                .compose(call -> {
                    if (authorization != null) {
                        call.headers().set("authorization", authorization);
                    }
                    return call.send(ListModelsRequest.getDefaultInstance());
                })
                .compose(response -> {
                    if (response.status() != null && response.status() != GrpcStatus.OK) {
                        return Future.failedFuture(new IllegalStateException(target.url() + " answered ListModels with "
                                + response.status() + ": " + response.statusMessage()));
                    }
                    return response.last();
                })
                .timeout(15, TimeUnit.SECONDS)
                .transform(ar -> {
                    if (ar.failed()) {
                        Throwable t = ar.cause();
                        return Future.failedFuture(t instanceof IllegalStateException ? t
                                : new IllegalStateException("cannot reach " + target.url() + ": " + Errors.message(t)));
                    }
                    return pickModel(ar.result());
                });
    }

    private Future<ServerInfo> pickModel(ListModelsResponse models) {
        if (models.getModelsCount() == 0) {
            return Future.failedFuture(new IllegalStateException(target.url() + " serves no models"));
        }
        ModelInfo chosen = models.getModels(0);
        if (!options.model().isEmpty()) {
            chosen = models.getModelsList().stream().filter(m -> m.getName().equals(options.model())).findFirst()
                    .orElse(null);
            if (chosen == null) {
                return Future.failedFuture(new IllegalStateException("model '" + options.model() + "' is not served by "
                        + target.url() + "; it serves: " + models.getModelsList().stream().map(ModelInfo::getName)
                        .collect(Collectors.joining(", "))));
            }
        }
        return Future.succeededFuture(new ServerInfo(chosen.getName(), chosen.getVocabSize(),
                chosen.getMaxContextLength()));
    }

    @Override
    public void send(RequestSpec spec, long seed, RequestRecorder recorder) {
        GenerateRequest request = toRequest(spec, seed);
        grpc.request(address, InferenceGrpcClient.Generate).onComplete(created -> {
            if (created.failed()) {
                recorder.fail(System.nanoTime(), Errors.kind(created.cause()), Errors.message(created.cause()));
                return;
            }
            GrpcClientRequest<GenerateRequest, GenerateResponse> call = created.result();
            if (authorization != null) {
                call.headers().set("authorization", authorization);
            }
            recorder.onCancel(call::cancel);
            call.exceptionHandler(t -> recorder.fail(System.nanoTime(), Errors.kind(t), Errors.message(t)));
            call.response().onComplete(answered -> {
                if (answered.failed()) {
                    recorder.fail(System.nanoTime(), Errors.kind(answered.cause()), Errors.message(answered.cause()));
                    return;
                }
                relay(answered.result(), recorder);
            });
            call.end(request);
        });
    }

    private static void relay(GrpcClientResponse<GenerateRequest, GenerateResponse> response, RequestRecorder recorder) {
        if (response.status() != null && response.status() != GrpcStatus.OK) {
            // Trailers-only answer: the request was refused before any token (e.g. INVALID_ARGUMENT).
            recorder.fail(System.nanoTime(), "grpc_" + response.status().name(), statusMessage(response));
            return;
        }
        response.handler(chunk -> {
            long now = System.nanoTime();
            int cumulative = chunk.hasUsage() ? chunk.getUsage().getCompletionTokens() : -1;
            recorder.chunk(now, chunk.getTokenIdsCount(), cumulative);
            if (chunk.hasUsage()) {
                recorder.usage(chunk.getUsage().getPromptTokens(), chunk.getUsage().getCompletionTokens());
            }
            if (chunk.getFinishReason() != FinishReason.FINISH_REASON_UNSPECIFIED
                    && chunk.getFinishReason() != FinishReason.UNRECOGNIZED) {
                recorder.finishReason(chunk.getFinishReason().name());
            }
        });
        response.errorHandler(error -> recorder.fail(System.nanoTime(), "grpc_" + error.status.name(),
                "stream ended with " + error));
        response.exceptionHandler(t -> recorder.fail(System.nanoTime(), Errors.kind(t), Errors.message(t)));
        response.endHandler(v -> {
            GrpcStatus status = response.status();
            if (status != null && status != GrpcStatus.OK) {
                recorder.fail(System.nanoTime(), "grpc_" + status.name(), statusMessage(response));
            } else {
                recorder.end(System.nanoTime());
            }
        });
    }

    /**
     * The status message of a finished call. Vert.x 5.0.7's {@code statusMessage()} reads only the headers (a
     * trailers-only answer); after streamed messages the message is in the trailers.
     */
    private static String statusMessage(GrpcClientResponse<?, ?> response) {
        String m = response.statusMessage();
        if (m == null && response.trailers() != null) {
            String raw = response.trailers().get("grpc-message");
            m = raw == null ? null : QueryStringDecoder.decodeComponent(raw, StandardCharsets.UTF_8);
        }
        return m == null ? String.valueOf(response.status()) : m;
    }

    private GenerateRequest toRequest(RequestSpec spec, long seed) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setModel(options.model());
        Prompt prompt = spec.prompt();
        if (prompt.isTokens()) {
            TokenIds.Builder ids = TokenIds.newBuilder();
            for (int id : prompt.tokenIds()) {
                ids.addIds(id);
            }
            b.setPromptTokenIds(ids);
        } else {
            b.setPrompt(prompt.text());
        }
        b.setSampling(SamplingParams.newBuilder()
                .setMaxTokens(spec.outputLen())
                .setTemperature((float) options.temperature())
                .setIgnoreEos(options.ignoreEos())
                .setSeed(seed));
        return b.build();
    }

    @Override
    public Future<Void> close() {
        return grpc.close();
    }
}
