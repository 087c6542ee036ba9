package dev.quire.loadtest.driver;

import java.net.URI;
import java.net.URISyntaxException;

/**
 * Where to send requests.
 *
 * @param backend  the protocol
 * @param host     host name or address
 * @param port     port
 * @param ssl      whether to use TLS (https)
 * @param basePath path prefix before {@code /v1/...} for HTTP targets ("" for none)
 */
public record Target(Backend backend, String host, int port, boolean ssl, String basePath) {

    /**
     * Parses {@code grpc://host:port} (Quire gRPC) or {@code http[s]://host:port[/prefix]} (OpenAI-compatible;
     * {@code chat} picks {@code /v1/chat/completions} over {@code /v1/completions}). A trailing {@code /v1} in
     * an HTTP URL is accepted and dropped, since OpenAI clients often include it in their base URL.
     *
     * @throws IllegalArgumentException naming what is wrong
     */
    public static Target parse(String url, boolean chat) {
        URI uri;
        try {
            uri = new URI(url.trim());
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("not a URL: '" + url + "' (examples: grpc://localhost:50051, "
                    + "http://localhost:8000)");
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase();
        if (uri.getHost() == null) {
            throw new IllegalArgumentException("target '" + url + "' has no host (examples: grpc://localhost:50051, "
                    + "http://localhost:8000)");
        }
        return switch (scheme) {
            case "grpc" -> {
                if (chat) {
                    throw new IllegalArgumentException("--endpoint chat is for HTTP targets; Quire's gRPC API has one "
                            + "Generate call");
                }
                yield new Target(Backend.QUIRE_GRPC, uri.getHost(), uri.getPort() < 0 ? 50051 : uri.getPort(), false, "");
            }
            case "http", "https" -> {
                boolean ssl = scheme.equals("https");
                String path = uri.getRawPath() == null ? "" : uri.getRawPath();
                while (path.endsWith("/")) {
                    path = path.substring(0, path.length() - 1);
                }
                if (path.endsWith("/v1")) {
                    path = path.substring(0, path.length() - 3);
                }
                int port = uri.getPort() >= 0 ? uri.getPort() : ssl ? 443 : 80;
                yield new Target(chat ? Backend.OPENAI_CHAT : Backend.OPENAI_COMPLETIONS, uri.getHost(), port, ssl, path);
            }
            default -> throw new IllegalArgumentException("unsupported target scheme '" + scheme + "' in '" + url
                    + "': use grpc://host:port for Quire or http(s)://host:port for an OpenAI-compatible server");
        };
    }

    /** The request path of the generation endpoint (HTTP only). */
    public String generatePath() {
        return basePath + (backend == Backend.OPENAI_CHAT ? "/v1/chat/completions" : "/v1/completions");
    }

    /** The URL as a user would write it. */
    public String url() {
        return switch (backend) {
            case QUIRE_GRPC -> "grpc://" + host + ":" + port;
            case OPENAI_COMPLETIONS, OPENAI_CHAT -> (ssl ? "https://" : "http://") + host + ":" + port + generatePath();
        };
    }
}
