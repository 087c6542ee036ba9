package dev.quire.loadtest.driver;

import io.vertx.core.Context;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.VerticleBase;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * The load generator's threads: N Vert.x event loops, each with its own {@link Driver} (and so its own
 * connections). Requests are spread round-robin; a request's callbacks stay on its loop, so a few threads
 * carry thousands of streams.
 */
public final class ClientEventLoops implements AutoCloseable {
    /** One event loop and the driver that lives on it. */
    public record Shard(Context context, Driver driver) {
    }

    private final Vertx vertx;
    private final List<Shard> shards;

    private ClientEventLoops(Vertx vertx, List<Shard> shards) {
        this.vertx = vertx;
        this.shards = List.copyOf(shards);
    }

    /**
     * Starts {@code threads} event loops and creates one driver on each.
     *
     * @param drivers makes a driver; called once on each event loop
     */
    public static ClientEventLoops start(int threads, Function<Vertx, Driver> drivers) {
        int n = Math.max(1, threads);
        Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(n).setWorkerPoolSize(2)
                .setBlockedThreadCheckInterval(10).setBlockedThreadCheckIntervalUnit(TimeUnit.SECONDS));
        List<Shard> shards = Collections.synchronizedList(new ArrayList<>());
        try {
            // A verticle per loop is Vert.x's public way to get a context on each of N event loops.
            vertx.deployVerticle(() -> new VerticleBase() {
                @Override
                public Future<?> start() {
                    shards.add(new Shard(context, drivers.apply(vertx)));
                    return Future.succeededFuture();
                }
            }, new DeploymentOptions().setInstances(n)).await(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            vertx.close();
            throw new IllegalStateException("cannot start the client event loops: " + e.getMessage(), e);
        }
        return new ClientEventLoops(vertx, shards);
    }

    public Vertx vertx() {
        return vertx;
    }

    public List<Shard> shards() {
        return shards;
    }

    @Override
    public void close() {
        try {
            Future.all(shards.stream().map(s -> s.driver().close()).toList()).await(10, TimeUnit.SECONDS);
        } catch (Exception ignored) {
            // closing anyway
        }
        try {
            vertx.close().await(10, TimeUnit.SECONDS);
        } catch (Exception ignored) {
            // best effort at exit
        }
    }
}
