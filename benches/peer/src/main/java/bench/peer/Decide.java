package bench.peer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * The decision (src/engine/decide.rs): an event applied to an employee's state, and a command
 * for every app whose desired account changed. Pure: the clock is an argument.
 *
 * <p>Not done here, unlike the engine: durable timers (a date that passes later takes effect
 * only with the employee's next event), the mass-deprovision guard and rules reloads.
 */
public final class Decide {
    private Decide() {}

    /** RFC 3339, UTC, always with milliseconds (CONTRACT §5 {@code issued_at}). */
    private static final java.time.format.DateTimeFormatter MILLIS =
            java.time.format.DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(java.time.ZoneOffset.UTC);

    /** What became of an event. */
    public enum Outcome { APPLIED, STALE, UNKNOWN_EMPLOYEE }

    /** One command to write to {@code <commands prefix><app>}. */
    public record Command(String app, Map<String, Object> body) {}

    /** The state after the event (null when it is not to be kept) and the commands. */
    public record Decision(EmployeeState state, List<Command> commands, Outcome outcome) {}

    /** Applies {@code event} to {@code prev} (null: never seen). */
    public static Decision decide(EmployeeState prev, Events.Event event, Rules rules, Catalog catalog,
                                  Instant now) {
        if (prev != null && stale(prev, event)) {
            return new Decision(null, List.of(), Outcome.STALE);
        }
        EmployeeState state = prev;
        if (state == null) {
            if (event.type() == Events.Type.CHANGED) {
                return new Decision(null, List.of(), Outcome.UNKNOWN_EMPLOYEE);
            }
            state = new EmployeeState();
            if (event.type() == Events.Type.LEFT) {
                state.ended = now.toEpochMilli();
            }
        }
        apply(state, event, catalog.defaultZone(), now);
        if (event.sequence() != null) {
            state.lastSequence = event.sequence();
        }
        if (event.time() != null) {
            state.lastTime = event.time().toString();
        }
        List<Command> commands = reconcile(state, event, rules, catalog, now);
        return new Decision(state, commands, Outcome.APPLIED);
    }

    private static boolean stale(EmployeeState prev, Events.Event event) {
        if (event.sequence() != null && prev.lastSequence != null) {
            return event.sequence() <= prev.lastSequence;
        }
        if (event.time() != null && prev.lastTime != null) {
            return !event.time().isAfter(Instant.parse(prev.lastTime));
        }
        return false;
    }

    /** Merges the event into the state with what it says of the dates (CONTRACT §3). */
    private static void apply(EmployeeState state, Events.Event event, ZoneId zone, Instant now) {
        if (event.type() == Events.Type.HIRED) {
            state.snapshot = event.employee();
            state.employed = true;
            state.ended = null;
            return;
        }
        boolean leaver = !state.employed;
        Instant endBefore = dates(state.snapshot, zone)[1];
        JsonNode keptEnd = leaver && state.ended == null && endBefore != null && !endBefore.isAfter(now)
                ? state.snapshot.get("end_date") : null;
        mergePatch(state.snapshot, event.employee());
        if (keptEnd != null) {
            state.snapshot.set("end_date", keptEnd);
        }
        if (event.type() == Events.Type.CHANGED) {
            if (leaver && state.ended == null && dates(state.snapshot, zone)[1] == null) {
                state.employed = true;
            }
            return;
        }
        Instant[] dates = dates(state.snapshot, zone);
        state.employed = false;
        boolean rescinded = dates[0] != null && now.isBefore(dates[0]);
        if (state.ended == null && (event.immediate() || dates[1] == null || rescinded)) {
            state.ended = now.toEpochMilli();
        }
    }

    /** RFC 7386 on objects. */
    static void mergePatch(ObjectNode target, ObjectNode patch) {
        for (Iterator<Map.Entry<String, JsonNode>> it = patch.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode value = e.getValue();
            if (value.isNull()) {
                target.remove(e.getKey());
            } else if (value.isObject() && target.get(e.getKey()) instanceof ObjectNode inner) {
                mergePatch(inner, (ObjectNode) value);
            } else if (value.isObject()) {
                ObjectNode fresh = target.putObject(e.getKey());
                mergePatch(fresh, (ObjectNode) value);
            } else {
                target.set(e.getKey(), value);
            }
        }
    }

    /** Start and end of employment as instants, in the employee's zone; null when unknown. */
    private static Instant[] dates(ObjectNode snapshot, ZoneId fallback) {
        JsonNode zoneName = snapshot.get("time_zone");
        ZoneId zone = zoneName != null && zoneName.isTextual() ? ZoneId.of(zoneName.asText()) : fallback;
        return new Instant[] {edge(snapshot.get("start_date"), zone, 0), edge(snapshot.get("end_date"), zone, 1)};
    }

    /** A day's start (plus {@code days}) in {@code zone}, or an instant as written. */
    private static Instant edge(JsonNode value, ZoneId zone, int days) {
        if (value == null || !value.isTextual()) {
            return null;
        }
        LocalDate day = Events.plainDate(value.asText());
        return day != null ? day.plusDays(days).atStartOfDay(zone).toInstant() : Events.instant(value.asText());
    }

    /** Brings every app in line with the rules and the dates at {@code now}. */
    private static List<Command> reconcile(EmployeeState state, Events.Event event, Rules rules,
                                           Catalog catalog, Instant now) {
        TreeMap<String, Rules.Grant> grants = state.ended == null ? rules.grants(state.snapshot) : new TreeMap<>();
        Instant[] dates = dates(state.snapshot, catalog.defaultZone());
        grants.entrySet().removeIf(g -> {
            Catalog.App app = catalog.apps().get(g.getKey());
            if (app == null) {
                return false;
            }
            Instant from = dates[0] == null ? null : dates[0].minusMillis(app.preStartMs());
            Instant until = dates[1] == null ? null : dates[1].plusMillis(app.postEndMs());
            boolean active = (until == null || now.isBefore(until)) && (from == null || !now.isBefore(from));
            return !active;
        });
        TreeMap<String, Rules.Grant> inView = new TreeMap<>(grants);
        state.apps.keySet().forEach(app -> inView.putIfAbsent(app, null));
        EmployeeState.Account account = state.account(event.employeeId());
        List<Command> commands = new ArrayList<>();
        for (Map.Entry<String, Rules.Grant> entry : inView.entrySet()) {
            String app = entry.getKey();
            Catalog.App config = catalog.apps().get(app);
            if (config == null) {
                continue;
            }
            EmployeeState.AppState prev = state.apps.get(app);
            Rules.Grant grant = entry.getValue();
            String role;
            EmployeeState.Account next;
            if (grant != null) {
                role = grant.role();
                next = account;
            } else if (prev != null && prev.role != null) {
                role = null;
                next = prev.account;
            } else {
                continue;
            }
            if (prev != null && Objects.equals(prev.role, role) && prev.account.equals(next)) {
                continue;
            }
            if (prev == null && role == null) {
                continue;
            }
            EmployeeState.AppState updated = new EmployeeState.AppState();
            updated.generation = (prev == null ? 0 : prev.generation) + 1;
            updated.role = role;
            updated.account = next;
            state.apps.put(app, updated);
            commands.add(command(app, event, updated, config, grant, rules.version(), now));
        }
        return commands;
    }

    private static Command command(String app, Events.Event event, EmployeeState.AppState desired,
                                   Catalog.App config, Rules.Grant grant, String rulesVersion, Instant now) {
        Map<String, Object> cause = new java.util.LinkedHashMap<>();
        cause.put("event_id", event.id());
        cause.put("event_type", event.type().wire);
        cause.put("rules", grant == null ? List.of() : grant.rules());
        cause.put("rules_version", rulesVersion);
        Map<String, Object> body = new java.util.LinkedHashMap<>();
        body.put("command_id", app + ":" + event.employeeId() + ":" + desired.generation);
        body.put("app", app);
        body.put("employee_id", event.employeeId());
        body.put("generation", desired.generation);
        body.put("action", desired.role != null ? "upsert" : "deprovision");
        if (desired.role != null) {
            body.put("role", desired.role);
        } else {
            body.put("deprovision", config.leaver());
        }
        body.put("account", desired.account);
        body.put("cause", cause);
        body.put("issued_at", MILLIS.format(now));
        return new Command(app, body);
    }
}
