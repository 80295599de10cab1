package bench.peer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDate;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * HR events (CONTRACT §3): CloudEvents 1.0 in JSON, parsed and validated as the engine does
 * (src/events), with the same messages for the same faults, so the peer dead-letters what the
 * engine dead-letters.
 */
public final class Events {
    private Events() {}

    /** The three event types. */
    public enum Type {
        HIRED("hr.employee.hired"),
        CHANGED("hr.employee.changed"),
        LEFT("hr.employee.left");

        public final String wire;

        Type(String wire) {
            this.wire = wire;
        }

        static Type parse(String text) {
            for (Type t : values()) {
                if (t.wire.equals(text)) {
                    return t;
                }
            }
            return null;
        }
    }

    /** A valid event; {@code sequence} and {@code time} are null when absent. */
    public record Event(String id, Type type, Instant time, Long sequence, String employeeId,
                        ObjectNode employee, boolean immediate) {}

    /** Why a record is not a valid event: the text of {@code dlq.error.message}. */
    public static final class Invalid extends Exception {
        public Invalid(String message) {
            super(message);
        }
    }

    /** The snapshot's text fields: a string without control characters, or null. */
    static final List<String> TEXT_FIELDS = List.of("first_name", "last_name", "team", "department",
            "location", "job_title", "employment_type", "manager_id");
    private static final List<String> DATE_FIELDS = List.of("start_date", "end_date");
    private static final Pattern ZONE_CHARS = Pattern.compile("[A-Za-z0-9/_+:-]{1,64}");
    private static final Pattern NUMERIC = Pattern.compile("[0-9+\\-:./ TZtz]{1,40}");
    private static final Pattern PLAIN_DATE = Pattern.compile("\\d{4}-\\d{2}-\\d{2}");
    private static final Set<String> ZONES = ZoneId.getAvailableZoneIds();

