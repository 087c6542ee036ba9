package dev.quire.gateway.console;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

/**
 * The console's files, read once from the jar ({@code console/} on the class path) into memory,
 * each with its content type, a strong ETag and a gzip-compressed copy. They are a few tens of
 * kilobytes, so nothing is read from disk after start-up and nothing is unpacked anywhere.
 *
 * <p>The asset files are served under {@code /console/VERSION/}, where VERSION is a hash of all of
 * them, so browsers may cache them for good; {@code index.html} (served at {@code /}) names that
 * path in place of its {@value #ASSETS_PLACEHOLDER} placeholder and is revalidated on every load.
 */
public final class ConsoleAssets {
    /** Every file of the console; a test checks the list against the resource folder. */
    public static final List<String> FILES = List.of("index.html", "style.css", "icon.svg", "app.js", "api.js",
            "dom.js", "store.js", "playground.js", "tokens.js", "code.js", "cluster.js", "chart.js");
    static final String ASSETS_PLACEHOLDER = "{{assets}}";
    private static final String ROOT = "console/";

    /** One file as served. */
    public record Asset(String name, String contentType, byte[] bytes, byte[] gzipped, String etag) {
    }

    private final Map<String, Asset> assets;
    private final Asset index;
    private final String version;

    private ConsoleAssets(Map<String, Asset> assets, Asset index, String version) {
        this.assets = assets;
        this.index = index;
        this.version = version;
    }

    /** Reads every file of {@link #FILES}; a missing one is a start-up error. */
    public static ConsoleAssets load() {
        Map<String, byte[]> raw = new LinkedHashMap<>();
        for (String name : FILES) {
            raw.put(name, read(name));
        }
        MessageDigest all = sha256();
        raw.forEach((name, bytes) -> {
            all.update(name.getBytes(StandardCharsets.UTF_8));
            all.update((byte) 0);
            all.update(bytes);
        });
        String version = HexFormat.of().formatHex(all.digest()).substring(0, 12);
        Map<String, Asset> assets = new LinkedHashMap<>();
        Asset index = null;
        for (Map.Entry<String, byte[]> e : raw.entrySet()) {
            byte[] bytes = e.getValue();
            if (e.getKey().equals("index.html")) {
                String html = new String(bytes, StandardCharsets.UTF_8);
                if (!html.contains(ASSETS_PLACEHOLDER)) {
                    throw new IllegalStateException("console/index.html lacks the " + ASSETS_PLACEHOLDER
                            + " placeholder");
                }
                bytes = html.replace(ASSETS_PLACEHOLDER, "/console/" + version).getBytes(StandardCharsets.UTF_8);
                index = asset(e.getKey(), bytes);
            } else {
                assets.put(e.getKey(), asset(e.getKey(), bytes));
            }
        }
        return new ConsoleAssets(Map.copyOf(assets), index, version);
    }

    /** The path segment naming this build of the assets. */
    public String version() {
        return version;
    }

    /** The page served at {@code /}. */
    public Asset index() {
        return index;
    }

    /** An asset file by name (not index.html), or null. */
    public Asset asset(String name) {
        return assets.get(name);
    }

    private static Asset asset(String name, byte[] bytes) {
        String tag = Base64.getUrlEncoder().withoutPadding().encodeToString(sha256().digest(bytes)).substring(0, 27);
        return new Asset(name, contentType(name), bytes, gzip(bytes), "\"" + tag + "\"");
    }

    static String contentType(String name) {
        String ext = name.substring(name.lastIndexOf('.') + 1);
        return switch (ext) {
            case "html" -> "text/html; charset=utf-8";
            case "css" -> "text/css; charset=utf-8";
            case "js" -> "text/javascript; charset=utf-8";
            case "svg" -> "image/svg+xml";
            case "json" -> "application/json";
            default -> throw new IllegalArgumentException("no content type known for console file " + name);
        };
    }

    private static byte[] read(String name) {
        try (InputStream in = ConsoleAssets.class.getClassLoader().getResourceAsStream(ROOT + name)) {
            if (in == null) {
                throw new IllegalStateException("console file " + ROOT + name + " is missing from the class path");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read console file " + name, e);
        }
    }

    private static byte[] gzip(byte[] bytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(bytes.length / 3 + 64);
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
