package bench.peer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The rule set (CONTRACT §4): the same YAML files the engine reads, compiled once, and the
 * same precedence (the most privileged role wins; the first rule in load order among equals).
 * The rules version is computed as src/rules/version.rs does, so the peer's commands carry the
 * engine's {@code cause.rules_version}.
 */
public final class Rules {
    /** What one employee gets in one app: the role, and the granting rules, deciding one first. */
    public record Grant(String role, List<String> rules) {}

    /** A rule file or rule that cannot be used; the message names the file and the rule. */
    public static final class Invalid extends RuntimeException {
        Invalid(String message) {
            super(message);
        }
    }

    private record AppRole(String app, String role, int rank, boolean provisioning) {}

    private record Rule(String name, Condition target, List<AppRole> apps) {}

    private final List<Rule> rules;
    private final String version;

    private Rules(List<Rule> rules, String version) {
        this.rules = rules;
        this.version = version;
    }

    /** The rules version, {@code sha256:<hex>}. */
    public String version() {
        return version;
    }

    /** Loads every {@code *.yaml} / {@code *.yml} file of {@code dir}, by file name. */
    public static Rules load(Path dir, Map<String, Catalog.App> catalog) throws IOException {
        List<Path> files;
        try (Stream<Path> list = Files.list(dir)) {
            files = list.filter(p -> {
                String n = p.getFileName().toString();
                return n.endsWith(".yaml") || n.endsWith(".yml");
            }).sorted().toList();
        }
        ObjectMapper yaml = new ObjectMapper(new YAMLFactory());
        List<Rule> rules = new ArrayList<>();
        List<Map.Entry<String, byte[]>> sources = new ArrayList<>();
        for (Path file : files) {
            byte[] bytes = Files.readAllBytes(file);
            sources.add(Map.entry(file.getFileName().toString(), bytes));
            JsonNode root = yaml.readTree(bytes);
            if (root == null || root.isMissingNode() || root.isNull()) {
                continue;
            }
            Iterable<JsonNode> nodes = root.isArray() ? root : List.of(root);
            for (JsonNode node : nodes) {
                rules.add(compile(file.getFileName().toString(), node, catalog));
            }
        }
        return new Rules(rules, version(sources, catalog));
    }

    /** Every app the rules grant {@code employee}, by app name, precedence resolved. */
    public TreeMap<String, Grant> grants(JsonNode employee) {
        TreeMap<String, List<AppRole>> offers = new TreeMap<>();
        TreeMap<String, List<String>> names = new TreeMap<>();
        for (Rule rule : rules) {
            if (!rule.target.matches(employee)) {
                continue;
            }
            for (AppRole entry : rule.apps) {
                if (entry.provisioning) {
                    offers.computeIfAbsent(entry.app, a -> new ArrayList<>()).add(entry);
                    names.computeIfAbsent(entry.app, a -> new ArrayList<>()).add(rule.name);
                }
            }
        }
        TreeMap<String, Grant> grants = new TreeMap<>();
        offers.forEach((app, list) -> {
            int decider = 0;
            for (int i = 1; i < list.size(); i++) {
                if (list.get(i).rank > list.get(decider).rank) {
                    decider = i;
                }
            }
            List<String> ruleNames = names.get(app);
            List<String> ordered = new ArrayList<>(ruleNames.size());
            ordered.add(ruleNames.get(decider));
            for (int i = 0; i < ruleNames.size(); i++) {
                if (i != decider) {
                    ordered.add(ruleNames.get(i));
                }
            }
            grants.put(app, new Grant(list.get(decider).role, ordered));
        });
        return grants;
    }

