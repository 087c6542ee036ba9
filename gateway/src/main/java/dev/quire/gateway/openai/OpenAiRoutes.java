package dev.quire.gateway.openai;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.quire.gateway.admission.ApiKeys;
import dev.quire.gateway.admission.ErrorKind;
import dev.quire.gateway.admission.GatewayException;
import dev.quire.gateway.routing.PromptInput;
import dev.quire.gateway.routing.RequestDispatcher;
import dev.quire.gateway.routing.RequestIds;
import dev.quire.scheduler.engine.InferenceEngine;
import dev.quire.scheduler.engine.RequestHandle;
import dev.quire.scheduler.engine.ModelInfo;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;

/**
 * The OpenAI-compatible HTTP API: {@code POST /v1/completions}, {@code POST /v1/chat/completions},
 * {@code GET /v1/models} and {@code GET /v1/models/{id}}. Every generation goes through
 * {@link RequestDispatcher}, the same path as gRPC; this class only speaks OpenAI's wire format.
 *
 * <p>Order of checks on a request: API key (401), content type (415), body size (413), JSON and
 * fields (400), model (404), then the dispatcher's bounds and admission (400/429/503).
 */
public final class OpenAiRoutes {
    /** The header that names a request, so that a client can retry it (on any gateway) without running it twice. */
    public static final String REQUEST_ID_HEADER = "X-Request-Id";

    private static final String IDENTITY = "quire.identity";
    private static final Set<String> POST_ENDPOINTS = Set.of("/v1/completions", "/v1/chat/completions");

    private final Vertx vertx;
    private final RequestDispatcher dispatcher;
    private final long created = System.currentTimeMillis() / 1000;
    /** Per model name: loaded once, at mount for the models served then. */
    private final Map<String, ChatTemplate> templates = new ConcurrentHashMap<>();
    private final Map<String, TokenPieces> pieces = new ConcurrentHashMap<>();

    private OpenAiRoutes(Vertx vertx, RequestDispatcher dispatcher) {
        this.vertx = vertx;
        this.dispatcher = dispatcher;
    }

    /** Mounts the API under {@code /v1} on {@code router}. */
    public static void mount(Router router, Vertx vertx, RequestDispatcher dispatcher) {
        new OpenAiRoutes(vertx, dispatcher).mountOn(router);
    }

    private void mountOn(Router router) {
        // Read templates and decoders now: a broken tokenizer_config.json fails at start-up.
        for (InferenceEngine engine : dispatcher.catalog().all()) {
            template(engine.model());
            pieces(engine.model());
        }
        BodyHandler body = BodyHandler.create(false).setBodyLimit(dispatcher.admission().limits().maxRequestBytes());
        router.route("/v1/*").failureHandler(this::failure);
        // The key is checked before the body is read: an unauthenticated client cannot make us buffer it.
        router.route("/v1/*").handler(this::authenticate);
        for (String endpoint : POST_ENDPOINTS) {
            router.post(endpoint).handler(this::requireJson);
        }
        // Vert.x Web wants a body handler first on its route, hence routes of their own.
        router.post("/v1/completions").handler(body).handler(this::completions);
        router.post("/v1/chat/completions").handler(body).handler(this::chat);
        router.get("/v1/models").handler(this::listModels);
        router.getWithRegex("/v1/models/(?<model>.+)").handler(this::retrieveModel);
        router.route("/v1/*").handler(this::unknownEndpoint);
    }

    private ChatTemplate template(ModelInfo model) {
        return templates.computeIfAbsent(model.name(), n -> ChatTemplate.of(model));
    }

    private TokenPieces pieces(ModelInfo model) {
        return pieces.computeIfAbsent(model.name(), n -> new TokenPieces(model.vocabulary()));
    }

    private void authenticate(RoutingContext ctx) {
        try {
            ctx.put(IDENTITY, dispatcher.authenticate(ApiKeys.bearer(ctx.request().getHeader("authorization"))));
        } catch (GatewayException e) {
            OpenAiErrors.send(ctx.response(), e);
            return;
        }
        ctx.next();
    }

    /** Bodies must be {@code application/json} (UTF-8, JSON's only charset); anything else is a 415. */
    private void requireJson(RoutingContext ctx) {
        String type = ctx.request().getHeader("content-type");
        String[] parts = type == null ? new String[]{""} : type.split(";");
        boolean json = parts[0].strip().equalsIgnoreCase("application/json");
        for (int i = 1; i < parts.length && json; i++) {
            String[] kv = parts[i].split("=", 2);
            if (kv[0].strip().equalsIgnoreCase("charset")) {
                String charset = kv.length > 1 ? kv[1].strip().replace("\"", "") : "";
                json = charset.equalsIgnoreCase("utf-8") || charset.equalsIgnoreCase("utf8");
            }
        }
        if (!json) {
            OpenAiErrors.send(ctx.response(), new GatewayException(ErrorKind.UNSUPPORTED_MEDIA_TYPE, null,
                    "Content-Type must be application/json (UTF-8), got " + (type == null ? "none" : "'" + type + "'")));
            return;
        }
        ctx.next();
    }

