package dev.quire.loadtest.workload;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Requests read from a file: the ShareGPT JSON layout or a simple JSONL of prompt + output length.
 *
 * <p>Text lengths are estimated at 4 characters per token (no tokenizer runs on the client). The estimate only
 * picks {@code max_tokens} for ShareGPT entries and filters out entries that cannot fit the context; the
 * results use the server's own token counts where it reports them. Because the estimate is deterministic, the
 * same file asks every server for the same {@code max_tokens}, so runs against different servers compare.
 *
 * @param entries the usable requests, in file order
 * @param source  where they came from (for messages)
 */
public record Dataset(List<RequestSpec> entries, String source) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public Dataset {
        entries = List.copyOf(entries);
    }

    /** The file layouts this class reads. */
    public enum Format {
        /**
         * A JSON array of {@code {"conversations": [{"from": "human", "value": ...}, {"from": "gpt", "value": ...},
         * ...]}}; the first turn is the prompt and the second turn's length sets the output length.
         */
        SHAREGPT,
        /**
         * One JSON object per line: {@code {"prompt": "text" | [token ids], "output_len": N}}; {@code output_len}
         * may be left out when {@code --output-len} is given.
         */
        JSONL
    }

    /** Estimated tokens in a text: 4 characters per token, at least 1. */
    public static int estimateTokens(String text) {
        return Math.max(1, (int) Math.round(text.length() / 4.0));
    }

    /**
     * Reads a dataset file.
     *
     * @param outputLenOverride when > 0, every entry asks for this many tokens instead of its own length
     * @throws IllegalArgumentException with a one-line message naming the file and the problem
     */
    public static Dataset load(Path file, Format format, int outputLenOverride) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("dataset file not found: " + file);
        }
        try {
            return format == Format.SHAREGPT ? loadShareGpt(file, outputLenOverride) : loadJsonl(file, outputLenOverride);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("dataset file not found: " + file);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("dataset " + file + " is not valid JSON" + where(e.getLocation())
                    + ": " + e.getOriginalMessage().lines().findFirst().orElse(""));
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read dataset " + file + ": " + e.getMessage());
        }
    }

    /** Guesses the format from the file name: {@code .jsonl} is JSONL, anything else ShareGPT. */
    public static Format guessFormat(Path file) {
        return file.getFileName().toString().toLowerCase().endsWith(".jsonl") ? Format.JSONL : Format.SHAREGPT;
    }

    /** Keeps the entries whose prompt plus output fit in {@code maxContext} tokens (0: keep all). */
    public Dataset fitting(int maxContext) {
        if (maxContext <= 0) {
            return this;
        }
        List<RequestSpec> kept = entries.stream().filter(e -> e.promptLen() + e.outputLen() <= maxContext).toList();
        if (kept.isEmpty()) {
            throw new IllegalArgumentException("no entry of dataset " + source + " fits the model's context of "
                    + maxContext + " tokens (prompt + output)");
        }
        return new Dataset(kept, source);
    }

    private static String where(JsonLocation at) {
        return at == null || at.getLineNr() < 0 ? "" : " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")";
    }

    private static Dataset loadShareGpt(Path file, int outputLenOverride) throws IOException {
        List<RequestSpec> out = new ArrayList<>();
        // Streamed element by element: the public ShareGPT file is hundreds of megabytes.
        try (JsonParser p = JSON.getFactory().createParser(file.toFile())) {
            if (p.nextToken() != JsonToken.START_ARRAY) {
                throw new IllegalArgumentException("dataset " + file + " is not in the ShareGPT layout: expected a JSON "
                        + "array of {\"conversations\": [...]} objects");
            }
            while (p.nextToken() == JsonToken.START_OBJECT) {
                JsonNode item = p.readValueAsTree();
                JsonNode turns = item.path("conversations");
                if (turns.isMissingNode()) {
                    turns = item.path("conversation");
                }
                if (!turns.isArray() || turns.size() < 2) {
                    continue; // vLLM's rule too: a usable entry has a prompt and a reply
                }
                String prompt = turns.get(0).path("value").asText("");
                String reply = turns.get(1).path("value").asText("");
                if (prompt.isEmpty()) {
                    continue;
                }
                int outputLen = outputLenOverride > 0 ? outputLenOverride : estimateTokens(reply);
                out.add(new RequestSpec(Prompt.ofText(prompt), estimateTokens(prompt), outputLen));
            }
            if (p.currentToken() != JsonToken.END_ARRAY) {
                throw new IllegalArgumentException("dataset " + file + " is not in the ShareGPT layout" + where(
                        p.currentLocation()) + ": expected an object per conversation, found " + p.currentToken());
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("dataset " + file + " has no usable conversations (each needs a "
                    + "prompt and a reply in \"conversations\")");
        }
        return new Dataset(out, file.toString());
    }

    private static Dataset loadJsonl(Path file, int outputLenOverride) throws IOException {
        List<RequestSpec> out = new ArrayList<>();
        try (BufferedReader reader = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            int lineNo = 0;
            while ((line = reader.readLine()) != null) {
                lineNo++;
                if (line.isBlank()) {
                    continue;
                }
                String at = "dataset " + file + " line " + lineNo;
                JsonNode node;
                try {
                    node = JSON.readTree(line);
                } catch (JsonProcessingException e) {
                    throw new IllegalArgumentException(at + " is not valid JSON: "
                            + e.getOriginalMessage().lines().findFirst().orElse(""));
                }
                if (!node.isObject()) {
                    throw new IllegalArgumentException(at + ": expected a JSON object {\"prompt\": ..., \"output_len\": N}");
                }
                out.add(jsonlEntry(node, at, outputLenOverride));
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("dataset " + file + " is empty");
        }
        return new Dataset(out, file.toString());
    }

    private static RequestSpec jsonlEntry(JsonNode node, String at, int outputLenOverride) {
        JsonNode promptNode = node.get("prompt");
        Prompt prompt;
        int promptLen;
        if (promptNode != null && promptNode.isTextual() && !promptNode.asText().isEmpty()) {
            prompt = Prompt.ofText(promptNode.asText());
            promptLen = estimateTokens(promptNode.asText());
        } else if (promptNode != null && promptNode.isArray() && promptNode.size() > 0) {
            int[] ids = new int[promptNode.size()];
            for (int i = 0; i < ids.length; i++) {
                JsonNode id = promptNode.get(i);
                if (!id.canConvertToInt() || !id.isIntegralNumber() || id.asInt() < 0) {
                    throw new IllegalArgumentException(at + ": \"prompt\" token ids must be non-negative integers");
                }
                ids[i] = id.asInt();
            }
            prompt = Prompt.ofTokens(ids);
            promptLen = ids.length;
        } else {
            throw new IllegalArgumentException(at + ": needs \"prompt\": a non-empty string or a list of token ids");
        }
        if (node.has("prompt_len") && node.get("prompt_len").canConvertToInt() && node.get("prompt_len").asInt() > 0) {
            promptLen = node.get("prompt_len").asInt();
        }
        int outputLen = outputLenOverride;
        if (outputLen <= 0) {
            JsonNode len = node.get("output_len");
            if (len == null || !len.isIntegralNumber() || !len.canConvertToInt() || len.asInt() < 1) {
                throw new IllegalArgumentException(at + ": needs \"output_len\": a positive integer (or pass --output-len)");
            }
            outputLen = len.asInt();
        }
        return new RequestSpec(prompt, promptLen, outputLen);
    }
}
