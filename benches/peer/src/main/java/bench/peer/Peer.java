package bench.peer;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.state.Stores;

/**
 * The Kafka Streams peer of the engine benchmark: {@code java bench.peer.Peer CONFIG.json}.
 * Prints {@code peer: RUNNING} once it processes, and stops cleanly on SIGTERM.
 */
public final class Peer {
    private Peer() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: peer CONFIG.json");
            System.exit(2);
        }
        ObjectMapper json = new ObjectMapper();
        Catalog catalog = Catalog.read(json, Path.of(args[0]));
        Rules rules = Rules.load(catalog.rulesDir(), catalog.apps());
        KafkaStreams streams = new KafkaStreams(topology(catalog, rules, json), properties(catalog));
        CountDownLatch stopped = new CountDownLatch(1);
        streams.setStateListener((now, before) -> {
            System.out.println("peer: " + now);
            if (now == KafkaStreams.State.NOT_RUNNING || now == KafkaStreams.State.ERROR) {
                stopped.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            e.printStackTrace();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> streams.close(Duration.ofSeconds(60))));
        System.out.println("peer: rules " + rules.version() + ", " + catalog.apps().size() + " apps");
        streams.start();
        stopped.await();
    }

    /** Source → the employee processor (with its store) → one sink per app, and the dead letters. */
    static Topology topology(Catalog catalog, Rules rules, ObjectMapper json) {
        Topology topology = new Topology();
        topology.addSource("events", catalog.input());
        topology.addProcessor("decide", () -> new EmployeeProcessor(catalog, rules, json), "events");
        topology.addStateStore(Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(EmployeeProcessor.STORE), Serdes.String(), Serdes.ByteArray()),
                "decide");
        for (String app : catalog.apps().keySet()) {
            topology.addSink(EmployeeProcessor.sink(app), catalog.commandsPrefix() + app, "decide");
        }
        topology.addSink(EmployeeProcessor.DLQ_SINK, catalog.dlq(), "decide");
        return topology;
    }

    /** exactly_once_v2, commits every 200 ms, producers lingering 20 ms with lz4 (issue #15). */
    static Properties properties(Catalog catalog) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, catalog.applicationId());
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, catalog.bootstrapServers());
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, catalog.threads());
        p.put(StreamsConfig.STATE_DIR_CONFIG, catalog.stateDir());
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.ByteArraySerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.ByteArraySerde.class);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 20);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.COMPRESSION_TYPE_CONFIG), "lz4");
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        return p;
    }
}
