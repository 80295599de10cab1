package bench.peer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The peer's topology on Kafka Streams' test driver: what the engine would emit for the same events. */
class PeerTopologyTest {
    private static final String RULES = """
            - name: Dev Team
              target: { field: team, op: is, value: Development }
              apps:
                slack: { role: member }
                zendesk: { role: light_agent }
            - name: Dev Leads
              target:
                all:
                  - { field: team, op: is, value: Development }
                  - { field: job_title, op: starts_with, value: lead, case_insensitive: true }
              apps:
                slack: { role: admin }
            - name: Everyone Else
              target: { not: { field: team, op: in, values: [Development] } }
              apps:
                slack: { role: member }
            """;

    private final ObjectMapper json = new ObjectMapper();
    private TopologyTestDriver driver;
    private TestInputTopic<byte[], byte[]> events;
    private TestOutputTopic<byte[], byte[]> slack;
    private TestOutputTopic<byte[], byte[]> zendesk;
    private TestOutputTopic<byte[], byte[]> dlq;

    @BeforeEach
    void start(@TempDir Path dir) throws Exception {
        Path rulesDir = Files.createDirectories(dir.resolve("rules"));
        Files.writeString(rulesDir.resolve("rules.yaml"), RULES);
        Catalog catalog = new Catalog("unused:9092", "peer-test", "events", "commands.", "events.dlq",
                dir.resolve("state").toString(), rulesDir, 1, 1 << 20, ZoneId.of("UTC"),
                Map.of("slack", new Catalog.App(List.of("member", "admin"), "suspend", 0, 0),
                        "zendesk", new Catalog.App(List.of("light_agent", "agent"), "delete", 0, 0)));
        Rules rules = Rules.load(rulesDir, catalog.apps());
        Properties props = Peer.properties(catalog);
        driver = new TopologyTestDriver(Peer.topology(catalog, rules, json), props);
        ByteArraySerializer ser = new ByteArraySerializer();
        ByteArrayDeserializer de = new ByteArrayDeserializer();
        events = driver.createInputTopic("events", ser, ser);
        slack = driver.createOutputTopic("commands.slack", de, de);
        zendesk = driver.createOutputTopic("commands.zendesk", de, de);
        dlq = driver.createOutputTopic("events.dlq", de, de);
    }

    @AfterEach
    void stop() {
        driver.close();
    }

    private void send(String id, String type, long sequence, String employee) {
        String value = """
                {"specversion":"1.0","id":"evt-%d","source":"hris://test","type":"%s","subject":"%s",
                 "data":{"sequence":%d,"employee":%s}}""".formatted(sequence, type, id, sequence, employee);
        events.pipeInput(id.getBytes(StandardCharsets.UTF_8), value.getBytes(StandardCharsets.UTF_8));
    }

    private List<JsonNode> read(TestOutputTopic<byte[], byte[]> topic) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (byte[] value : topic.readValuesToList()) {
            out.add(json.readTree(value));
        }
        return out;
    }

    @Test
    void a_hire_gets_each_granted_app_with_the_most_privileged_role() throws Exception {
        send("E1", "hr.employee.hired", 1, """
                {"id":"E1","email":"ada@acme.test","first_name":"Ada","last_name":"Lovelace",
                 "team":"Development","job_title":"Lead Engineer"}""");
        List<JsonNode> s = read(slack);
        assertEquals(1, s.size());
        JsonNode c = s.get(0);
        assertEquals("slack:E1:1", c.get("command_id").asText());
        assertEquals("upsert", c.get("action").asText());
        assertEquals("admin", c.get("role").asText());
        assertEquals("Ada Lovelace", c.at("/account/display_name").asText());
        assertEquals("ada@acme.test", c.at("/account/user_name").asText());
        assertEquals("[\"Dev Leads\",\"Dev Team\"]", c.at("/cause/rules").toString());
        assertTrue(c.at("/cause/rules_version").asText().matches("sha256:[0-9a-f]{64}"));
        assertTrue(c.get("issued_at").asText().matches("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z"));
        assertEquals("light_agent", read(zendesk).get(0).get("role").asText());
    }

    @Test
    void a_change_emits_only_for_apps_whose_account_changes_and_deprovisions_the_rest() throws Exception {
        send("E1", "hr.employee.hired", 1, "{\"id\":\"E1\",\"email\":\"a@acme.test\",\"team\":\"Development\"}");
        read(slack);
        read(zendesk);
        send("E1", "hr.employee.changed", 2, "{\"id\":\"E1\",\"department\":\"R&D\"}");
        assertTrue(slack.isEmpty() && zendesk.isEmpty(), "nothing an app sees changed");
        send("E1", "hr.employee.changed", 3, "{\"id\":\"E1\",\"team\":\"Support\"}");
        assertTrue(slack.isEmpty(), "still a member, now by another rule: the account is the same");
        JsonNode z = read(zendesk).get(0);
        assertEquals("deprovision", z.get("action").asText());
        assertEquals("delete", z.get("deprovision").asText());
        assertTrue(z.get("role") == null);
        send("E1", "hr.employee.changed", 4, "{\"id\":\"E1\",\"last_name\":\"King\"}");
        JsonNode s = read(slack).get(0);
        assertEquals(2, s.get("generation").asInt());
        assertEquals("King", s.at("/account/display_name").asText());
        assertEquals("[\"Everyone Else\"]", s.at("/cause/rules").toString());
        assertTrue(zendesk.isEmpty(), "a deprovisioned account is not deprovisioned again");
    }

    @Test
    void stale_events_change_nothing_and_an_immediate_leave_deprovisions_everything() throws Exception {
        send("E1", "hr.employee.hired", 5, "{\"id\":\"E1\",\"email\":\"a@acme.test\",\"team\":\"Development\"}");
        read(slack);
        read(zendesk);
        send("E1", "hr.employee.changed", 4, "{\"id\":\"E1\",\"team\":\"Support\"}");
        assertTrue(slack.isEmpty() && zendesk.isEmpty(), "an older sequence is stale");
        send("E1", "hr.employee.left", 6, "{\"id\":\"E1\"}");
        assertEquals("suspend", read(slack).get(0).get("deprovision").asText());
        assertEquals("deprovision", read(zendesk).get(0).get("action").asText());
    }

    @Test
    void invalid_events_and_changes_before_the_hire_are_dead_lettered() throws Exception {
        events.pipeInput("E2".getBytes(StandardCharsets.UTF_8), "not json".getBytes(StandardCharsets.UTF_8));
        send("E3", "hr.employee.changed", 1, "{\"id\":\"E3\",\"team\":\"Support\"}");
        send("E4", "hr.employee.hired", 1, "{\"id\":\"E5\",\"email\":\"a@acme.test\"}");
        List<TestRecord<byte[], byte[]>> dead = dlq.readRecordsToList();
        assertEquals(3, dead.size());
        assertEquals("invalid_event", header(dead.get(0), "dlq.error.kind"));
        assertEquals("unknown_employee", header(dead.get(1), "dlq.error.kind"));
        assertTrue(header(dead.get(2), "dlq.error.message").contains("does not match data.employee.id"));
        assertEquals("events", header(dead.get(0), "dlq.original.topic"));
        assertTrue(slack.isEmpty() && zendesk.isEmpty());
    }

    private static String header(TestRecord<byte[], byte[]> record, String name) {
        return new String(record.headers().lastHeader(name).value(), StandardCharsets.UTF_8);
    }
}