    private static Rule compile(String file, JsonNode node, Map<String, Catalog.App> catalog) {
        String name = node.path("name").asText("");
        String where = file + ": rule " + (name.isEmpty() ? "(no name)" : "\"" + name + "\"");
        if (name.isBlank()) {
            throw new Invalid(where + ": `name` must be a non-empty string");
        }
        JsonNode target = node.get("target");
        if (target == null) {
            throw new Invalid(where + ": missing `target`");
        }
        JsonNode apps = node.get("apps");
        if (apps == null || !apps.isObject() || apps.isEmpty()) {
            throw new Invalid(where + ": `apps` must be a non-empty mapping");
        }
        List<AppRole> grants = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = apps.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            Catalog.App app = catalog.get(e.getKey());
            if (app == null) {
                throw new Invalid(where + ": unknown app \"" + e.getKey() + "\"");
            }
            String role = e.getValue().path("role").asText("");
            int rank = app.roles().indexOf(role);
            if (rank < 0) {
                throw new Invalid(where + ": app \"" + e.getKey() + "\" has no role \"" + role + "\"");
            }
            boolean provisioning = e.getValue().path("provisioning").asBoolean(true);
            grants.add(new AppRole(e.getKey(), role, rank, provisioning));
        }
        return new Rule(name, condition(where, target), grants);
    }

    /** A compiled condition. */
    interface Condition {
        boolean matches(JsonNode employee);
    }

    private static Condition condition(String where, JsonNode node) {
        if (node.has("all") || node.has("any")) {
            boolean all = node.has("all");
            JsonNode parts = node.get(all ? "all" : "any");
            if (!parts.isArray() || parts.isEmpty()) {
                throw new Invalid(where + ": `" + (all ? "all" : "any") + "` must be a non-empty list");
            }
            List<Condition> list = new ArrayList<>();
            parts.forEach(p -> list.add(condition(where, p)));
            Condition[] compiled = list.toArray(Condition[]::new);
            // Plain loops: this runs for every rule and every event.
            return all ? e -> {
                for (Condition c : compiled) {
                    if (!c.matches(e)) {
                        return false;
                    }
                }
                return true;
            } : e -> {
                for (Condition c : compiled) {
                    if (c.matches(e)) {
                        return true;
                    }
                }
                return false;
            };
        }
        if (node.has("not")) {
            Condition inner = condition(where, node.get("not"));
            return e -> !inner.matches(e);
        }
        return leaf(where, node);
    }

    private static final Set<String> SNAPSHOT_FIELDS = Set.of("id", "email", "first_name", "last_name", "team",
            "department", "location", "job_title", "employment_type", "manager_id", "start_date", "end_date",
            "time_zone");

    private static Condition leaf(String where, JsonNode node) {
        String field = node.path("field").asText("");
        String attribute = field.startsWith("attributes.") ? field.substring("attributes.".length()) : null;
        if (attribute == null && !SNAPSHOT_FIELDS.contains(field) || "".equals(attribute)) {
            throw new Invalid(where + ": unknown field \"" + field + "\"");
        }
        boolean fold = node.path("case_insensitive").asBoolean(false);
        String op = node.path("op").asText("");
        String value = fold ? fold(node.path("value").asText("")) : node.path("value").asText("");
        Set<String> values = new HashSet<>();
        node.path("values").forEach(v -> values.add(fold ? fold(v.asText()) : v.asText()));
        java.util.function.Predicate<String> test = switch (op) {
            case "is" -> value::equals;
            case "is_not" -> v -> !v.equals(value);
            case "in" -> values::contains;
            case "not_in" -> v -> !values.contains(v);
            case "contains" -> v -> v.contains(value);
            case "starts_with" -> v -> v.startsWith(value);
            case "ends_with" -> v -> v.endsWith(value);
            case "matches" -> {
                Pattern p = Pattern.compile(node.path("value").asText(""),
                        fold ? Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE : 0);
                yield v -> p.matcher(v).find();
            }
            case "before", "after" -> {
                Instant limit = Events.date(node.path("value").asText(""));
                if (limit == null) {
                    throw new Invalid(where + ": `" + op + "` needs a date, not \"" + node.path("value").asText("") + "\"");
                }
                yield op.equals("before") ? v -> {
                    Instant d = Events.date(v);
                    return d != null && d.isBefore(limit);
                } : v -> {
                    Instant d = Events.date(v);
                    return d != null && d.isAfter(limit);
                };
            }
            case "exists", "missing" -> null;
            default -> throw new Invalid(where + ": unknown operator \"" + op + "\"");
        };
        boolean negative = op.equals("is_not") || op.equals("not_in");
        boolean textual = !op.equals("matches") && !op.equals("before") && !op.equals("after");
        boolean exists = op.equals("exists");
        if (exists || op.equals("missing")) {
            return employee -> {
                JsonNode v = attribute == null ? employee.get(field) : employee.path("attributes").get(attribute);
                return (v == null || v.isNull() || v.isMissingNode()) != exists;
            };
        }
        return employee -> {
            JsonNode v = attribute == null ? employee.get(field) : employee.path("attributes").get(attribute);
            if (v == null || v.isNull() || v.isMissingNode() || v.isContainerNode()) {
                return negative;
            }
            String text = v.asText();
            return test.test(fold && textual ? fold(text) : text);
        };
    }

    /** Case folding as the engine does it: upper- then lower-case. */
    private static String fold(String text) {
        return text.toUpperCase(Locale.ROOT).toLowerCase(Locale.ROOT);
    }

    /** src/rules/version.rs: length-prefixed file names and contents, then apps and roles. */
    private static String version(List<Map.Entry<String, byte[]>> sources, Map<String, Catalog.App> catalog) {
        MessageDigest hash;
        try {
            hash = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM has SHA-256", e);
        }
        hash.update("provisioner-rules-v1".getBytes(StandardCharsets.UTF_8));
        for (Map.Entry<String, byte[]> source : sources) {
            put(hash, "file".getBytes(StandardCharsets.UTF_8));
            put(hash, source.getKey().getBytes(StandardCharsets.UTF_8));
            put(hash, source.getValue());
        }
        for (Map.Entry<String, Catalog.App> app : new TreeMap<>(catalog).entrySet()) {
            put(hash, "app".getBytes(StandardCharsets.UTF_8));
            put(hash, app.getKey().getBytes(StandardCharsets.UTF_8));
            hash.update(ByteBuffer.allocate(8).putLong(app.getValue().roles().size()).array());
            for (String role : app.getValue().roles()) {
                put(hash, role.getBytes(StandardCharsets.UTF_8));
            }
        }
        return "sha256:" + HexFormat.of().formatHex(hash.digest());
    }

    private static void put(MessageDigest hash, byte[] bytes) {
        hash.update(ByteBuffer.allocate(8).putLong(bytes.length).array());
        hash.update(bytes);
    }
}