    private void completions(RoutingContext ctx) {
        CompletionRequest req;
        ModelInfo model;
        try {
            dispatcher.checkNotDraining();
            req = CompletionRequest.parse(OpenAiJson.parseObject(body(ctx)), dispatcher.admission().limits().maxTokens());
            model = dispatcher.catalog().resolve(req.model()).model();
        } catch (RuntimeException e) {
            OpenAiErrors.send(ctx.response(), GatewayException.from(e));
            return;
        }
        String id;
        try {
            id = requestId(ctx, "cmpl-");
        } catch (RuntimeException e) {
            OpenAiErrors.send(ctx.response(), GatewayException.from(e));
            return;
        }
        OpenAiResponse out = new OpenAiResponse(OpenAiResponse.Api.COMPLETIONS, vertx.getOrCreateContext(),
                ctx.response(), id, req.prompts().size(), req.stream(), req.includeUsage(), req.logprobs(),
                pieces(model));
        List<RequestDispatcher.Call> calls = new ArrayList<>();
        for (int i = 0; i < req.prompts().size(); i++) {
            // The engine request id is the completion id, so gRPC Abort can cancel it too.
            calls.add(new RequestDispatcher.Call("http", ctx.get(IDENTITY), req.model(), req.prompts().get(i),
                    req.sampling(), req.prompts().size() == 1 ? id : id + "-" + i, req.priority()));
        }
        run(ctx.response(), out, calls, e -> renameParam(e, Set.of("prompt_token_ids"), "prompt"));
    }

    /**
     * The request's id: the client's {@value #REQUEST_ID_HEADER} header (retrying with the same one
     * continues or replays that request; see the request ledger), else a fresh one. It comes back in
     * the header and as the response's {@code id}.
     */
    private static String requestId(RoutingContext ctx, String prefix) {
        String asked = ctx.request().getHeader(REQUEST_ID_HEADER);
        String id = asked == null || asked.isEmpty() ? prefix + UUID.randomUUID().toString().replace("-", "")
                : RequestIds.check(asked, REQUEST_ID_HEADER);
        ctx.response().putHeader(REQUEST_ID_HEADER, id);
        return id;
    }

    private void chat(RoutingContext ctx) {
        ChatRequest req;
        ModelInfo model;
        try {
            dispatcher.checkNotDraining();
            // Without max_tokens a chat runs to the context's end; a server limit must still hold.
            req = ChatRequest.parse(OpenAiJson.parseObject(body(ctx)), dispatcher.admission().limits().maxTokens());
            model = dispatcher.catalog().resolve(req.model()).model();
        } catch (RuntimeException e) {
            OpenAiErrors.send(ctx.response(), GatewayException.from(e));
            return;
        }
        String id;
        try {
            id = requestId(ctx, "chatcmpl-");
        } catch (RuntimeException e) {
            OpenAiErrors.send(ctx.response(), GatewayException.from(e));
            return;
        }
        ChatTemplate template = template(model);
        String identity = ctx.get(IDENTITY);
        HttpServerResponse response = ctx.response();
        // Templates are small programs; render off the event loop like tokenization, within the same bound.
        dispatcher.textJob(() -> template.render(req.messages())).onComplete(rendered -> {
            if (rendered.failed()) {
                OpenAiErrors.send(response, GatewayException.from(rendered.cause()), id);
                return;
            }
            PromptInput prompt = template.isModelTemplate()
                    ? PromptInput.textWithSpecialTokens(rendered.result())
                    : PromptInput.text(rendered.result());
            OpenAiResponse out = new OpenAiResponse(OpenAiResponse.Api.CHAT, vertx.getOrCreateContext(), response, id,
                    1, req.stream(), req.includeUsage(), req.topLogprobs(), pieces(model));
            run(response, out, List.of(new RequestDispatcher.Call("http", identity, req.model(), prompt,
                    req.sampling(), id, req.priority())), e -> renameParam(e, Set.of("prompt", "prompt_token_ids"), "messages"));
        });
    }

