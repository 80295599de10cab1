package bench.peer;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.TreeMap;

/**
 * What the peer keeps per employee in its RocksDB store (and so in the store's changelog), as
 * JSON: the snapshot, where the employee stands, the last event's order, and each app's
 * generation and desired account. The engine's state (src/engine/state.rs) less its timer,
 * guard holds and schedule, which the peer does not do.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public final class EmployeeState {
    /** The employee's current HR snapshot. */
    public ObjectNode snapshot = JsonNodeFactory.instance.objectNode();
    /** False once a leave applies (at once, or when the end date is over). */
    public boolean employed = true;
    /** When access ended outside the dates (an immediate leave), epoch ms; else null. */
    public Long ended;
    /** The last applied event's {@code data.sequence}. */
    public Long lastSequence;
    /** The last applied event's {@code time}, as RFC 3339. */
    public String lastTime;
    /** Each app the employee ever had, by name. */
    public TreeMap<String, AppState> apps = new TreeMap<>();

    /** One app: the last command's generation, and the account it asked for. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public static final class AppState {
        public long generation;
        /** The role while active; null once deprovisioned. */
        public String role;
        public Account account;
    }

    /** The account fields an app sees (CONTRACT §5 {@code account}). */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Account(String external_id, String user_name, String email, String given_name,
                          String family_name, String display_name) {}

    /** The account the snapshot describes. */
    Account account(String employeeId) {
        String email = text("email");
        String given = text("first_name");
        String family = text("last_name");
        String display = given != null && family != null ? given + " " + family : given != null ? given : family;
        return new Account(employeeId, email != null ? email : employeeId, email, given, family, display);
    }

    private String text(String field) {
        JsonNode v = snapshot.get(field);
        if (v == null || !v.isTextual() || v.asText().isBlank()) {
            return null;
        }
        return v.asText().strip();
    }
}
