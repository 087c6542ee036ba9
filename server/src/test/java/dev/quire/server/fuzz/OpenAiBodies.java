package dev.quire.server.fuzz;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;

import static dev.quire.server.fuzz.Fuzz.chance;
import static dev.quire.server.fuzz.Fuzz.oneOf;
import static dev.quire.server.fuzz.JsonGen.any;
import static dev.quire.server.fuzz.JsonGen.array;
import static dev.quire.server.fuzz.JsonGen.num;
import static dev.quire.server.fuzz.JsonGen.str;
import static dev.quire.server.fuzz.JsonGen.string;

/**
 * Request bodies for {@code /v1/completions} and {@code /v1/chat/completions}: every field the
 * endpoint knows, each present or not, each usually a plausible value and sometimes anything at
 * all; plus fields nobody knows. Values are raw JSON text (see {@link JsonGen}).
 *
 * <p>Token budgets stay tiny so that a run is quick: a plausible {@code max_tokens} is 1 to 4, and
 * the server under test caps an unset one at its {@code --max-tokens-limit}.
 */
final class OpenAiBodies {
    private OpenAiBodies() {
    }

    /** Plausible values of one field; {@link #field} mixes in wild ones. */
    private static final Map<String, Function<Random, String>> SHARED = new LinkedHashMap<>();
    private static final Map<String, Function<Random, String>> COMPLETIONS = new LinkedHashMap<>();
    private static final Map<String, Function<Random, String>> CHAT = new LinkedHashMap<>();

    static {
        SHARED.put("model", r -> str(oneOf(r, "stories260K", "stories260K", "stories260K", "", "gpt-4o",
                "stories260k", "stories260K ", "../stories260K", string(r))));
        SHARED.put("max_tokens", r -> Integer.toString(1 + r.nextInt(4)));
        SHARED.put("temperature", r -> oneOf(r, "0", "0.0", "0.7", "1", "2", "1e-6", "1e-30", "-0.0", "100",
                Double.toString(r.nextDouble() * 2)));
        SHARED.put("top_p", r -> oneOf(r, "1", "0.9", "0.5", "1e-9", "0.999999", Double.toString(r.nextDouble())));
        SHARED.put("top_k", r -> oneOf(r, "-1", "0", "1", "5", "40", "511", "512", "100000", "2147483647"));
        SHARED.put("min_p", r -> oneOf(r, "0", "0.05", "0.5", "1", Double.toString(r.nextDouble())));
        SHARED.put("seed", r -> oneOf(r, "0", "42", "-1", "9223372036854775807", "-9223372036854775808",
                Long.toString(r.nextLong())));
        SHARED.put("stop", r -> r.nextBoolean() ? str(shortText(r)) : strings(r, r.nextInt(4)));
        SHARED.put("stop_token_ids", r -> {
            List<String> ids = new ArrayList<>();
            for (int i = r.nextInt(4); i > 0; i--) {
                ids.add(oneOf(r, "0", "1", "2", "13", "511", "512", Integer.toString(r.nextInt(512))));
            }
            return array(ids);
        });
        SHARED.put("presence_penalty", r -> oneOf(r, "0", "-2", "2", "1.5", "-0.5", Double.toString(r.nextDouble() * 4 - 2)));
        SHARED.put("frequency_penalty", r -> oneOf(r, "0", "-2", "2", "0.5", Double.toString(r.nextDouble() * 4 - 2)));
        SHARED.put("repetition_penalty", r -> oneOf(r, "1", "1.2", "0.5", "2", "1e-3", "100"));
        SHARED.put("ignore_eos", r -> bool(r));
        SHARED.put("stream", r -> oneOf(r, "true", "true", "false"));
        SHARED.put("stream_options", r -> oneOf(r, "{\"include_usage\":true}", "{\"include_usage\":false}", "{}",
                "{\"include_usage\":null}"));
        SHARED.put("n", r -> oneOf(r, "1", "1", "2"));
        SHARED.put("logit_bias", r -> oneOf(r, "{}", "{}", "{\"1\":5}", "{\"13\":-100}"));
        SHARED.put("priority", r -> oneOf(r, "0", "-1000", "1000", "5", "-7", Integer.toString(r.nextInt(2001) - 1000)));
        SHARED.put("user", r -> str(string(r)));
        SHARED.put("metadata", r -> oneOf(r, "{}", "{\"k\":\"v\"}", "null"));
        SHARED.put("store", r -> bool(r));
        SHARED.put("service_tier", r -> str(oneOf(r, "auto", "default", "flex")));

        COMPLETIONS.putAll(SHARED);
        COMPLETIONS.put("prompt", OpenAiBodies::prompt);
        COMPLETIONS.put("logprobs", r -> oneOf(r, "0", "1", "2", "5", "20"));
        COMPLETIONS.put("best_of", r -> oneOf(r, "1", "1", "2"));
        COMPLETIONS.put("echo", r -> oneOf(r, "false", "false", "true"));
        COMPLETIONS.put("suffix", r -> oneOf(r, "\"\"", "\"\"", "\"x\""));

        CHAT.putAll(SHARED);
        CHAT.put("messages", OpenAiBodies::messages);
        CHAT.put("max_completion_tokens", r -> Integer.toString(1 + r.nextInt(4)));
        CHAT.put("logprobs", r -> bool(r));
        CHAT.put("top_logprobs", r -> oneOf(r, "0", "1", "3", "20"));
        CHAT.put("tools", r -> oneOf(r, "[]", "[]", "[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]"));
        CHAT.put("functions", r -> oneOf(r, "[]", "[{\"name\":\"f\"}]"));
        CHAT.put("tool_choice", r -> oneOf(r, "\"none\"", "\"none\"", "\"auto\"", "{\"type\":\"none\"}"));
        CHAT.put("function_call", r -> oneOf(r, "\"none\"", "\"auto\""));
        CHAT.put("parallel_tool_calls", r -> bool(r));
        CHAT.put("response_format", r -> oneOf(r, "{\"type\":\"text\"}", "{\"type\":\"text\"}",
                "{\"type\":\"json_object\"}", "{}", "{\"type\":null}", "{\"type\":7}"));
    }

