package dev.quire.gateway.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import picocli.CommandLine;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The one configuration model of every {@code quire} command: a flag wins over the YAML file given
 * by {@code --config} (or {@code QUIRE_CONFIG}), which wins over a {@code QUIRE_*} environment
 * variable, which wins over the built-in default. A YAML key or variable is the long option name
 * without dashes: {@code grpc-port: 9000} in YAML, {@code QUIRE_GRPC_PORT=9000} in the environment.
 */
public final class ConfigDefaults implements CommandLine.IDefaultValueProvider {
    private final Map<String, String> yaml;
    private final Path yamlFile;
    private final Map<String, String> env;

    private ConfigDefaults(Map<String, String> yaml, Path yamlFile, Map<String, String> env) {
        this.yaml = yaml;
        this.yamlFile = yamlFile;
        this.env = env;
    }

    /** Reads the YAML file named by {@code --config} in {@code args} or by QUIRE_CONFIG, if any. */
    public static ConfigDefaults from(String[] args, Map<String, String> env) {
        String file = env.get("QUIRE_CONFIG");
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--config") && i + 1 < args.length) {
                file = args[i + 1];
            } else if (args[i].startsWith("--config=")) {
                file = args[i].substring("--config=".length());
            }
        }
        if (file == null || file.isBlank()) {
            return new ConfigDefaults(Map.of(), null, env);
        }
        Path path = Path.of(file);
        return new ConfigDefaults(readYaml(path), path, env);
    }

    private static Map<String, String> readYaml(Path path) {
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException("config file " + path + " not found");
        }
        JsonNode root;
        try {
            root = new ObjectMapper(new YAMLFactory()).readTree(path.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException("config file " + path + " is not valid YAML: "
                    + e.getMessage().lines().findFirst().orElse(""));
        }
        Map<String, String> values = new LinkedHashMap<>();
        if (root == null || root.isMissingNode() || root.isNull()) {
            return values;
        }
        if (!root.isObject()) {
            throw new IllegalArgumentException("config file " + path + " must be a map of option: value");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode v = e.getValue();
            if (v.isArray()) {
                List<String> items = new ArrayList<>();
                v.forEach(item -> items.add(item.asText()));
                values.put(e.getKey(), String.join(",", items));
            } else if (v.isValueNode()) {
                values.put(e.getKey(), v.asText());
            } else {
                throw new IllegalArgumentException("config file " + path + ": '" + e.getKey()
                        + "' must be a value or a list");
            }
        }
        return values;
    }

    /** Rejects YAML keys that name no option of any command: a typo must not pass silently. */
    public void validate(CommandLine root) {
        Set<String> known = new HashSet<>();
        collect(root, known);
        for (String key : yaml.keySet()) {
            if (!known.contains(key)) {
                throw new IllegalArgumentException("config file " + yamlFile + ": unknown option '" + key + "'");
            }
        }
    }

    private static void collect(CommandLine cmd, Set<String> known) {
        for (CommandLine.Model.OptionSpec o : cmd.getCommandSpec().options()) {
            known.add(key(o));
        }
        cmd.getSubcommands().values().forEach(sub -> collect(sub, known));
    }

    @Override
    public String defaultValue(CommandLine.Model.ArgSpec argSpec) {
        if (!(argSpec instanceof CommandLine.Model.OptionSpec option) || option.usageHelp() || option.versionHelp()) {
            return null;
        }
        String key = key(option);
        if (yaml.containsKey(key)) {
            return yaml.get(key);
        }
        String fromEnv = env.get("QUIRE_" + key.toUpperCase().replace('-', '_'));
        return fromEnv; // null: the option's own default applies
    }

    private static String key(CommandLine.Model.OptionSpec option) {
        return option.longestName().replaceFirst("^-+", "");
    }
}
