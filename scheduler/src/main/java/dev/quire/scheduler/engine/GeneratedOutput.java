package dev.quire.scheduler.engine;

import java.util.Arrays;

/**
 * What a generation has emitted so far, in order: its token ids, their text (the concatenation of
 * every text delta the listener received) and, when the request asked for them, one entry of
 * log-probabilities per token.
 *
 * @param logprobs null when the request asked for none
 */
public record GeneratedOutput(int[] tokenIds, String text, TokenLogprobs[] logprobs) {
    public static final GeneratedOutput EMPTY = new GeneratedOutput(new int[0], "", null);

    public GeneratedOutput {
        if (logprobs != null && logprobs.length != tokenIds.length) {
            throw new IllegalArgumentException("one log-probability entry per token: " + logprobs.length + " for "
                    + tokenIds.length + " tokens");
        }
    }

    public int size() {
        return tokenIds.length;
    }

    /** This output followed by {@code more}. */
    public GeneratedOutput plus(GeneratedOutput more) {
        if (more.size() == 0 && more.text.isEmpty()) {
            return this;
        }
        int[] ids = Arrays.copyOf(tokenIds, tokenIds.length + more.tokenIds.length);
        System.arraycopy(more.tokenIds, 0, ids, tokenIds.length, more.tokenIds.length);
        TokenLogprobs[] lp = null;
        if (logprobs != null || more.logprobs != null) {
            lp = new TokenLogprobs[ids.length];
            if (logprobs != null) {
                System.arraycopy(logprobs, 0, lp, 0, logprobs.length);
            }
            if (more.logprobs != null) {
                System.arraycopy(more.logprobs, 0, lp, tokenIds.length, more.logprobs.length);
            }
            if (logprobs == null && tokenIds.length > 0 || more.logprobs == null && more.tokenIds.length > 0) {
                lp = null; // a part without them: the whole has none
            }
        }
        return new GeneratedOutput(ids, text + more.text, lp);
    }

    /** Accumulates a listener's output; not thread-safe. */
    public static final class Builder {
        private int[] ids = new int[16];
        private int count;
        private final StringBuilder text = new StringBuilder();
        private TokenLogprobs[] logprobs;
        private boolean anyWithoutLogprobs;

        public void add(int[] tokenIds, String delta, TokenLogprobs[] lp) {
            if (count + tokenIds.length > ids.length) {
                ids = Arrays.copyOf(ids, Math.max(ids.length * 2, count + tokenIds.length));
            }
            if (lp != null && !anyWithoutLogprobs) {
                if (logprobs == null) {
                    logprobs = new TokenLogprobs[ids.length];
                } else if (logprobs.length < ids.length) {
                    logprobs = Arrays.copyOf(logprobs, ids.length);
                }
                System.arraycopy(lp, 0, logprobs, count, tokenIds.length);
            } else if (tokenIds.length > 0) {
                anyWithoutLogprobs = true;
                logprobs = null;
            }
            System.arraycopy(tokenIds, 0, ids, count, tokenIds.length);
            count += tokenIds.length;
            text.append(delta);
        }

        public int size() {
            return count;
        }

        public int textLength() {
            return text.length();
        }

        /** Everything from token {@code fromToken} and char {@code fromChar} on. */
        public GeneratedOutput since(int fromToken, int fromChar) {
            int from = Math.min(fromToken, count);
            return new GeneratedOutput(Arrays.copyOfRange(ids, from, count),
                    text.substring(Math.min(fromChar, text.length())),
                    logprobs == null ? null : Arrays.copyOfRange(logprobs, from, count));
        }

        public GeneratedOutput build() {
            return since(0, 0);
        }
    }
}
