package dev.quire.server;

import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.ListModelsRequest;
import dev.quire.proto.v1.ListModelsResponse;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.proto.v1.TokenIds;
import dev.quire.proto.v1.TokenizeRequest;
import dev.quire.worker.engine.EngineConfig;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Starts the all-in-one server on a free port and talks to it with a plain grpc-java client. */
class AllInOneEndToEndTest {
    static final Path MODEL = Path.of("../models/stories260K");

    static AllInOneServer server;
    static ManagedChannel channel;
    static InferenceGrpc.InferenceBlockingStub stub;

    @BeforeAll
    static void start() throws Exception {
        server = AllInOneServer.start(AllInOneServer.Options.local(MODEL,
                EngineConfig.defaults().withKvCacheBytes(64L << 20)));
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
        stub = InferenceGrpc.newBlockingStub(channel).withDeadlineAfter(120, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stop() throws Exception {
        if (channel != null) {
            channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        if (server != null) {
            server.close();
        }
    }

    static int[] goldenIds() throws Exception {
        return Arrays.stream(Files.readString(MODEL.resolve("golden-greedy-ids.txt")).trim().split(","))
                .mapToInt(s -> Integer.parseInt(s.trim())).toArray();
    }

    static List<GenerateResponse> generate(GenerateRequest request) {
        List<GenerateResponse> chunks = new ArrayList<>();
        Iterator<GenerateResponse> it = stub.generate(request);
        it.forEachRemaining(chunks::add);
        return chunks;
    }

    static int[] tokens(List<GenerateResponse> chunks) {
        return chunks.stream().flatMap(c -> c.getTokenIdsList().stream()).mapToInt(Integer::intValue).toArray();
    }

    static String text(List<GenerateResponse> chunks) {
        StringBuilder sb = new StringBuilder();
        chunks.forEach(c -> sb.append(c.getText()));
        return sb.toString();
    }

    @Test
    void greedyFromBosStreamsThePublishedGoldenOutput() throws Exception {
        int[] golden = goldenIds();
        List<GenerateResponse> chunks = generate(GenerateRequest.newBuilder()
                .setPromptTokenIds(TokenIds.newBuilder().addIds(1))
                .setSampling(SamplingParams.newBuilder().setMaxTokens(golden.length).setTemperature(0f))
                .setRequestId("golden")
                .build());

        assertThat(chunks.size()).as("streamed, not one blob").isGreaterThan(golden.length / 2);
        assertThat(tokens(chunks)).containsExactly(golden);
        GenerateResponse last = chunks.get(chunks.size() - 1);
        assertThat(last.getFinishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(last.getUsage().getPromptTokens()).isEqualTo(1);
        assertThat(last.getUsage().getCompletionTokens()).isEqualTo(golden.length);
        assertThat(chunks).allSatisfy(c -> assertThat(c.getRequestId()).isEqualTo("golden"));
        String goldenText = Files.readString(MODEL.resolve("golden-greedy.txt"));
        assertThat(text(chunks)).startsWith(goldenText.strip());
    }

    @Test
    void textPromptIsTokenizedWithBosAndContinuesGreedily() throws Exception {
        // The golden run starts "Once upon a time": prompting with that text must continue it.
        int[] golden = goldenIds();
        List<GenerateResponse> chunks = generate(GenerateRequest.newBuilder()
                .setPrompt("Once upon a time")
                .setSampling(SamplingParams.newBuilder().setMaxTokens(20).setTemperature(0f))
                .build());
        assertThat(tokens(chunks)).containsExactly(Arrays.copyOfRange(golden, 4, 24));
        assertThat(chunks.get(0).getRequestId()).startsWith("req-");
        assertThat(text(chunks)).startsWith(",");
    }

    @Test
    void seededSamplingIsReproducible() {
        GenerateRequest request = GenerateRequest.newBuilder()
                .setPromptTokenIds(TokenIds.newBuilder().addIds(1))
                .setSampling(SamplingParams.newBuilder().setMaxTokens(40).setTemperature(0.9f).setTopP(0.95f)
                        .setSeed(1234).setIgnoreEos(true))
                .build();
        int[] first = tokens(generate(request));
        int[] second = tokens(generate(request));
        assertThat(first).hasSize(40).containsExactly(second);
        int[] other = tokens(generate(request.toBuilder()
                .setSampling(request.getSampling().toBuilder().setSeed(99)).build()));
        assertThat(other).isNotEqualTo(first);
    }

    @Test
    void stopStringEndsGenerationWithoutReturningIt() {
        List<GenerateResponse> chunks = generate(GenerateRequest.newBuilder()
                .setPromptTokenIds(TokenIds.newBuilder().addIds(1))
                .setSampling(SamplingParams.newBuilder().setMaxTokens(100).setTemperature(0f).addStop("Lily"))
                .build());
        assertThat(text(chunks)).isEqualTo("Once upon a time, there was a little girl named ");
        assertThat(chunks.get(chunks.size() - 1).getFinishReason()).isEqualTo(FinishReason.STOP_STRING);
    }

    @Test
    void listModelsAndTokenize() {
        ListModelsResponse models = stub.listModels(ListModelsRequest.getDefaultInstance());
        assertThat(models.getModelsList()).hasSize(1);
        assertThat(models.getModels(0).getName()).isEqualTo("stories260K");
        assertThat(models.getModels(0).getVocabSize()).isEqualTo(512);
        assertThat(models.getModels(0).getMaxContextLength()).isEqualTo(512);

        assertThat(stub.tokenize(TokenizeRequest.newBuilder().setText("Once upon a time").setAddSpecialTokens(true)
                .build()).getTokenIdsList()).containsExactly(1, 403, 407, 261, 378);
    }

    static Stream<Arguments> invalidRequests() {
        GenerateRequest ok = GenerateRequest.newBuilder().setPrompt("Once").build();
        SamplingParams.Builder s = SamplingParams.newBuilder();
        return Stream.of(
                Arguments.of("no prompt", GenerateRequest.newBuilder().build(), "prompt"),
                Arguments.of("empty prompt", ok.toBuilder().setPrompt("").build(), "prompt"),
                Arguments.of("empty token ids", ok.toBuilder().setPromptTokenIds(TokenIds.newBuilder()).build(),
                        "prompt_token_ids"),
                Arguments.of("token id out of range", ok.toBuilder()
                        .setPromptTokenIds(TokenIds.newBuilder().addIds(1).addIds(512)).build(), "prompt_token_ids"),
                Arguments.of("negative token id", ok.toBuilder()
                        .setPromptTokenIds(TokenIds.newBuilder().addIds(-3)).build(), "prompt_token_ids"),
                Arguments.of("prompt longer than context", ok.toBuilder().setPromptTokenIds(TokenIds.newBuilder()
                        .addAllIds(IntStream.range(0, 600).map(i -> 300).boxed().toList())).build(), "prompt"),
                Arguments.of("negative max_tokens", ok.toBuilder().setSampling(s.clone().setMaxTokens(-1)).build(),
                        "max_tokens"),
                Arguments.of("zero max_tokens", ok.toBuilder().setSampling(s.clone().setMaxTokens(0)).build(),
                        "max_tokens"),
                Arguments.of("negative temperature", ok.toBuilder()
                        .setSampling(s.clone().setTemperature(-0.5f)).build(), "temperature"),
                Arguments.of("NaN temperature", ok.toBuilder()
                        .setSampling(s.clone().setTemperature(Float.NaN)).build(), "temperature"),
                Arguments.of("top_p zero", ok.toBuilder().setSampling(s.clone().setTopP(0f)).build(), "top_p"),
                Arguments.of("top_p above one", ok.toBuilder().setSampling(s.clone().setTopP(1.5f)).build(), "top_p"),
                Arguments.of("negative top_k", ok.toBuilder().setSampling(s.clone().setTopK(-1)).build(), "top_k"),
                Arguments.of("empty stop string", ok.toBuilder().setSampling(s.clone().addStop("")).build(), "stop"),
                Arguments.of("unknown model", ok.toBuilder().setModel("gpt-9").build(), "model"),
                Arguments.of("NaN top_p", ok.toBuilder().setSampling(s.clone().setTopP(Float.NaN)).build(), "top_p"),
                Arguments.of("infinite temperature", ok.toBuilder()
                        .setSampling(s.clone().setTemperature(Float.POSITIVE_INFINITY)).build(), "temperature"),
                Arguments.of("min_p above one", ok.toBuilder().setSampling(s.clone().setMinP(2f)).build(), "min_p"),
                Arguments.of("zero repetition penalty", ok.toBuilder()
                        .setSampling(s.clone().setRepetitionPenalty(0f)).build(), "repetition_penalty"),
                Arguments.of("presence penalty out of range", ok.toBuilder()
                        .setSampling(s.clone().setPresencePenalty(5f)).build(), "presence_penalty"),
                Arguments.of("frequency penalty NaN", ok.toBuilder()
                        .setSampling(s.clone().setFrequencyPenalty(Float.NaN)).build(), "frequency_penalty"),
                Arguments.of("too many logprobs", ok.toBuilder().setSampling(s.clone().setLogprobs(100)).build(),
                        "logprobs"),
                Arguments.of("negative logprobs", ok.toBuilder().setSampling(s.clone().setLogprobs(-1)).build(),
                        "logprobs"),
                Arguments.of("min int max_tokens", ok.toBuilder()
                        .setSampling(s.clone().setMaxTokens(Integer.MIN_VALUE)).build(), "max_tokens"));
    }

    @Test
    void oversizeMessageIsRefusedAndTheServerStaysHealthy() {
        String huge = "a".repeat(5 << 20);
        assertThatThrownBy(() -> generate(GenerateRequest.newBuilder().setPrompt(huge).build()))
                .isInstanceOfSatisfying(StatusRuntimeException.class,
                        e -> assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED));
        assertThat(tokens(generate(GenerateRequest.newBuilder().setPromptTokenIds(TokenIds.newBuilder().addIds(1))
                .setSampling(SamplingParams.newBuilder().setMaxTokens(2).setTemperature(0f)).build()))).hasSize(2);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalidRequests")
    void invalidRequestsGetInvalidArgumentNamingTheField(String what, GenerateRequest request, String field) {
        assertThatThrownBy(() -> generate(request))
                .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription()).contains(field);
                });
        // The server is still healthy afterwards.
        assertThat(tokens(generate(GenerateRequest.newBuilder().setPromptTokenIds(TokenIds.newBuilder().addIds(1))
                .setSampling(SamplingParams.newBuilder().setMaxTokens(3).setTemperature(0f)).build()))).hasSize(3);
    }
}
