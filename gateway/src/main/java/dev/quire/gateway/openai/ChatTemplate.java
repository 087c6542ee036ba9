package dev.quire.gateway.openai;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaProcessors;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.objects.date.StrftimeFormatter;
import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.scheduler.engine.ModelInfo;

import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns chat messages into a prompt the way Hugging Face does: the model's Jinja chat template,
 * rendered by Jinjava configured to behave like Python's Jinja2 as transformers sets it up
 * ({@code trim_blocks}, {@code lstrip_blocks}, {@code raise_exception}, {@code strftime_now}).
 *
 * <p>Models without a template get a plain one: {@code "<role>: <content>\n"} per message, then
 * {@code "assistant:"}; that prompt is tokenized with the model's special tokens (BOS) added, while
 * a real template's output is tokenized as it is, because the template writes BOS itself.
 */
final class ChatTemplate {
    /**
     * Most characters a rendered prompt may have: far more than any model's context holds, yet small
     * enough that no template (or string it builds) can take the server's memory.
     */
    static final long MAX_OUTPUT_CHARS = 4L << 20;
    /** Longest a rendering may run; real templates take milliseconds even on long conversations. */
    static final Duration RENDER_TIME_LIMIT = Duration.ofSeconds(2);
    /** Most elements of a list or map a template may build. */
    private static final int MAX_COLLECTION_SIZE = 1 << 20;
    /** When the rendering on this thread must stop, as {@link System#nanoTime()}; unset outside {@link #render}. */
    private static final ThreadLocal<long[]> DEADLINE = new ThreadLocal<>();

    /**
     * Jinja2 semantics where Jinjava's defaults differ; checked against Python's Jinja2 on real templates.
     * Nested interpretation is off: Jinjava would otherwise render any value holding {@code {{ }}} again
     * as a template, so that a message's text would run as code (Jinja2 never does that). Output and
     * string size, collection size and time are bounded; recursive macro calls stay disabled.
     */
    private static final Jinjava JINJA = new Jinjava(JinjavaConfig.newBuilder()
            .withTrimBlocks(true)
            .withLstripBlocks(true)
            .withNestedInterpretationEnabled(false)
            .withMaxOutputSize(MAX_OUTPUT_CHARS)
            .withMaxStringLength(MAX_OUTPUT_CHARS)
            .withMaxListSize(MAX_COLLECTION_SIZE)
            .withMaxMapSize(MAX_COLLECTION_SIZE)
            .withEnableRecursiveMacroCalls(false)
            .withProcessors(JinjavaProcessors.newBuilder().withNodePreProcessor((node, interpreter) -> checkDeadline())
                    .build())
            .withLegacyOverrides(LegacyOverrides.newBuilder()
                    .withDefaultKeepTrailingNewlineBehavior(true)
                    .withUseTrimmingForNotesAndExpressions(true)
                    .withParseWhitespaceControlStrictly(true)
                    .withUseNaturalOperatorPrecedence(true)
                    .withEvaluateMapKeys(true)
                    .withIterateOverMapKeys(true)
                    .withUsePyishObjectMapper(true)
                    .withKeepNullableLoopValues(true)
                    .build())
            .build());

    static {
        JINJA.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                ChatTemplate.class, "raiseException", String.class));
        JINJA.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now",
                ChatTemplate.class, "strftimeNow", String.class));
    }

    private final String source;
    private final String bosToken;
    private final String eosToken;
    private final Duration timeLimit;

    /** @param source the Jinja template, or null for the plain fallback */
    ChatTemplate(String source, String bosToken, String eosToken) {
        this(source, bosToken, eosToken, RENDER_TIME_LIMIT);
    }

    /** @param timeLimit how long one rendering may take (tests of other limits lift it on busy machines) */
    ChatTemplate(String source, String bosToken, String eosToken, Duration timeLimit) {
        this.source = source;
        this.bosToken = bosToken == null ? "" : bosToken;
        this.eosToken = eosToken == null ? "" : eosToken;
        this.timeLimit = timeLimit;
    }

    /** The template a model's worker published (the plain fallback when it has none). */
    static ChatTemplate of(ModelInfo model) {
        return new ChatTemplate(model.chatTemplate(), model.bosToken(), model.eosToken());
    }

    /** Whether the model has its own template (its output then already holds BOS). */
    boolean isModelTemplate() {
        return source != null;
    }

    /**
     * Renders {@code messages} with the generation prompt for the assistant's turn appended.
     *
     * @throws GatewayException 400 naming {@code messages} when the template calls
     *                          {@code raise_exception} (roles not alternating, say) or the prompt
     *                          would pass {@link #MAX_OUTPUT_CHARS}; 500 when the template itself
     *                          cannot be rendered or runs past {@link #RENDER_TIME_LIMIT}
     */
    String render(List<ChatMessage> messages) {
        if (source == null) {
            StringBuilder out = new StringBuilder();
            for (ChatMessage m : messages) {
                out.append(m.role()).append(": ").append(m.content()).append('\n');
            }
            return out.append("assistant:").toString();
        }
        Map<String, Object> bindings = new HashMap<>();
        bindings.put("messages", messages.stream().map(ChatMessage::asTemplateValue).toList());
        bindings.put("add_generation_prompt", true);
        bindings.put("bos_token", bosToken);
        bindings.put("eos_token", eosToken);
        RenderResult result;
        DEADLINE.set(new long[]{System.nanoTime() + timeLimit.toNanos()});
        try {
            result = JINJA.renderForResult(source, bindings);
        } finally {
            DEADLINE.remove();
        }
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() != TemplateError.ErrorType.FATAL) {
                continue;
            }
            for (Throwable t = error.getException(); t != null; t = t.getCause()) {
                if (t instanceof Raised raised) {
                    throw new GatewayException(ErrorKind.INVALID_ARGUMENT, "messages", "messages: " + raised.getMessage());
                }
                if (t instanceof TimedOut) {
                    throw new GatewayException(ErrorKind.INTERNAL, null, "the model's chat template did not finish "
                            + "rendering within " + timeLimit.toMillis() + " ms");
                }
            }
            if (error.getReason() == TemplateError.ErrorReason.OUTPUT_TOO_BIG) {
                throw new GatewayException(ErrorKind.INVALID_ARGUMENT, "messages", "messages: the prompt rendered "
                        + "from them would be longer than this server's limit of " + MAX_OUTPUT_CHARS + " characters");
            }
            throw new GatewayException(ErrorKind.INTERNAL, null,
                    "the model's chat template cannot be rendered: " + error.getMessage());
        }
        return result.getOutput();
    }

    /** Called before every template node: a rendering past its time stops there. */
    private static void checkDeadline() {
        long[] deadline = DEADLINE.get();
        if (deadline != null && System.nanoTime() - deadline[0] > 0) {
            throw new TimedOut();
        }
    }

    /** {@code raise_exception(msg)} of Hugging Face templates: the request is at fault. */
    public static String raiseException(String message) {
        throw new Raised(message);
    }

    /** {@code strftime_now(format)} of Hugging Face templates (Llama 3.1+ print today's date). */
    public static String strftimeNow(String format) {
        return StrftimeFormatter.format(ZonedDateTime.now(), format);
    }

    private static final class Raised extends RuntimeException {
        Raised(String message) {
            super(message, null, false, false);
        }
    }

    private static final class TimedOut extends RuntimeException {
        TimedOut() {
            super("rendering time limit reached", null, false, false);
        }
    }
}
