package dev.quire.server;

import dev.quire.gateway.openai.Http;
import dev.quire.worker.engine.EngineConfig;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Collections;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The values /metrics reports after a few known requests on a fresh server: requests by outcome, token totals,
 * and how many latencies each histogram has seen (their durations depend on the machine, their counts do not).
 */
class MetricValuesTest {
    static final Path MODEL = Path.of("../models/stories260K");
    /** The greedy first token after BOS (golden-greedy-ids.txt). */
    static final int FIRST_GREEDY_TOKEN = 403;

    /** The sum of every sample of {@code name} whose labels contain {@code label} (all of them for ""). */
    static double value(String scrape, String name, String label) {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "(\\{[^}]*})? (\\S+)$").matcher(scrape);
        double sum = 0;
        boolean found = false;
        while (m.find()) {
            String labels = m.group(1) == null ? "" : m.group(1);
            if (labels.contains(label)) {
                sum += Double.parseDouble(m.group(2));
                found = true;
            }
        }
        assertThat(found).as("a sample of %s{%s} in\n%s", name, label, scrape).isTrue();
        return sum;
    }

    @Test
    void requestCountersTokenTotalsAndLatencyCountsMatchTheRequestsServed() throws Exception {
        try (AllInOneServer server = AllInOneServer.start(AllInOneServer.Options.local(MODEL,
                EngineConfig.defaults().withKvCacheBytes(32L << 20)))) {
            int port = server.httpPort();
            // 3 prompt tokens, 5 generated: ends on length.
            Http.Reply length = Http.post(port, "/v1/completions",
                    "{\"prompt\":[1,403,407],\"max_tokens\":5,\"temperature\":0,\"ignore_eos\":true}");
            assertThat(length.status()).as(length.body()).isEqualTo(200);
            assertThat(length.json().get("usage").get("completion_tokens").asInt()).isEqualTo(5);
            // 1 prompt token, 1 generated: its first token is a stop token.
            Http.Reply stop = Http.post(port, "/v1/completions", "{\"prompt\":[1],\"max_tokens\":10,\"temperature\":0,"
                    + "\"stop_token_ids\":[" + FIRST_GREEDY_TOKEN + "]}");
            assertThat(stop.status()).as(stop.body()).isEqualTo(200);
            assertThat(stop.json().get("choices").get(0).get("finish_reason").asText()).isEqualTo("stop");
            assertThat(stop.json().get("usage").get("completion_tokens").asInt()).isEqualTo(1);
            // Longer than the context: refused by the engine's check, never run.
            String tooLong = String.join(",", Collections.nCopies(600, "1"));
            Http.Reply refused = Http.post(port, "/v1/completions", "{\"prompt\":[" + tooLong + "],\"max_tokens\":1}");
            assertThat(refused.status()).as(refused.body()).isEqualTo(400);
            ServerAssertions.awaitIdle(server);

            Http.Reply metrics = Http.get(port, "/metrics");
            assertThat(metrics.status()).isEqualTo(200);
            String scrape = metrics.body();
            assertThat(value(scrape, "quire_request_success_total", "finished_reason=\"length\"")).isEqualTo(1);
            assertThat(value(scrape, "quire_request_success_total", "finished_reason=\"stop\"")).isEqualTo(1);
            assertThat(value(scrape, "quire_request_success_total", "finished_reason=\"aborted\"")).isZero();
            assertThat(value(scrape, "quire_request_success_total", "")).isEqualTo(2);
            assertThat(value(scrape, "quire_request_failure_total", "kind=\"invalid_argument\"")).isEqualTo(1);
            assertThat(value(scrape, "quire_prompt_tokens_total", "")).isEqualTo(4);
            assertThat(value(scrape, "quire_generation_tokens_total", "")).isEqualTo(6);
            assertThat(value(scrape, "quire_request_prompt_tokens_count", "")).isEqualTo(2);
            assertThat(value(scrape, "quire_request_prompt_tokens_sum", "")).isEqualTo(4);
            // One first token per request that ran; an inter-token gap for every later token (4 + 0).
            assertThat(value(scrape, "quire_time_to_first_token_seconds_count", "")).isEqualTo(2);
            assertThat(value(scrape, "quire_inter_token_latency_seconds_count", "")).isEqualTo(4);
            assertThat(value(scrape, "quire_e2e_request_latency_seconds_count", "")).isEqualTo(2);
            assertThat(value(scrape, "quire_request_queue_time_seconds_count", "")).isEqualTo(2);
            // Nothing is left in flight.
            assertThat(value(scrape, "quire_gateway_requests_in_flight", "")).isZero();
            assertThat(value(scrape, "quire_gateway_requests_queued", "")).isZero();
        }
    }
}
