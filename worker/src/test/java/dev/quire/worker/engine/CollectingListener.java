package dev.quire.worker.engine;

import dev.quire.scheduler.engine.TokenLogprobs;

import dev.quire.scheduler.engine.GenerationListener;

import dev.quire.scheduler.engine.FinishReason;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Gathers one request's output for assertions. */
final class CollectingListener implements GenerationListener {
    final List<Integer> tokens = new ArrayList<>();
    final StringBuilder text = new StringBuilder();
    final List<TokenLogprobs> logprobs = new ArrayList<>();
    final CompletableFuture<FinishReason> finished = new CompletableFuture<>();
    volatile int completionTokens;

    @Override
    public synchronized void onTokens(int[] tokenIds, String delta, TokenLogprobs[] lp) {
        for (int t : tokenIds) {
            tokens.add(t);
        }
        text.append(delta);
        if (lp != null) {
            logprobs.addAll(List.of(lp));
        }
    }

    @Override
    public void onFinish(FinishReason reason, int promptTokens, int completion) {
        completionTokens = completion;
        finished.complete(reason);
    }

    @Override
    public void onError(Throwable error) {
        finished.completeExceptionally(error);
    }

    FinishReason await() throws Exception {
        return finished.get(120, TimeUnit.SECONDS);
    }

    synchronized int[] tokenArray() {
        return tokens.stream().mapToInt(Integer::intValue).toArray();
    }
}
