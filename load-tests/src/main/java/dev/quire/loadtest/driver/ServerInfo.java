package dev.quire.loadtest.driver;

/**
 * What a target says about itself before the run.
 *
 * @param model      the model name to use (the first one the server lists, unless the user named one)
 * @param vocabSize  vocabulary size, 0 when the server does not say
 * @param maxContext most tokens per sequence, 0 when the server does not say
 */
public record ServerInfo(String model, int vocabSize, int maxContext) {
}
