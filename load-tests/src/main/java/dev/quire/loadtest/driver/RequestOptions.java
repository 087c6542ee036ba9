package dev.quire.loadtest.driver;

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
 */
public record RequestOptions(String model, double temperature, boolean ignoreEos, boolean stream, String apiKey,
                             Duration requestTimeout) {
    public RequestOptions withModel(String name) {
        return new RequestOptions(name, temperature, ignoreEos, stream, apiKey, requestTimeout);
    }

    /** The authorization header value, or null. */
    public String authorization() {
        return apiKey == null || apiKey.isEmpty() ? null : "Bearer " + apiKey;
    }
}
