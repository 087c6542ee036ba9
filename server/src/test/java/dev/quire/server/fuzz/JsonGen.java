package dev.quire.server.fuzz;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.quire.server.fuzz.Fuzz.chance;
import static dev.quire.server.fuzz.Fuzz.oneOf;

/**
 * Random JSON written as text, so that it can hold what a JSON library would not write: numbers
 * like {@code 1e999} or {@code -0}, lone surrogate escapes, integers past 64 bits, deep nesting.
 */
final class JsonGen {
    private JsonGen() {
    }

    /** Number tokens at and past every edge a field may check. */
    private static final String[] EDGE_NUMBERS = {
            "0", "-0", "1", "-1", "2", "0.0", "-0.0", "1.0", "1.5", "-1.5", "0.5", "1e0", "1E2", "1e-7", "2e0",
            "127", "128", "255", "256", "511", "512", "513", "1000", "1001", "-1000", "-1001", "4096", "65535",
            "2147483647", "2147483648", "-2147483648", "-2147483649", "4294967296",
            "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
            "18446744073709551616", "123456789012345678901234567890123456789",
            "3.4028235e38", "3.4028236e38", "-3.4028236e38", "1e38", "1e39", "1.7976931348623157e308",
            "1e308", "1e309", "1e999", "-1e999", "1e-999", "4.9e-324", "1.4e-45", "1e-46", "0.1e1", "1e+2",
            "0.00000000000000000000000000000000000000000000000001", "99999999999999999999.5"};

    /** Strings a careless parser might read as something else. */
    private static final String[] TRICKY_STRINGS = {
            "", " ", "NaN", "nan", "Infinity", "-Infinity", "inf", "null", "true", "false", "0", "-1", "1e999",
            "4", "1.5", "0x10", "[]", "{}", "\"", "\\", "\\u0000", "{{ 7*7 }}", "{% for x in range(9) %}x{% endfor %}",
            "<s>", "</s>", "<unk>", "<|im_start|>", "data: [DONE]", "\r\n\r\n", "stories260K", "text", "user",
            "assistant", "system", "none", "auto", "${jndi:ldap://x}", "%s%n%d", "'; DROP TABLE x; --"};

    /** Code points from every corner of Unicode, surrogates and noncharacters included. */
    static int codePoint(Random r) {
        return switch (r.nextInt(12)) {
            case 0 -> r.nextInt(0x20); // C0 controls, NUL included
            case 1 -> 0x7f + r.nextInt(0x21); // DEL and C1 controls
            case 2 -> 0xd800 + r.nextInt(0x800); // a lone surrogate
            case 3 -> oneOf(r, 0xfeff, 0xfffe, 0xffff, 0xfffd, 0x200b, 0x200e, 0x202e, 0x2028, 0x2029, 0x0301, 0x00a0);
            case 4 -> 0x10000 + r.nextInt(0x100000); // supplementary planes (emoji, private use)
            case 5 -> 0x4e00 + r.nextInt(0x5000); // CJK
            case 6 -> 0x80 + r.nextInt(0x780); // Latin-1, Greek, Cyrillic, Hebrew, Arabic
            default -> 0x20 + r.nextInt(0x5f); // printable ASCII
        };
    }

    /** Random text: words, tricky strings, or any code points; usually short, sometimes long. */
    static String string(Random r) {
        int kind = r.nextInt(10);
        if (kind == 0) {
            return oneOf(r, TRICKY_STRINGS);
        }
        int length = switch (r.nextInt(80)) {
            case 0, 1, 2, 3 -> 200 + r.nextInt(2000);
            case 4 -> 10_000 + r.nextInt(60_000); // near and past the request size limit
            default -> r.nextInt(24);
        };
        StringBuilder s = new StringBuilder(length);
        boolean words = kind < 5;
        while (s.length() < length) {
            if (words) {
                s.append(oneOf(r, "Once", " upon", " a", " time", " there", " was", " Lily", ".", ",", " the",
                        " cat", "\n", " dog", " happy", "!"));
            } else {
                s.appendCodePoint(codePoint(r));
            }
        }
        return s.toString();
    }

    /** A JSON string literal; controls and every surrogate are escaped (a lone one cannot be UTF-8). */
    static String str(String s) {
        StringBuilder out = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20 || Character.isSurrogate(c)) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }

    static String num(Random r) {
        return switch (r.nextInt(4)) {
            case 0 -> Long.toString(r.nextLong());
            case 1 -> Double.toString(r.nextGaussian() * 10);
            default -> oneOf(r, EDGE_NUMBERS);
        };
    }

    /** Any JSON value, of every type, nested up to a few levels (or, rarely, very deep). */
    static String any(Random r, int depth) {
        int kind = r.nextInt(depth > 2 ? 6 : 9);
        return switch (kind) {
            case 0 -> "null";
            case 1 -> r.nextBoolean() ? "true" : "false";
            case 2, 3 -> num(r);
            case 4, 5 -> str(string(r));
            case 6 -> {
                if (chance(r, 0.05)) { // nesting past any sane depth
                    int n = oneOf(r, 100, 999, 1001, 5000);
                    yield "[".repeat(n) + "]".repeat(n);
                }
                List<String> items = new ArrayList<>();
                for (int i = r.nextInt(4); i > 0; i--) {
                    items.add(any(r, depth + 1));
                }
                yield array(items);
            }
            default -> {
                StringBuilder o = new StringBuilder("{");
                for (int i = r.nextInt(4); i > 0; i--) {
                    o.append(o.length() > 1 ? "," : "").append(str(string(r))).append(':').append(any(r, depth + 1));
                }
                yield o.append('}').toString();
            }
        };
    }

    static String array(List<String> items) {
        return "[" + String.join(",", items) + "]";
    }

    /** An object of raw values, in the map's order. */
    static String object(Map<String, String> fields) {
        StringBuilder o = new StringBuilder("{");
        for (Map.Entry<String, String> e : fields.entrySet()) {
            o.append(o.length() > 1 ? "," : "").append(str(e.getKey())).append(':').append(e.getValue());
        }
        return o.append('}').toString();
    }
}
