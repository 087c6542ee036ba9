package dev.quire.gateway.observability;

import com.google.protobuf.Descriptors;
import io.vertx.core.Vertx;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.health.v1.HealthCheckRequest;
import io.vertx.grpc.health.v1.HealthCheckResponse;
import io.vertx.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.vertx.grpc.health.v1.HealthListRequest;
import io.vertx.grpc.health.v1.HealthListResponse;
import io.vertx.grpc.health.v1.HealthProto;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.Service;

import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * The standard {@code grpc.health.v1.Health} service. Vert.x ships one, but it always reports the
 * overall server ("") as SERVING; load balancers probe exactly that, so a gateway that takes no
 * requests (draining, or no engine that can run them) must say NOT_SERVING there too.
 */
public final class GrpcHealth implements Service {
    private static final ServiceName NAME = ServiceName.create("grpc.health.v1.Health");
    private static final ServiceMethod<HealthCheckRequest, HealthCheckResponse> CHECK = ServiceMethod.server(NAME,
            "Check", GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(HealthCheckRequest.newBuilder()));
    private static final ServiceMethod<HealthCheckRequest, HealthCheckResponse> WATCH = ServiceMethod.server(NAME,
            "Watch", GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(HealthCheckRequest.newBuilder()));
    private static final ServiceMethod<HealthListRequest, HealthListResponse> LIST = ServiceMethod.server(NAME,
            "List", GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(HealthListRequest.newBuilder()));

    private final Vertx vertx;
    private final List<String> services;
    private final BooleanSupplier serving;

    /**
     * @param services the service names this server answers for (besides "")
     * @param serving  whether the server takes requests now
     */
    public GrpcHealth(Vertx vertx, List<String> services, BooleanSupplier serving) {
        this.vertx = vertx;
        this.services = List.copyOf(services);
        this.serving = serving;
    }

    @Override
    public ServiceName name() {
        return NAME;
    }

    @Override
    public Descriptors.ServiceDescriptor descriptor() {
        return HealthProto.getDescriptor().findServiceByName("Health");
    }

    @Override
    public void bind(GrpcServer server) {
        server.callHandler(CHECK, call -> call.handler(req -> {
            if (!known(req.getService())) {
                call.response().status(GrpcStatus.NOT_FOUND).statusMessage("unknown service " + req.getService()).end();
                return;
            }
            call.response().end(response(status()));
        }));
        server.callHandler(LIST, call -> call.handler(req -> {
            HealthListResponse.Builder out = HealthListResponse.newBuilder();
            out.putStatuses("", response(status()));
            services.forEach(s -> out.putStatuses(s, response(status())));
            call.response().end(out.build());
        }));
        // Watch: the current status at once, then every change, until the client hangs up.
        server.callHandler(WATCH, call -> call.handler(req -> {
            ServingStatus[] last = {known(req.getService()) ? status() : ServingStatus.SERVICE_UNKNOWN};
            call.response().write(response(last[0]));
            long timer = vertx.setPeriodic(500, t -> {
                ServingStatus now = known(req.getService()) ? status() : ServingStatus.SERVICE_UNKNOWN;
                if (now != last[0]) {
                    last[0] = now;
                    call.response().write(response(now));
                }
            });
            call.errorHandler(e -> vertx.cancelTimer(timer));
            call.exceptionHandler(e -> vertx.cancelTimer(timer));
        }));
    }

    private boolean known(String service) {
        return service.isEmpty() || services.contains(service);
    }

    private ServingStatus status() {
        return serving.getAsBoolean() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    }

    private static HealthCheckResponse response(ServingStatus status) {
        return HealthCheckResponse.newBuilder().setStatus(status).build();
    }
}
