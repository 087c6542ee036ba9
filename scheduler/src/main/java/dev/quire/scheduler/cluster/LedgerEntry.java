package dev.quire.scheduler.cluster;

import dev.quire.scheduler.engine.FinishReason;
import dev.quire.scheduler.engine.GeneratedOutput;
import dev.quire.scheduler.engine.SamplingOptions;

/**
 * One request as the request ledger holds it: enough to continue it anywhere, and, once finished,
 * to hand its whole result to a client that asks again.
 *
 * @param requestId  the client's request id (or the one the gateway assigned)
 * @param client     the caller that started it (its API key's identity): only it may take it over
 * @param model      the model it runs on
 * @param prompt     the prompt's token ids
 * @param sampling   its sampling options, the seed fixed by the gateway at admission
 * @param priority   the priority it runs at
 * @param gateway    the member id of the gateway that owns it (streams it to its client)
 * @param worker     the worker id it runs on, or "" while not placed yet
 * @param output     what was delivered to the client so far (appended in batches while running)
 * @param finish     null while running; how it ended once finished
 * @param completionTokens the usage count reported at the finish (0 while running)
 */
public record LedgerEntry(String requestId, String client, String model, int[] prompt, SamplingOptions sampling,
                          int priority, String gateway, String worker, GeneratedOutput output, FinishReason finish,
                          int completionTokens) {

    public boolean finished() {
        return finish != null;
    }

    /** This entry owned by {@code newGateway}. */
    public LedgerEntry ownedBy(String newGateway) {
        return new LedgerEntry(requestId, client, model, prompt, sampling, priority, newGateway, worker, output, finish,
                completionTokens);
    }

    /** This entry with {@code more} output, now on {@code onWorker} (null: unchanged). */
    public LedgerEntry appended(String onWorker, GeneratedOutput more) {
        return new LedgerEntry(requestId, client, model, prompt, sampling, priority, gateway,
                onWorker == null ? worker : onWorker, output.plus(more), finish, completionTokens);
    }

    /** This entry finished, with its whole output. */
    public LedgerEntry finishedWith(GeneratedOutput all, FinishReason reason, int completion) {
        return new LedgerEntry(requestId, client, model, prompt, sampling, priority, gateway, worker, all, reason,
                completion);
    }

    /** Whether a request from {@code caller} with this prompt and sampling is this one asked again. */
    public boolean sameRequest(String caller, String modelName, int[] promptTokens, SamplingOptions options) {
        return client.equals(caller) && model.equals(modelName) && java.util.Arrays.equals(prompt, promptTokens)
                && sampling.sameRequestAs(options);
    }
}
