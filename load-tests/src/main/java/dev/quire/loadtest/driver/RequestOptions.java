package dev.quire.loadtest.driver;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Duration;

/**
 * Options shared by every request of a run.
 *
 * @param model          model name to ask for ("" lets a Quire server pick its default)
 * @param temperature    sampling temperature (0 = greedy)
 * @param ignoreEos      keep generating past end-of-sequence tokens, so every request produces its full output
 * @param stream         stream tokens (needed for TTFT, ITL and TPOT); false waits for the whole answer
 * @param apiKey         sent as {@code authorization: Bearer <key>} (null: none)
 * @param requestTimeout a request still running after this long is cancelled and counted as failed (timeout)
 * @param extraBody      fields merged into every OpenAI request body ({@link ExtraBody}), or null; HTTP only
 */
public record RequestOptions(String model, double temperature, boolean ignoreEos, boolean stream, String apiKey,
                             Duration requestTimeout, ObjectNode extraBody) {

    /** Options without an extra body. */
    public RequestOptions(String model, double temperature, boolean ignoreEos, boolean stream, String apiKey,
                          Duration requestTimeout) {
        this(model, temperature, ignoreEos, stream, apiKey, requestTimeout, null);
    }

    public RequestOptions withModel(String name) {
        return new RequestOptions(name, temperature, ignoreEos, stream, apiKey, requestTimeout, extraBody);
    }

    /** The authorization header value, or null. */
    public String authorization() {
        return apiKey == null || apiKey.isEmpty() ? null : "Bearer " + apiKey;
    }
}