    /** Parses one record; {@code key} may be null. */
    public static Event parse(ObjectMapper json, byte[] key, byte[] value, int maxBytes) throws Invalid {
        if (value == null) {
            throw new Invalid("value is not JSON: the record has no value");
        }
        if (value.length > maxBytes) {
            throw new Invalid("record of " + value.length + " bytes exceeds limits.max_event_bytes (" + maxBytes + ")");
        }
        JsonNode root;
        try {
            root = json.readTree(value);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new Invalid("value is not JSON: " + e.getOriginalMessage());
        } catch (java.io.IOException e) {
            throw new Invalid("value is not JSON: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw new Invalid("value is not a JSON object");
        }
        String spec = requiredString(root, "specversion");
        if (!spec.equals("1.0")) {
            throw new Invalid("field `specversion` is " + quote(spec) + ", expected \"1.0\"");
        }
        String id = requiredString(root, "id");
        requiredString(root, "source");
        String typeText = requiredString(root, "type");
        Type type = Type.parse(typeText);
        if (type == null) {
            throw new Invalid("field `type` is " + quote(typeText)
                    + ", expected one of hr.employee.hired, hr.employee.changed, hr.employee.left");
        }
        Instant time = time(root.get("time"));
        JsonNode contentType = root.get("datacontenttype");
        if (contentType != null && !(contentType.isTextual() && isJson(contentType.asText()))) {
            throw new Invalid("field `datacontenttype` is " + describe(contentType) + ", expected \"application/json\"");
        }
        JsonNode subject = root.get("subject");
        if (subject != null && !subject.isNull() && !subject.isTextual()) {
            throw new Invalid("field `subject` is " + describe(subject) + ", expected a string or null");
        }
        JsonNode data = root.get("data");
        if (data == null) {
            throw new Invalid("missing field `data`");
        }
        if (!data.isObject()) {
            throw new Invalid("field `data` is " + describe(data) + ", not an object");
        }
        Long sequence = sequence(data.get("sequence"));
        boolean immediate = immediate(data.get("immediate"), type);
        JsonNode employee = data.get("employee");
        if (employee == null) {
            throw new Invalid("missing field `data.employee`");
        }
        if (!employee.isObject()) {
            throw new Invalid("field `data.employee` is " + describe(employee) + ", not an object");
        }
        String employeeId = checkEmployee(key, subject, type, (ObjectNode) employee);
        return new Event(id, type, time, sequence, employeeId, (ObjectNode) employee, immediate);
    }

    private static Instant time(JsonNode time) throws Invalid {
        if (time == null || time.isNull()) {
            return null;
        }
        if (!time.isTextual()) {
            throw new Invalid("field `time` is " + describe(time) + ", not a string");
        }
        Instant parsed = instant(time.asText());
        if (parsed == null) {
            throw new Invalid("field `time` is " + quote(time.asText()) + ", not RFC 3339");
        }
        return parsed;
    }

    private static Long sequence(JsonNode sequence) throws Invalid {
        if (sequence == null || sequence.isNull()) {
            return null;
        }
        if (!sequence.canConvertToExactIntegral() || !sequence.canConvertToLong() || sequence.asLong() < 0) {
            throw new Invalid("data.sequence: expected an integer >= 0, found " + describe(sequence));
        }
        return sequence.asLong();
    }

    private static boolean immediate(JsonNode immediate, Type type) throws Invalid {
        if (immediate == null || immediate.isNull()) {
            return false;
        }
        if (!immediate.isBoolean()) {
            throw new Invalid("data.immediate: expected true or false, found " + describe(immediate));
        }
        if (immediate.asBoolean() && type != Type.LEFT) {
            throw new Invalid("data.immediate: only a hr.employee.left may be immediate, not a " + type.wire);
        }
        return immediate.asBoolean();
    }

    /** The checks on {@code data.employee}; returns its id. */
    private static String checkEmployee(byte[] key, JsonNode subject, Type type, ObjectNode employee)
            throws Invalid {
        JsonNode idNode = employee.get("id");
        if (idNode == null) {
            throw new Invalid("missing field `data.employee.id`");
        }
        if (!idNode.isTextual() || idNode.asText().isBlank()) {
            throw new Invalid("field `data.employee.id` is " + describe(idNode) + ", expected a non-empty string");
        }
        String id = idNode.asText();
        noControlCharacters("id", id);
        if (key != null && !id.equals(new String(key, StandardCharsets.UTF_8))) {
            throw new Invalid("record key " + quote(new String(key, StandardCharsets.UTF_8))
                    + " does not match data.employee.id " + quote(id));
        }
        if (subject != null && subject.isTextual() && !subject.asText().equals(id)) {
            throw new Invalid("field `subject` " + quote(subject.asText()) + " does not match data.employee.id " + quote(id));
        }
        JsonNode email = employee.get("email");
        if (email == null && type == Type.HIRED) {
            throw new Invalid("missing field `data.employee.email` (required on hr.employee.hired)");
        }
        if (email != null && !(email.isTextual() && !email.asText().isEmpty())) {
            throw new Invalid("data.employee.email: expected a non-empty string, found " + describe(email));
        }
        if (email != null) {
            noControlCharacters("email", email.asText());
        }
        for (String field : TEXT_FIELDS) {
            JsonNode v = employee.get(field);
            if (v == null || v.isNull()) {
                continue;
            }
            if (!v.isTextual()) {
                throw new Invalid("data.employee." + field + ": expected a string or null, found " + describe(v));
            }
            noControlCharacters(field, v.asText());
        }
        for (String field : DATE_FIELDS) {
            JsonNode v = employee.get(field);
            if (v != null && !v.isNull() && !(v.isTextual() && date(v.asText()) != null)) {
                throw new Invalid("data.employee." + field + ": expected an ISO date (YYYY-MM-DD) or an RFC 3339 "
                        + "instant, found " + describe(v));
            }
        }
        JsonNode zone = employee.get("time_zone");
        if (zone != null && !zone.isNull() && !(zone.isTextual() && ZONES.contains(zone.asText()))) {
            if (zone.isTextual() && ZONE_CHARS.matcher(zone.asText()).matches()) {
                throw new Invalid("data.employee.time_zone: " + quote(zone.asText())
                        + " is not an IANA time zone name (e.g. \"Europe/Madrid\")");
            }
            throw new Invalid("data.employee.time_zone: expected an IANA time zone name or null, found " + describe(zone));
        }
        JsonNode attributes = employee.get("attributes");
        if (attributes != null && !attributes.isNull() && !attributes.isObject()) {
            throw new Invalid("data.employee.attributes: expected an object or null, found " + describe(attributes));
        }
        return id;
    }

    private static void noControlCharacters(String field, String text) throws Invalid {
        for (int i = 0; i < text.length(); i++) {
            if (Character.isISOControl(text.charAt(i))) {
                throw new Invalid("data.employee." + field + ": control characters are not allowed (a string of "
                        + text.codePointCount(0, text.length()) + " characters)");
            }
        }
    }

    private static String requiredString(JsonNode root, String field) throws Invalid {
        JsonNode v = root.get(field);
        if (v == null) {
            throw new Invalid("missing field `" + field + "`");
        }
        if (!v.isTextual() || v.asText().isEmpty()) {
            throw new Invalid("field `" + field + "` is " + describe(v) + ", expected a non-empty string");
        }
        return v.asText();
    }

    private static boolean isJson(String contentType) {
        return contentType.equals("application/json") || contentType.startsWith("application/json;");
    }

    /** A value described without repeating text that may be personal. */
    static String describe(JsonNode v) {
        if (v.isNull()) {
            return "null";
        }
        if (v.isBoolean()) {
            return "a boolean (" + v.asBoolean() + ")";
        }
        if (v.isNumber()) {
            return "a number (" + v.asText() + ")";
        }
        if (v.isObject()) {
            return "an object";
        }
        if (v.isArray()) {
            return "an array";
        }
        String s = v.asText();
        if (s.isBlank() || NUMERIC.matcher(s).matches()) {
            return quote(s);
        }
        return "a string of " + s.codePointCount(0, s.length()) + " characters";
    }

    private static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    /** {@code YYYY-MM-DD} (midnight UTC) or an RFC 3339 instant; null if neither. */
    static Instant date(String text) {
        LocalDate day = plainDate(text);
        return day != null ? day.atStartOfDay(ZoneOffset.UTC).toInstant() : instant(text);
    }

    /** A strict {@code YYYY-MM-DD}, or null. */
    static LocalDate plainDate(String text) {
        if (!PLAIN_DATE.matcher(text).matches()) {
            return null;
        }
        try {
            return LocalDate.parse(text);
        } catch (DateTimeParseException e) {
            return null;
        }
    }

    /** An RFC 3339 date-time with an offset, or null. */
    static Instant instant(String text) {
        try {
            return OffsetDateTime.parse(text, DateTimeFormatter.ISO_OFFSET_DATE_TIME).toInstant();
        } catch (DateTimeParseException e) {
            return null;
        }
    }
}
