package bench.peer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The peer's configuration: a JSON file the bench writes from the engine's own
 * {@code provisioner.toml} (benches/engine/peer.rs), so both run with the same apps, roles,
 * leaver policies, date offsets and rules.
 */
public record Catalog(String bootstrapServers, String applicationId, String input, String commandsPrefix,
                      String dlq, String stateDir, Path rulesDir, int threads, int maxEventBytes,
                      ZoneId defaultZone, Map<String, App> apps) {

    /** One app of the catalogue: roles least privileged first, leaver policy, window offsets. */
    public record App(List<String> roles, String leaver, long preStartMs, long postEndMs) {}

    /** Reads the file, naming it and the key in any error. */
    public static Catalog read(ObjectMapper json, Path file) throws IOException {
        JsonNode root = json.readTree(file.toFile());
        Map<String, App> apps = new TreeMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.path("apps").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            List<String> roles = new ArrayList<>();
            e.getValue().path("roles").forEach(r -> roles.add(r.asText()));
            apps.put(e.getKey(), new App(roles, e.getValue().path("leaver").asText("suspend"),
                    e.getValue().path("pre_start_ms").asLong(0), e.getValue().path("post_end_ms").asLong(0)));
        }
        return new Catalog(
                required(root, file, "bootstrap_servers"),
                required(root, file, "application_id"),
                required(root, file, "input"),
                required(root, file, "commands_prefix"),
                required(root, file, "dlq"),
                required(root, file, "state_dir"),
                Path.of(required(root, file, "rules_dir")),
                root.path("threads").asInt(Runtime.getRuntime().availableProcessors()),
                root.path("max_event_bytes").asInt(1 << 20),
                ZoneId.of(root.path("default_time_zone").asText("UTC")),
                apps);
    }

    private static String required(JsonNode root, Path file, String key) {
        JsonNode v = root.get(key);
        if (v == null || !v.isTextual() || v.asText().isEmpty()) {
            throw new IllegalArgumentException(file + ": `" + key + "` must be a non-empty string");
        }
        return v.asText();
    }
}