    /** A completions body's fields, in a random order. */
    static LinkedHashMap<String, String> completions(Random r) {
        return fields(r, COMPLETIONS, "prompt");
    }

    /** A chat body's fields, in a random order. */
    static LinkedHashMap<String, String> chat(Random r) {
        return fields(r, CHAT, "messages");
    }

    /**
     * A small body of plausible values only (most are valid): what the byte mutations start from,
     * so that some mutations leave a request that still runs.
     */
    static LinkedHashMap<String, String> clean(Random r, boolean chat) {
        Map<String, Function<Random, String>> known = chat ? CHAT : COMPLETIONS;
        LinkedHashMap<String, String> out = new LinkedHashMap<>();
        for (String name : List.of("model", chat ? "messages" : "prompt", "max_tokens", "stream", "temperature", "stop")) {
            if (name.equals(chat ? "messages" : "prompt") || name.equals("max_tokens") || chance(r, 0.3)) {
                out.put(name, known.get(name).apply(r));
            }
        }
        return out;
    }

    private static LinkedHashMap<String, String> fields(Random r, Map<String, Function<Random, String>> known,
                                                        String required) {
        // Per body, how eager it is to include fields and to make them wild: some bodies are clean.
        double include = oneOf(r, 0.1, 0.2, 0.35);
        double wild = oneOf(r, 0.0, 0.0, 0.05, 0.2);
        List<String> names = new ArrayList<>();
        for (String name : known.keySet()) {
            double p = name.equals(required) ? 0.97 : name.equals("max_tokens") ? 0.6
                    : name.equals("stream") ? Math.max(0.3, include) : include;
            if (chance(r, p)) {
                names.add(name);
            }
        }
        if (chance(r, 0.08)) {
            names.add(oneOf(r, "foo", "Model", "max-tokens", "prompt ", "", "__proto__", "constructor",
                    "best_of\u0000", "logprobs\u00a0", string(r)));
        }
        Collections.shuffle(names, r);
        LinkedHashMap<String, String> out = new LinkedHashMap<>();
        for (String name : names) {
            Function<Random, String> plausible = known.getOrDefault(name, x -> any(x, 0));
            out.put(name, field(r, plausible, wild));
        }
        return out;
    }

    private static String field(Random r, Function<Random, String> plausible, double wild) {
        if (!chance(r, wild)) {
            return plausible.apply(r);
        }
        return switch (r.nextInt(5)) {
            case 0 -> "null";
            case 1 -> num(r);
            case 2 -> str(oneOf(r, "NaN", "Infinity", "-Infinity", "1", "true", "null", "", string(r)));
            case 3 -> array(List.of(plausible.apply(r))); // the right value, wrapped
            default -> any(r, 0);
        };
    }