    /** Dispatches every call; the response starts once all are admitted, or fails with the first refusal. */
    private void run(HttpServerResponse response, OpenAiResponse out, List<RequestDispatcher.Call> calls,
                     UnaryOperator<GatewayException> toClientTerms) {
        if (response.closed()) {
            return; // the client left while its chat template was rendered
        }
        // A client that disconnects frees its sequences in the next engine step.
        response.closeHandler(v -> out.clientGone());
        List<Future<RequestDispatcher.Dispatched>> dispatched = new ArrayList<>(calls.size());
        for (int i = 0; i < calls.size(); i++) {
            dispatched.add(dispatcher.dispatch(calls.get(i), out.listener(i)));
        }
        Future.join(dispatched).onComplete(all -> {
            List<RequestHandle> admitted = new ArrayList<>();
            Throwable refused = null;
            for (Future<RequestDispatcher.Dispatched> f : dispatched) {
                if (f.succeeded()) {
                    admitted.add(f.result().handle());
                } else if (refused == null) {
                    refused = f.cause();
                }
            }
            if (refused != null) {
                out.refuse(toClientTerms.apply(GatewayException.from(refused)), admitted);
            } else {
                out.start(dispatched.get(0).result().model(), admitted);
            }
        });
    }

    /** The dispatcher names prompt fields as gRPC spells them; say them as this endpoint does. */
    private static GatewayException renameParam(GatewayException e, Set<String> from, String to) {
        if (e.param() == null || !from.contains(e.param())) {
            return e;
        }
        String message = e.getMessage().startsWith(e.param() + ": ")
                ? to + ": " + e.getMessage().substring(e.param().length() + 2) : e.getMessage();
        return new GatewayException(e.kind(), to, message, e.retryAfterSeconds());
    }

    private void listModels(RoutingContext ctx) {
        ObjectNode out = OpenAiJson.MAPPER.createObjectNode().put("object", "list");
        ArrayNode data = out.putArray("data");
        for (InferenceEngine engine : dispatcher.catalog().all()) {
            data.add(modelJson(engine));
        }
        sendJson(ctx, out);
    }

    private void retrieveModel(RoutingContext ctx) {
        String name = ctx.pathParam("model");
        try {
            // resolve("") would pick the default model; an id is required here.
            if (name == null || name.isEmpty()) {
                throw new GatewayException(ErrorKind.MODEL_NOT_FOUND, "model", "model: an id is required");
            }
            sendJson(ctx, modelJson(dispatcher.catalog().resolve(name)));
        } catch (RuntimeException e) {
            OpenAiErrors.send(ctx.response(), GatewayException.from(e));
        }
    }

    private ObjectNode modelJson(InferenceEngine engine) {
        ModelInfo m = engine.model();
        return OpenAiJson.MAPPER.createObjectNode()
                .put("id", m.name())
                .put("object", "model")
                .put("created", created)
                .put("owned_by", "quire")
                .put("max_model_len", m.maxModelLen());
    }

    private void unknownEndpoint(RoutingContext ctx) {
        String path = ctx.normalizedPath();
        boolean wrongMethod = POST_ENDPOINTS.contains(path) || path.startsWith("/v1/models");
        if (wrongMethod) {
            ctx.response().putHeader("allow", POST_ENDPOINTS.contains(path) ? "POST" : "GET");
        }
        OpenAiErrors.send(ctx.response(), wrongMethod ? 405 : 404, OpenAiErrors.body("Unknown request URL: "
                + ctx.request().method() + " " + path, "invalid_request_error", null,
                wrongMethod ? "method_not_allowed" : "unknown_url"));
    }

    /** Failures of Vert.x handlers (the body limit's 413 above all) in OpenAI's error shape. */
    private void failure(RoutingContext ctx) {
        GatewayException e;
        if (ctx.statusCode() == 413) {
            e = new GatewayException(ErrorKind.TOO_LARGE, null, "the request body is larger than this server's limit of "
                    + dispatcher.admission().limits().maxRequestBytes() + " bytes");
        } else if (ctx.failure() != null) {
            e = GatewayException.from(ctx.failure()); // an internal error's detail is logged by send
        } else if (ctx.statusCode() >= 400 && ctx.statusCode() < 500) {
            e = new GatewayException(ErrorKind.INVALID_ARGUMENT, null, "bad request (HTTP " + ctx.statusCode() + ")");
        } else {
            e = new GatewayException(ErrorKind.INTERNAL, null, "internal error (HTTP " + ctx.statusCode() + ")");
        }
        OpenAiErrors.send(ctx.response(), e);
    }

    private static byte[] body(RoutingContext ctx) {
        Buffer b = ctx.body().buffer();
        return b == null ? new byte[0] : b.getBytes();
    }

    private static void sendJson(RoutingContext ctx, ObjectNode body) {
        ctx.response().putHeader("content-type", "application/json").end(Buffer.buffer(OpenAiJson.bytes(body)));
    }
}
