package bench.peer;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Optional;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * One HR event at a time: parse and validate, read the employee's state from the store, decide,
 * write the state back (to RocksDB and its changelog) and forward one command per changed app
 * to that app's sink. Invalid events and changes for unknown employees go to the dead-letter
 * sink with the engine's {@code dlq.*} headers (CONTRACT §7). Exactly-once comes from Kafka
 * Streams: the store's changelog, the commands and the input offsets commit in one transaction.
 */
final class EmployeeProcessor implements Processor<byte[], byte[], byte[], byte[]> {
    /** The store's name; its changelog is {@code <application.id>-employees-changelog}. */
    static final String STORE = "employees";
    /** The dead-letter sink's name. */
    static final String DLQ_SINK = "dlq";

    private final Catalog catalog;
    private final Rules rules;
    private final ObjectMapper json;
    private ProcessorContext<byte[], byte[]> context;
    private KeyValueStore<String, byte[]> store;

    EmployeeProcessor(Catalog catalog, Rules rules, ObjectMapper json) {
        this.catalog = catalog;
        this.rules = rules;
        this.json = json;
    }

    /** The sink node of one app's command topic. */
    static String sink(String app) {
        return "commands-" + app;
    }

    @Override
    public void init(ProcessorContext<byte[], byte[]> context) {
        this.context = context;
        this.store = context.getStateStore(STORE);
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
        Events.Event event;
        try {
            event = Events.parse(json, record.key(), record.value(), catalog.maxEventBytes());
        } catch (Events.Invalid invalid) {
            deadLetter(record, "invalid_event", invalid.getMessage());
            return;
        }
        try {
            byte[] stored = store.get(event.employeeId());
            EmployeeState prev = stored == null ? null : json.readValue(stored, EmployeeState.class);
            Decide.Decision decision = Decide.decide(prev, event, rules, catalog, Instant.now());
            if (decision.outcome() == Decide.Outcome.UNKNOWN_EMPLOYEE) {
                deadLetter(record, "unknown_employee", "no state for employee; a hr.employee.changed "
                        + "is applied only after the employee's hire");
                return;
            }
            if (decision.state() == null) {
                return; // stale
            }
            store.put(event.employeeId(), json.writeValueAsBytes(decision.state()));
            byte[] key = event.employeeId().getBytes(StandardCharsets.UTF_8);
            for (Decide.Command command : decision.commands()) {
                context.forward(new Record<>(key, json.writeValueAsBytes(command.body()), record.timestamp(),
                        new RecordHeaders()), sink(command.app()));
            }
        } catch (IOException e) {
            // Our own state and commands: failing to (de)serialise them is a bug, not bad input.
            throw new UncheckedIOException(e);
        }
    }

    private void deadLetter(Record<byte[], byte[]> record, String kind, String message) {
        Headers headers = new RecordHeaders(record.headers().toArray());
        Optional<RecordMetadata> from = context.recordMetadata();
        put(headers, "dlq.original.topic", from.map(RecordMetadata::topic).orElse(""));
        put(headers, "dlq.original.partition", String.valueOf(from.map(RecordMetadata::partition).orElse(-1)));
        put(headers, "dlq.original.offset", String.valueOf(from.map(RecordMetadata::offset).orElse(-1L)));
        put(headers, "dlq.original.timestamp", String.valueOf(record.timestamp()));
        put(headers, "dlq.error.kind", kind);
        put(headers, "dlq.error.message", message);
        put(headers, "dlq.attempts", "1");
        put(headers, "dlq.failed_at", Instant.now().toString());
        context.forward(new Record<>(record.key(), record.value(), record.timestamp(), headers), DLQ_SINK);
    }

    private static void put(Headers headers, String name, String value) {
        headers.add(name, value.getBytes(StandardCharsets.UTF_8));
    }
}
