package dev.quire.gateway.api;

import dev.quire.gateway.GatewayServer;
import dev.quire.gateway.TestModels;
import dev.quire.gateway.admission.AdmissionController;
import dev.quire.gateway.admission.AdmissionLimits;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.observability.AccessLog;
import dev.quire.gateway.observability.GatewayMetrics;
import dev.quire.gateway.routing.ModelCatalog;
import dev.quire.gateway.routing.RequestDispatcher;
import dev.quire.proto.v1.InferenceGrpc;
import dev.quire.proto.v1.TokenizeRequest;
import dev.quire.proto.v1.TokenizeResponse;
import dev.quire.scheduler.batch.SchedulerStats;
import dev.quire.scheduler.engine.GenerationListener;
import dev.quire.scheduler.engine.GenerationRequest;
import dev.quire.scheduler.engine.InferenceEngine;
import dev.quire.scheduler.engine.ModelInfo;
import dev.quire.scheduler.engine.RequestHandle;
import dev.quire.scheduler.engine.TextCodec;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCalls;
import io.vertx.core.Vertx;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

/**
 * Request messages that are not what the method takes end the call with a status that says so:
 * bytes that do not decode are INVALID_ARGUMENT (Vert.x alone reset the stream, so the client read
 * CANCELLED), a message over the size limit is RESOURCE_EXHAUSTED naming the limit (Vert.x alone
 * gave no description), and so is a compressed one that inflates past it (Vert.x alone inflated it
 * without bound and served it).
 */
class GrpcInvalidMessagesTest {
    static final int MAX_BYTES = 1024;

    /** Serves the byte-level test model; nothing here reaches generation. */
    static final class NoEngine implements InferenceEngine {
        final ModelInfo model = TestModels.model("bytes", 512);

        @Override
        public ModelInfo model() {
            return model;
        }

        @Override
        public TextCodec text() {
            return TestModels.BYTES;
        }

        @Override
        public SchedulerStats stats() {
            return new SchedulerStats(0, 0, 0, 1, 0, 0, 0, 0, 0);
        }

        @Override
        public RequestHandle submit(GenerationRequest request, GenerationListener listener) {
            throw new AssertionError("no message of this test is valid enough to submit");
        }

        @Override
        public void close() {
        }
    }

    static Vertx vertx;
    static GatewayServer server;
    static ManagedChannel channel;

    @BeforeAll
    static void start() throws Exception {
        vertx = Vertx.vertx();
        GatewayMetrics metrics = new GatewayMetrics();
        RequestDispatcher dispatcher = new RequestDispatcher(vertx, new ModelCatalog().add(new NoEngine()),
                new AdmissionController(ApiKeys.none(), new AdmissionLimits(16, 16, Duration.ofSeconds(60), 0, 0, 0, 0,
                        MAX_BYTES)), metrics, new AccessLog(false));
        server = GatewayServer.start(vertx, dispatcher, metrics, "127.0.0.1", 0, 0);
        channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
    }

    @AfterAll
    static void stop() throws Exception {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        server.close();
        vertx.close().await(10, TimeUnit.SECONDS);
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

    /** Calls {@code method} with {@code message} as it is and returns the status it ends with. */
    static Status call(String method, boolean streaming, byte[] message) {
        MethodDescriptor<byte[], byte[]> descriptor = MethodDescriptor.<byte[], byte[]>newBuilder()
                .setType(streaming ? MethodDescriptor.MethodType.SERVER_STREAMING : MethodDescriptor.MethodType.UNARY)
                .setFullMethodName("quire.v1.Inference/" + method)
                .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();
        CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS);
        try {
            if (streaming) {
                ClientCalls.blockingServerStreamingCall(channel, descriptor, options, message).forEachRemaining(m -> { });
            } else {
                ClientCalls.blockingUnaryCall(channel, descriptor, options, message);
            }
            return Status.OK;
        } catch (StatusRuntimeException e) {
            return e.getStatus();
        }
    }

    @Test
    void bytesThatAreNotTheRequestMessageAreInvalidArgument() {
        byte[][] messages = {
                {0x3b}, // field 7 opens a group that never ends (what the fuzz test found)
                {0x12, 0x05, 'O', 'n'}, // field 2: a length past the end
                {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff}, // a broken tag
                {0x0a, 0x02, (byte) 0xc3, 0x28}, // field 1 (model, request_id), a string: not UTF-8
        };
        for (String method : new String[]{"Generate", "Complete", "Tokenize", "Detokenize", "Abort", "ListModels"}) {
            // ListModelsRequest has no fields: a string in field 1 is an unknown field, skipped.
            for (byte[] message : method.equals("ListModels") ? java.util.Arrays.copyOf(messages, 3) : messages) {
                Status status = call(method, method.equals("Generate"), message);
                assertThat(status.getCode()).as("%s: %s", method, status).isEqualTo(Status.Code.INVALID_ARGUMENT);
                assertThat(status.getDescription()).startsWith("the request message cannot be decoded: ");
            }
        }
    }

    @Test
    void aMessageOverTheSizeLimitIsResourceExhaustedAtOnce() {
        byte[] prompt = new byte[MAX_BYTES + 10];
        java.util.Arrays.fill(prompt, (byte) 'a');
        byte[] message = new byte[prompt.length + 3];
        message[0] = 0x12; // prompt, length as a two-byte varint
        message[1] = (byte) (0x80 | (prompt.length & 0x7f));
        message[2] = (byte) (prompt.length >> 7);
        System.arraycopy(prompt, 0, message, 3, prompt.length);
        for (String method : new String[]{"Generate", "Complete"}) {
            long start = System.nanoTime();
            Status status = call(method, method.equals("Generate"), message);
            assertThat(status.getCode()).as("%s: %s", method, status).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
            assertThat(status.getDescription()).isEqualTo("the request message is larger than this server's limit of "
                    + MAX_BYTES + " bytes");
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(5));
        }
    }

    @Test
    void compressedMessagesAreDecodedAndBoundedAfterInflating() {
        InferenceGrpc.InferenceBlockingStub gzip = InferenceGrpc.newBlockingStub(channel).withCompression("gzip")
                .withDeadlineAfter(10, TimeUnit.SECONDS);
        TokenizeResponse ok = gzip.tokenize(TokenizeRequest.newBuilder().setText("hi").build());
        assertThat(ok.getTokenIdsList()).containsExactly((int) 'h', (int) 'i');

        // Small on the wire, past the limit once inflated.
        StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
                () -> gzip.tokenize(TokenizeRequest.newBuilder().setText("a".repeat(100 * MAX_BYTES)).build()));
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    }
}
