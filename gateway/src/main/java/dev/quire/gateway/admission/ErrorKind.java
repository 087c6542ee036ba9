package dev.quire.gateway.admission;

import io.vertx.grpc.common.GrpcStatus;

/** Every way the gateway refuses a request, with its status on each protocol. */
public enum ErrorKind {
    INVALID_ARGUMENT(400, GrpcStatus.INVALID_ARGUMENT, "invalid_request_error", null),
    UNAUTHENTICATED(401, GrpcStatus.UNAUTHENTICATED, "authentication_error", "invalid_api_key"),
    /** gRPC keeps INVALID_ARGUMENT for an unknown model: the model name is a request argument. */
    MODEL_NOT_FOUND(404, GrpcStatus.INVALID_ARGUMENT, "invalid_request_error", "model_not_found"),
    /** A request id in use by a running request (or by another request or caller). */
    ALREADY_EXISTS(409, GrpcStatus.ALREADY_EXISTS, "invalid_request_error", "request_id_in_use"),
    TOO_LARGE(413, GrpcStatus.RESOURCE_EXHAUSTED, "invalid_request_error", "request_too_large"),
    UNSUPPORTED_MEDIA_TYPE(415, GrpcStatus.INVALID_ARGUMENT, "invalid_request_error", "unsupported_media_type"),
    RATE_LIMITED(429, GrpcStatus.RESOURCE_EXHAUSTED, "rate_limit_error", "rate_limit_exceeded"),
    OVERLOADED(429, GrpcStatus.RESOURCE_EXHAUSTED, "server_overloaded", "server_overloaded"),
    DRAINING(503, GrpcStatus.UNAVAILABLE, "server_unavailable", "draining"),
    UNAVAILABLE(503, GrpcStatus.UNAVAILABLE, "server_unavailable", "unavailable"),
    INTERNAL(500, GrpcStatus.INTERNAL, "server_error", null);

    private final int httpStatus;
    private final GrpcStatus grpcStatus;
    private final String openAiType;
    private final String openAiCode;

    ErrorKind(int httpStatus, GrpcStatus grpcStatus, String openAiType, String openAiCode) {
        this.httpStatus = httpStatus;
        this.grpcStatus = grpcStatus;
        this.openAiType = openAiType;
        this.openAiCode = openAiCode;
    }

    public int httpStatus() {
        return httpStatus;
    }

    public GrpcStatus grpcStatus() {
        return grpcStatus;
    }

    /** The {@code error.type} of OpenAI's error body. */
    public String openAiType() {
        return openAiType;
    }

    /** The {@code error.code} of OpenAI's error body, or null. */
    public String openAiCode() {
        return openAiCode;
    }
}
