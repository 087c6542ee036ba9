package dev.quire.server.fuzz;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.proto.v1.AbortResponse;
import dev.quire.proto.v1.CompleteResponse;
import dev.quire.proto.v1.DetokenizeRequest;
import dev.quire.proto.v1.DetokenizeResponse;
import dev.quire.proto.v1.FinishReason;
import dev.quire.proto.v1.GenerateRequest;
import dev.quire.proto.v1.GenerateResponse;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.ListModelsResponse;
import dev.quire.proto.v1.SamplingParams;
import dev.quire.proto.v1.TokenIds;
import dev.quire.proto.v1.TokenizeRequest;
import dev.quire.proto.v1.TokenizeResponse;
import dev.quire.server.AllInOneServer;
import dev.quire.worker.engine.EngineConfig;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.MetadataUtils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static dev.quire.server.fuzz.Fuzz.chance;
import static dev.quire.server.fuzz.Fuzz.oneOf;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Property-based fuzzing of the public gRPC API {@code quire.v1.Inference} of a real all-in-one
 * server (the bundled model, an API key, {@code --max-tokens-limit} 8, 64 KiB messages), through
 * stock grpc-java.
 *
 * <p>Generated {@code GenerateRequest}s (any prompt text or token ids, in and out of the
 * vocabulary, sampling parameters including NaN, infinities and negatives, huge budgets, any
 * request id and model name) and raw bytes (mutated encodings of such requests, hand-made broken
 * protobuf, random bytes) sent to every method: the call ends with OK or a status that blames the
 * request (INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED, UNAUTHENTICATED, ALREADY_EXISTS for a
 * request id the fuzzer used before with another request; never INTERNAL,
 * UNKNOWN, UNAVAILABLE, CANCELLED or a deadline), an OK answer is complete, and the server still
 * answers an ordinary request afterwards.
 */
class GrpcFuzzTest {
    static final Path MODEL = Path.of("../models/stories260K");
    static final String KEY = "fuzz-key";
    static final int MAX_TOKENS_LIMIT = 8;
    static final int MAX_MESSAGE_BYTES = 64 << 10;
    static final int VOCAB = 512;
    static final Set<Status.Code> BLAMES_THE_REQUEST = Set.of(Status.Code.OK, Status.Code.INVALID_ARGUMENT,
            Status.Code.NOT_FOUND, Status.Code.RESOURCE_EXHAUSTED, Status.Code.UNAUTHENTICATED,
            Status.Code.ALREADY_EXISTS);
    static final String SERVICE = "quire.v1.Inference/";

    static AllInOneServer server;
    static ManagedChannel channel;

    @BeforeAll
    static void start() throws Exception {
        server = AllInOneServer.start(AllInOneServer.Options.local(MODEL,
                        EngineConfig.defaults().withKvCacheBytes(64L << 20))
                .withKeys(ApiKeys.of(List.of(KEY)))
                .withLimits(new AdmissionLimits(4096, 1024, Duration.ofSeconds(60), 0, 0, 0, MAX_TOKENS_LIMIT,
                        MAX_MESSAGE_BYTES)));
    }

    /**
     * A connection per property. Calls the server ends before it has read the client's end of the
     * request can make grpc-java reset their streams, and Vert.x closes a connection with GOAWAY
     * after 200 resets in 30 s (its rapid-reset protection); hundreds of refused calls in a row on
     * one connection on a loaded machine can get there.
     */
    @BeforeEach
    void connect() {
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
    }

    @AfterEach
    void disconnect() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    /** An authorization value (null: none) and whether the server must accept it. */
    record Auth(String value, boolean good) {
    }

    static final Auth[] AUTH = {new Auth("Bearer " + KEY, true), new Auth("bearer  " + KEY, true),
            new Auth(null, false), new Auth("Bearer nope", false), new Auth("Basic Zm9v", false), new Auth(KEY, false)};

