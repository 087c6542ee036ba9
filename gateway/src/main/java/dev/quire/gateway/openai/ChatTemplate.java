package dev.quire.gateway.openai;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.objects.date.StrftimeFormatter;
import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.scheduler.engine.ModelInfo;

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
    /** Jinja2 semantics where Jinjava's defaults differ; checked against Python's Jinja2 on real templates. */
    private static final Jinjava JINJA = new Jinjava(JinjavaConfig.newBuilder()
            .withTrimBlocks(true)
            .withLstripBlocks(true)
            .withMaxOutputSize(64L << 20)
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

    /** @param source the Jinja template, or null for the plain fallback */
    ChatTemplate(String source, String bosToken, String eosToken) {
        this.source = source;
        this.bosToken = bosToken == null ? "" : bosToken;
        this.eosToken = eosToken == null ? "" : eosToken;
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
     *                          {@code raise_exception} (roles not alternating, say); 500 when the
     *                          template itself cannot be rendered
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
        RenderResult result = JINJA.renderForResult(source, bindings);
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() != TemplateError.ErrorType.FATAL) {
                continue;
            }
            for (Throwable t = error.getException(); t != null; t = t.getCause()) {
                if (t instanceof Raised raised) {
                    throw new GatewayException(ErrorKind.INVALID_ARGUMENT, "messages", "messages: " + raised.getMessage());
                }
            }
            throw new GatewayException(ErrorKind.INTERNAL, null,
                    "the model's chat template cannot be rendered: " + error.getMessage());
        }
        return result.getOutput();
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
}
