package dev.quire.gateway.api;

import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import io.vertx.core.buffer.Buffer;
import io.vertx.grpc.common.GrpcMessage;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.server.StatusException;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.zip.GZIPInputStream;

/**
 * Decodes request messages within the server's size bound. Vert.x checks --max-request-bytes
 * against a message's length on the wire only, and inflates a gzip-compressed one without limit
 * (a few KiB of gzip can hold gigabytes); here the inflated size is held to the same bound.
 */
final class GrpcMessages {
    private GrpcMessages() {
    }

    /**
     * The request in {@code message}.
     *
     * @throws GatewayException TOO_LARGE when it inflates past {@code maxBytes}, INVALID_ARGUMENT when
     *                          it cannot be read
     * @throws StatusException  UNIMPLEMENTED for a compression other than gzip
     */
    static <T> T decode(GrpcMessage message, GrpcMessageDecoder<T> decoder, int maxBytes) {
        String encoding = message.encoding();
        GrpcMessage plain;
        if (encoding == null || encoding.equals("identity")) {
            plain = message;
        } else if (encoding.equalsIgnoreCase("gzip")) {
            plain = GrpcMessage.message("identity", message.format(), gunzip(message.payload(), maxBytes));
        } else {
            throw new StatusException(GrpcStatus.UNIMPLEMENTED, "message compression '" + encoding
                    + "' is not supported; use gzip or none");
        }
        try {
            return decoder.decode(plain);
        } catch (RuntimeException e) { // CodecException, or whatever else these bytes make a decoder throw
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new GatewayException(ErrorKind.INVALID_ARGUMENT, null, "the request message cannot be decoded: "
                    + cause.getMessage());
        }
    }

    /** Inflates {@code gzip}, refusing once the output passes {@code maxBytes}. */
    static Buffer gunzip(Buffer gzip, int maxBytes) {
        byte[] chunk = new byte[8192];
        ByteArrayOutputStream out = new ByteArrayOutputStream(Math.min(maxBytes, Math.max(64, gzip.length() * 4)));
        try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(gzip.getBytes()))) {
            int n;
            while ((n = in.read(chunk)) >= 0) {
                if (out.size() + (long) n > maxBytes) {
                    throw new GatewayException(ErrorKind.TOO_LARGE, null, "the request message inflates to more "
                            + "than this server's limit of " + maxBytes + " bytes");
                }
                out.write(chunk, 0, n);
            }
        } catch (IOException e) {
            throw new GatewayException(ErrorKind.INVALID_ARGUMENT, null, "the request message is not valid gzip");
        }
        return Buffer.buffer(out.toByteArray());
    }
}