    static Auth auth(Random r) {
        return chance(r, 0.93) ? AUTH[0] : AUTH[r.nextInt(AUTH.length)];
    }

    static Channel with(Auth auth) {
        if (auth.value == null) {
            return channel;
        }
        Metadata m = new Metadata();
        m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), auth.value);
        return ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(m));
    }

    static CallOptions deadline() {
        return CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS);
    }

    // -- generated requests -------------------------------------------------------------------------

    /** A generated request, sent to Complete (unary) or Generate (streaming). */
    record Call(GenerateRequest request, boolean streaming, Auth auth) {
        @Override
        public String toString() {
            return (streaming ? "Generate" : "Complete") + " authorization=" + auth.value + " "
                    + Fuzz.quote(request.toString());
        }
    }

    static final float[] EDGE_FLOATS = {0f, -0f, 1f, -1f, 0.5f, 0.7f, 1.0000001f, 0.9999999f, 2f, -2f, 2.0000002f, 1e-6f,
            1e-5f, 1e-30f, Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE, -Float.MAX_VALUE, 100f, 1e30f,
            Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.intBitsToFloat(0x7fc00001),
            Float.intBitsToFloat(0xffffffff)};
    static final int[] EDGE_INTS = {0, 1, 2, 3, 4, -1, 8, 9, 20, 21, 511, 512, 513, 1000, 1001, -1000, -1001, 65536,
            Integer.MAX_VALUE, Integer.MIN_VALUE, Integer.MAX_VALUE - 1, Integer.MIN_VALUE + 1};

    static float aFloat(Random r, float... plausible) {
        return chance(r, 0.6) ? plausible[r.nextInt(plausible.length)] : EDGE_FLOATS[r.nextInt(EDGE_FLOATS.length)];
    }

    static int anInt(Random r, int plausibleFrom, int plausibleTo) {
        return chance(r, 0.7) ? plausibleFrom + r.nextInt(plausibleTo - plausibleFrom + 1)
                : EDGE_INTS[r.nextInt(EDGE_INTS.length)];
    }

    static GenerateRequest request(Random r) {
        GenerateRequest.Builder b = GenerateRequest.newBuilder();
        double p = oneOf(r, 0.1, 0.25, 0.4); // how many optional fields this request sets
        if (chance(r, 0.2)) {
            b.setModel(chance(r, 0.5) ? oneOf(r, "stories260K", "stories260k", "gpt-4o", " ", "stories260K\u0000")
                    : JsonGen.string(r));
        }
        switch (r.nextInt(20)) {
            case 0 -> { } // no input
            case 1 -> b.setPrompt("");
            case 2 -> b.setPromptTokenIds(TokenIds.getDefaultInstance());
            case 3, 4, 5, 6, 7, 8 -> b.setPrompt(chance(r, 0.7)
                    ? oneOf(r, "Once upon a time", "The cat", "a", "\n", "Lily", "日本語 😀") : JsonGen.string(r));
            default -> {
                TokenIds.Builder ids = TokenIds.newBuilder();
                int n = chance(r, 0.03) ? 513 + r.nextInt(100) : 1 + r.nextInt(8);
                for (int i = 0; i < n; i++) {
                    ids.addIds(chance(r, 0.97) ? r.nextInt(VOCAB) : EDGE_INTS[r.nextInt(EDGE_INTS.length)]);
                }
                b.setPromptTokenIds(ids);
            }
        }
        if (chance(r, 0.85)) {
            b.setSampling(sampling(r, p));
        }
        if (chance(r, 0.35)) {
            b.setRequestId(switch (r.nextInt(8)) {
                case 0 -> "fuzz-" + Long.toHexString(r.nextLong());
                case 1 -> "a".repeat(128) + (r.nextBoolean() ? "" : "b");
                case 2 -> "id with space";
                case 3 -> "ünïcode-" + r.nextInt(1000);
                case 4 -> "ctl\u0000\n\u007f";
                case 5 -> "x".repeat(10_000);
                case 6 -> "._:-" + r.nextInt();
                default -> JsonGen.string(r);
            });
        }
        if (chance(r, p)) {
            b.setPriority(anInt(r, -1000, 1000));
        }
        return b.build();
    }

    static SamplingParams sampling(Random r, double p) {
        SamplingParams.Builder s = SamplingParams.newBuilder();
        if (chance(r, 0.7)) {
            s.setMaxTokens(anInt(r, 1, 4));
        }
        if (chance(r, p)) {
            s.setTemperature(aFloat(r, 0f, 0.7f, 1f, 1.5f));
        }
        if (chance(r, p)) {
            s.setTopP(aFloat(r, 1f, 0.9f, 0.5f, 0.01f));
        }
        if (chance(r, p)) {
            s.setTopK(anInt(r, 0, 50));
        }
        if (chance(r, p)) {
            s.setMinP(aFloat(r, 0f, 0.05f, 0.5f, 1f));
        }
        if (chance(r, p)) {
            s.setSeed(chance(r, 0.5) ? r.nextInt(100) : r.nextLong());
        }
        if (chance(r, p)) {
            s.setPresencePenalty(aFloat(r, 0f, 0.5f, -1f, 2f));
        }
        if (chance(r, p)) {
            s.setFrequencyPenalty(aFloat(r, 0f, 0.5f, -2f, 1.5f));
        }
        if (chance(r, p)) {
            s.setRepetitionPenalty(aFloat(r, 1f, 1.1f, 0.8f, 2f));
        }
        if (chance(r, p)) {
            s.setLogprobs(anInt(r, 0, 20));
        }
        if (chance(r, p)) {
            s.setIgnoreEos(r.nextBoolean());
        }
        if (chance(r, p)) {
            for (int i = chance(r, 0.05) ? 17 : r.nextInt(4); i > 0; i--) {
                s.addStop(chance(r, 0.8) ? oneOf(r, ".", "\n", " the", "Lily", "!", "", "x".repeat(257), "😀")
                        : JsonGen.string(r));
            }
        }
        if (chance(r, p)) {
            for (int i = chance(r, 0.05) ? 65 : r.nextInt(4); i > 0; i--) {
                s.addStopTokenIds(anInt(r, 0, VOCAB - 1));
            }
        }
        return s.build();
    }

    static Call call(Random r) {
        return new Call(request(r), chance(r, 0.4), auth(r));
    }

    static List<Call> shrink(Call c) {
        List<Call> out = new ArrayList<>();
        if (!c.auth.equals(AUTH[0])) {
            out.add(new Call(c.request, c.streaming, AUTH[0]));
        }
        GenerateRequest q = c.request;
        List<GenerateRequest> smaller = new ArrayList<>();
        if (!q.getModel().isEmpty()) {
            smaller.add(q.toBuilder().clearModel().build());
        }
        if (!q.getRequestId().isEmpty()) {
            smaller.add(q.toBuilder().clearRequestId().build());
        }
        if (q.hasPriority()) {
            smaller.add(q.toBuilder().clearPriority().build());
        }
        if (q.hasSampling()) {
            smaller.add(q.toBuilder().clearSampling().build());
            for (var field : q.getSampling().getAllFields().keySet()) {
                smaller.add(q.toBuilder().setSampling(q.getSampling().toBuilder().clearField(field)).build());
            }
        }
        smaller.forEach(s -> out.add(new Call(s, c.streaming, c.auth)));
        return out;
    }

    @Test
    void generatedRequestsEndWithStatusesThatBlameTheRequest() {
        Map<String, Integer> outcomes = Fuzz.run("grpc-generated", 0x5eed0011L, 400, GrpcFuzzTest::call,
                GrpcFuzzTest::check, GrpcFuzzTest::shrink, Call::toString);
        int total = outcomes.values().stream().mapToInt(Integer::intValue).sum();
        assertThat(outcomes.getOrDefault("OK", 0)).as("tries answered OK of %d: %s", total, outcomes)
                .isGreaterThan(total / 20);
    }

    static String check(Call c) {
        Status status = Status.OK;
        List<GenerateResponse> stream = new ArrayList<>();
        CompleteResponse complete = null;
        try {
            if (c.streaming) {
                Iterator<GenerateResponse> it = ClientCalls.blockingServerStreamingCall(with(c.auth),
                        InferenceGrpc.getGenerateMethod(), deadline(), c.request);
                it.forEachRemaining(stream::add);
            } else {
                complete = ClientCalls.blockingUnaryCall(with(c.auth), InferenceGrpc.getCompleteMethod(), deadline(),
                        c.request);
            }
        } catch (StatusRuntimeException e) {
            status = e.getStatus();
        }
        checkStatus(status, c.auth, c.request.getSerializedSize());
        if (status.isOk()) {
            String id = c.request.getRequestId();
            if (c.streaming) {
                checkStream(stream, id);
            } else {
                checkComplete(complete, id);
            }
        }
        checkAlive();
        return status.getCode().name();
    }

    static void checkStatus(Status status, Auth auth, int messageBytes) {
        assertThat(BLAMES_THE_REQUEST).as("status %s", status).contains(status.getCode());
        if (!auth.good) {
            assertThat(status.getCode()).as("status %s", status).isEqualTo(Status.Code.UNAUTHENTICATED);
        } else {
            assertThat(status.getCode()).as("status %s", status).isNotEqualTo(Status.Code.UNAUTHENTICATED);
        }
        if (auth.good && messageBytes > MAX_MESSAGE_BYTES) {
            assertThat(status.getCode()).as("status %s", status).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
        }
        if (!status.isOk()) {
            assertThat(status.getDescription()).as("status %s names the problem", status).isNotBlank();
        }
    }

    static void checkComplete(CompleteResponse r, String requestId) {
        assertThat(r.getFinishReason()).as(r.toString()).isIn(FinishReason.STOP, FinishReason.LENGTH,
                FinishReason.STOP_STRING);
        assertThat(r.getUsage().getPromptTokens()).as(r.toString()).isPositive();
        assertThat(r.getUsage().getCompletionTokens()).as(r.toString())
                .isBetween(0, MAX_TOKENS_LIMIT).isEqualTo(r.getTokenIdsCount());
        assertThat(r.getRequestId()).isNotEmpty();
        if (!requestId.isEmpty()) {
            assertThat(r.getRequestId()).isEqualTo(requestId);
        }
        for (int id : r.getTokenIdsList()) {
            assertThat(id).isBetween(0, VOCAB - 1);
        }
    }

    static void checkStream(List<GenerateResponse> messages, String requestId) {
        assertThat(messages).isNotEmpty();
        GenerateResponse last = messages.get(messages.size() - 1);
        assertThat(last.getFinishReason()).as(messages.toString()).isIn(FinishReason.STOP, FinishReason.LENGTH,
                FinishReason.STOP_STRING);
        int tokens = 0;
        for (GenerateResponse m : messages) {
            if (m != last) {
                assertThat(m.getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_UNSPECIFIED);
            }
            assertThat(m.getRequestId()).isNotEmpty();
            if (!requestId.isEmpty()) {
                assertThat(m.getRequestId()).isEqualTo(requestId);
            }
            tokens += m.getTokenIdsCount();
        }
        assertThat(last.getUsage().getPromptTokens()).isPositive();
        assertThat(last.getUsage().getCompletionTokens()).as(messages.toString())
                .isBetween(0, MAX_TOKENS_LIMIT).isEqualTo(tokens);
    }

    /** The server still generates for an ordinary request. */
    static void checkAlive() {
        CompleteResponse r = ClientCalls.blockingUnaryCall(with(AUTH[0]), InferenceGrpc.getCompleteMethod(), deadline(),
                GenerateRequest.newBuilder().setPromptTokenIds(TokenIds.newBuilder().addIds(1))
                        .setSampling(SamplingParams.newBuilder().setMaxTokens(1).setTemperature(0)).build());
        assertThat(r.getFinishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(r.getTokenIdsCount()).isEqualTo(1);
    }

    // -- raw bytes ------------------------------------------------------------------------------

    /** A method of the service, called with any bytes as its message. */
    record Method(String name, boolean streaming, Parser<? extends MessageLite> responses) {
    }

    static final Method[] METHODS = {
            new Method("Generate", true, GenerateResponse.parser()), new Method("Complete", false, CompleteResponse.parser()),
            new Method("Tokenize", false, TokenizeResponse.parser()), new Method("Detokenize", false, DetokenizeResponse.parser()),
            new Method("ListModels", false, ListModelsResponse.parser()), new Method("Abort", false, AbortResponse.parser())};

    record RawCall(Method method, byte[] message, Auth auth, String how) {
        @Override
        public String toString() {
            return method.name + " authorization=" + auth.value + " how=" + how + " message=" + Fuzz.quote(message);
        }
    }

    static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    };

    static RawCall rawCall(Random r) {
        // Generate and Complete take generated requests; the others get bytes meant for them or for Generate.
        Method method = chance(r, 0.7) ? METHODS[r.nextInt(2)] : METHODS[r.nextInt(METHODS.length)];
        Auth auth = AUTH[0]; // the key is fuzzed with generated requests; here a message may not even parse
        byte[] base = switch (method.name) {
            case "Tokenize" -> TokenizeRequest.newBuilder().setText(JsonGen.string(r))
                    .setAddSpecialTokens(r.nextBoolean()).build().toByteArray();
            case "Detokenize" -> {
                DetokenizeRequest.Builder d = DetokenizeRequest.newBuilder().setSkipSpecialTokens(r.nextBoolean());
                for (int i = r.nextInt(6); i > 0; i--) {
                    d.addTokenIds(anInt(r, 0, VOCAB - 1));
                }
                yield d.build().toByteArray();
            }
            default -> request(r).toByteArray();
        };
        List<String> how = new ArrayList<>();
        byte[] message = base;
        for (int n = 1 + r.nextInt(2); n > 0; n--) {
            int kind = r.nextInt(9);
            int at = message.length == 0 ? 0 : r.nextInt(message.length + 1);
            message = switch (kind) {
                case 0 -> OpenAiHttpFuzzTest.slice(message, 0, at);
                case 1 -> {
                    byte[] b = message.clone();
                    for (int i = 1 + r.nextInt(4); i > 0 && b.length > 0; i--) {
                        b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
                    }
                    yield b;
                }
                case 2 -> {
                    byte[] b = message.clone();
                    if (b.length > 0) {
                        b[r.nextInt(b.length)] = (byte) r.nextInt(256);
                    }
                    yield b;
                }
                case 3 -> {
                    byte[] b = new byte[r.nextInt(64)];
                    r.nextBytes(b);
                    yield b;
                }
                case 4 -> OpenAiHttpFuzzTest.concat(message, field(r)); // an extra field, possibly broken
                case 5 -> OpenAiHttpFuzzTest.insert(message, at, field(r));
                case 6 -> OpenAiHttpFuzzTest.concat(message, message); // fields repeated (proto merges them)
                case 7 -> new byte[0];
                default -> field(r);
            };
            how.add(switch (kind) {
                case 0 -> "truncate@" + at;
                case 1 -> "bitflips";
                case 2 -> "byte";
                case 3 -> "random";
                case 4 -> "append-field";
                case 5 -> "insert-field@" + at;
                case 6 -> "doubled";
                case 7 -> "empty";
                default -> "one-field";
            });
        }
        return new RawCall(method, message, auth, String.join(",", how));
    }

    /** One hand-made field: of any number and wire type, with payloads a parser must refuse or bound. */
    static byte[] field(Random r) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int number = oneOf(r, 1, 2, 3, 4, 5, 6, 7, 99, 536870911);
        int wireType = r.nextInt(8); // 6 and 7 do not exist
        varint(out, ((long) number << 3) | wireType);
        switch (wireType) {
            case 0 -> varint(out, chance(r, 0.5) ? r.nextLong() : oneOf(r, 0L, -1L, 1L << 63));
            case 1 -> out.writeBytes(new byte[8]);
            case 2 -> {
                byte[] payload = switch (r.nextInt(6)) {
                    case 0 -> new byte[]{(byte) 0xc3, 0x28, (byte) 0xff}; // invalid UTF-8 in a string field
                    case 1 -> new byte[]{(byte) 0xed, (byte) 0xa0, (byte) 0x80}; // an encoded surrogate
                    case 2 -> "Once upon a time".getBytes(StandardCharsets.UTF_8);
                    case 3 -> new byte[]{0x08, (byte) 0x96, 0x01, 0x10, (byte) 0xff}; // a broken nested message
                    case 4 -> new byte[]{(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f}; // packed ids, -1
                    default -> {
                        byte[] b = new byte[r.nextInt(16)];
                        r.nextBytes(b);
                        yield b;
                    }
                };
                // Sometimes a length that lies: longer than what follows, negative, or huge.
                long length = chance(r, 0.8) ? payload.length : oneOf(r, payload.length + 5L, -1L, 0x7fffffffL, 1L << 40);
                varint(out, length);
                out.writeBytes(payload);
            }
            case 3 -> { // a start group, nested deep or never ended
                for (int i = chance(r, 0.5) ? 1 : 200; i > 0; i--) {
                    varint(out, ((long) number << 3) | 3);
                }
            }
            case 5 -> out.writeBytes(new byte[4]);
            default -> { }
        }
        return out.toByteArray();
    }

    static void varint(ByteArrayOutputStream out, long v) {
        while ((v & ~0x7fL) != 0) {
            out.write((int) ((v & 0x7f) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    static List<RawCall> shrinkRaw(RawCall c) {
        List<RawCall> out = new ArrayList<>();
        byte[] m = c.message;
        for (int size = m.length / 2; size >= 1 && out.size() < 48; size /= 2) {
            for (int at = 0; at + size <= m.length && out.size() < 48; at += size) {
                out.add(new RawCall(c.method, OpenAiHttpFuzzTest.concat(OpenAiHttpFuzzTest.slice(m, 0, at),
                        OpenAiHttpFuzzTest.slice(m, at + size, m.length)), c.auth, c.how));
            }
        }
        return out;
    }

    @Test
    void rawBytesEndWithStatusesThatBlameTheRequest() {
        Fuzz.run("grpc-raw-bytes", 0x5eed0012L, 500, GrpcFuzzTest::rawCall, GrpcFuzzTest::checkRaw,
                GrpcFuzzTest::shrinkRaw, RawCall::toString);
    }

    static String checkRaw(RawCall c) throws InvalidProtocolBufferException {
        MethodDescriptor<byte[], byte[]> method = MethodDescriptor.<byte[], byte[]>newBuilder()
                .setType(c.method.streaming ? MethodDescriptor.MethodType.SERVER_STREAMING : MethodDescriptor.MethodType.UNARY)
                .setFullMethodName(SERVICE + c.method.name)
                .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
        Status status = Status.OK;
        List<byte[]> responses = new ArrayList<>();
        try {
            if (c.method.streaming) {
                ClientCalls.blockingServerStreamingCall(with(c.auth), method, deadline(), c.message)
                        .forEachRemaining(responses::add);
            } else {
                responses.add(ClientCalls.blockingUnaryCall(with(c.auth), method, deadline(), c.message));
            }
        } catch (StatusRuntimeException e) {
            status = e.getStatus();
        }
        checkStatus(status, c.auth, c.message.length);
        if (status.isOk()) {
            assertThat(responses).isNotEmpty();
            for (byte[] response : responses) {
                c.method.responses.parseFrom(response);
            }
        }
        checkAlive();
        return status.getCode().name();
    }
}