    /** Completions' prompt: a string, strings, token ids or lists of them, sometimes broken. */
    private static String prompt(Random r) {
        return switch (r.nextInt(12)) {
            case 0, 1, 2, 3 -> str(shortText(r));
            case 4 -> str(string(r));
            case 5 -> strings(r, 1 + r.nextInt(3));
            case 6, 7 -> tokenIds(r);
            case 8 -> {
                List<String> lists = new ArrayList<>();
                for (int i = 1 + r.nextInt(3); i > 0; i--) {
                    lists.add(tokenIds(r));
                }
                yield array(lists);
            }
            case 9 -> oneOf(r, "[]", "[[]]", "[\"\"]", "\"\"", "[1,\"a\"]", "[\"a\",1]", "[[1],\"a\"]", "[[1],[]]",
                    "[null]", "[[null]]", "[1.5]", "[[[1]]]", "[true]", "{}");
            case 10 -> strings(r, oneOf(r, 128, 129, 200));
            default -> array(List.of(str(shortText(r)), tokenIds(r)));
        };
    }

    /** Token ids, mostly in the bundled model's vocabulary (512), sometimes outside it. */
    private static String tokenIds(Random r) {
        List<String> ids = new ArrayList<>();
        for (int i = 1 + r.nextInt(8); i > 0; i--) {
            ids.add(chance(r, 0.97) ? Integer.toString(r.nextInt(512))
                    : oneOf(r, "-1", "512", "513", "100000", "2147483647", "-2147483648", "2147483648", "1.0", "1e2"));
        }
        if (chance(r, 0.02)) { // longer than the context
            for (int i = 0; i < 600; i++) {
                ids.add(Integer.toString(r.nextInt(512)));
            }
        }
        return array(ids);
    }

    private static String messages(Random r) {
        if (chance(r, 0.05)) {
            return oneOf(r, "[]", "[null]", "[1]", "[\"hi\"]", "[[]]", "{}", "\"hi\"");
        }
        List<String> list = new ArrayList<>();
        for (int i = 1 + r.nextInt(3); i > 0; i--) {
            list.add(message(r));
        }
        return array(list);
    }

    private static String message(Random r) {
        LinkedHashMap<String, String> m = new LinkedHashMap<>();
        if (chance(r, 0.97)) {
            m.put("role", chance(r, 0.95) ? str(oneOf(r, "user", "user", "system", "assistant", "developer"))
                    : chance(r, 0.8) ? str(oneOf(r, "tool", "function", "USER", "", "bot", string(r))) : any(r, 1));
        }
        if (chance(r, 0.95)) {
            m.put("content", switch (r.nextInt(12)) {
                case 0, 1, 2, 3, 4, 5, 6 -> str(shortText(r));
                case 7 -> str(string(r));
                case 8 -> {
                    List<String> parts = new ArrayList<>();
                    for (int i = r.nextInt(3); i >= 0; i--) {
                        parts.add("{\"type\":\"text\",\"text\":" + str(shortText(r)) + "}");
                    }
                    yield array(parts);
                }
                case 9 -> oneOf(r, "null", "[]", "\"\"", "[{\"type\":\"text\"}]", "[{\"text\":\"a\"}]",
                        "[{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://x/y.png\"}}]",
                        "[{\"type\":\"input_audio\",\"input_audio\":{}}]", "[{\"type\":\"text\",\"text\":\"a\",\"x\":1}]",
                        "[\"a\"]", "[null]", "{}");
                default -> any(r, 1);
            });
        }
        if (chance(r, 0.05)) {
            m.put("name", chance(r, 0.8) ? str(shortText(r)) : any(r, 1));
        }
        if (chance(r, 0.03)) {
            m.put("refusal", oneOf(r, "null", "\"no\"", "1"));
        }
        if (chance(r, 0.03)) {
            m.put("tool_calls", oneOf(r, "[]", "[{\"id\":\"x\"}]", "null"));
        }
        if (chance(r, 0.03)) {
            m.put(oneOf(r, "foo", "Role", "images"), any(r, 1));
        }
        return JsonGen.object(m);
    }

    /** Short text a story model can continue. */
    private static String shortText(Random r) {
        return chance(r, 0.8)
                ? oneOf(r, "Once upon a time", "The cat", "Lily was happy.", "a", " ", "\n", "Tom and Sue",
                "Once upon a time, there was a little girl named Lily", "Ünïcödé ☃ 日本語 😀", "tab\there")
                : string(r);
    }

    private static String strings(Random r, int n) {
        List<String> items = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            items.add(str(shortText(r)));
        }
        return array(items);
    }

    private static String bool(Random r) {
        return r.nextBoolean() ? "true" : "false";
    }
}
