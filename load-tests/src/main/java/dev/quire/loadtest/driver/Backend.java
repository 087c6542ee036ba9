package dev.quire.loadtest.driver;

/** The protocol a target speaks. */
public enum Backend {
    /** Quire's gRPC API ({@code quire.v1.Inference/Generate}, server streaming). */
    QUIRE_GRPC("quire-grpc"),
    /** OpenAI-compatible {@code POST /v1/completions}. */
    OPENAI_COMPLETIONS("openai-completions"),
    /** OpenAI-compatible {@code POST /v1/chat/completions}. */
    OPENAI_CHAT("openai-chat");

    private final String label;

    Backend(String label) {
        this.label = label;
    }

    /** The name used in reports. */
    public String label() {
        return label;
    }

    /** Whether this backend can take prompts as token ids. */
    public boolean acceptsTokenIds() {
        return this != OPENAI_CHAT;
    }
}
