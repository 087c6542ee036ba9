package dev.quire.gateway.routing;

import dev.quire.scheduler.engine.EngineUnavailableException;
import dev.quire.scheduler.engine.InferenceEngine;
import dev.quire.scheduler.engine.InvalidRequestException;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The models this gateway can route to, by name; the first one added is the default. */
public final class ModelCatalog {
    private final Map<String, InferenceEngine> engines = new LinkedHashMap<>();

    public synchronized ModelCatalog add(InferenceEngine engine) {
        String name = engine.model().name();
        if (engines.putIfAbsent(name, engine) != null) {
            throw new IllegalArgumentException("model '" + name + "' is already served");
        }
        return this;
    }

    /**
     * The engine serving {@code name}, or the default one when {@code name} is empty.
     *
     * @throws InvalidRequestException naming the {@code model} field when nothing serves that name
     */
    public synchronized InferenceEngine resolve(String name) {
        if (engines.isEmpty()) {
            throw new EngineUnavailableException("no model is served yet: no worker has joined");
        }
        if (name == null || name.isEmpty()) {
            return engines.values().iterator().next();
        }
        InferenceEngine engine = engines.get(name);
        if (engine == null) {
            throw new UnknownModelException(name, List.copyOf(engines.keySet()));
        }
        return engine;
    }

    public synchronized List<InferenceEngine> all() {
        return List.copyOf(engines.values());
    }

    /** A request named a model nobody serves. */
    public static final class UnknownModelException extends InvalidRequestException {
        public UnknownModelException(String name, List<String> served) {
            super("model", "unknown model '" + name + "'; served: " + String.join(", ", served));
        }
    }
}
