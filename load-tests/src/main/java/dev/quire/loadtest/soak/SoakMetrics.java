package dev.quire.loadtest.soak;

import java.io.IOException;

/** Reads a Quire server's gauges from its {@code GET /metrics}. */
public final class SoakMetrics {
    private final RawHttp http;

    public SoakMetrics(String host, int port, String authorization) {
        this.http = new RawHttp(host, port, authorization, 30_000);
    }

    public Gauges read() throws IOException {
        RawHttp.Response r = http.get("/metrics");
        if (r.status() != 200) {
            throw new IOException("GET /metrics answered " + r.status());
        }
        return Gauges.parse(r.body());
    }
}
