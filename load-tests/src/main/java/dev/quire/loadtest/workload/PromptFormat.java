package dev.quire.loadtest.workload;

/** How synthetic prompts are sent. */
public enum PromptFormat {
    /** Random token ids (needs the vocabulary size; exact prompt lengths, no tokenizer involved). */
    IDS,
    /** Random English words (for servers that only take text; lengths are approximate). */
    TEXT
}
