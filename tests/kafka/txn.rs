//! The shared transactional producer (`provisioner::kafka::txn`) on its own:
//! back-pressure, abort and fencing, against the real broker.

use provisioner::config::Config;
use provisioner::kafka::{Tuning, TxnError, TxnProducer};
use rdkafka::message::Message;
use rdkafka::producer::BaseRecord;

use crate::harness::*;

/// A one-partition topic of its own, and the configuration to reach it.
async fn topic_and_config() -> (Config, String) {
    let config = config(1);
    let topic = unique("txn");
    create_named_topics(&config, std::slice::from_ref(&topic)).await;
    (config, topic)
}

fn record<'a>(topic: &'a str, value: &'a [u8]) -> BaseRecord<'a, [u8], [u8]> {
    BaseRecord::to(topic).payload(value)
}

fn values(servers: &str, topic: &str) -> Vec<Vec<u8>> {
    read_all(servers, topic)
        .iter()
        .map(|m| m.payload().unwrap_or_default().to_vec())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_send_queue_holds_the_sender_back_instead_of_failing() {
    let (mut config, topic) = topic_and_config().await;
    // Ten records in flight at most: most sends meet a full queue.
    config
        .kafka
        .properties
        .insert("queue.buffering.max.messages".into(), "10".into());
    let mut producer =
        TxnProducer::new(&config, &unique("txn"), &Tuning::default()).expect("producer");
    let sent: Vec<Vec<u8>> = (0..500).map(|i| format!("r{i}").into_bytes()).collect();
    for value in &sent {
        producer.send(record(&topic, value)).expect("send");
    }
    producer.commit(None).expect("commit");
    assert_eq!(values(&config.kafka.bootstrap_servers, &topic), sent);
    delete_topics(&config, &[topic]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_send_aborts_the_whole_transaction_and_the_next_one_commits() {
    let (config, topic) = topic_and_config().await;
    let tuning = Tuning {
        native_flush: true,
        ..Tuning::default()
    };
    let mut producer = TxnProducer::new(&config, &unique("txn"), &tuning).expect("producer");
    producer.send(record(&topic, b"lost")).expect("send");
    // Over `message.max.bytes`: refused by the client at once.
    let too_big = vec![b'x'; 2_000_000];
    let refused = producer.send(record(&topic, &too_big));
    assert!(matches!(refused, Err(TxnError::Aborted(_))), "{refused:?}");
    producer.send(record(&topic, b"kept")).expect("send");
    producer.commit(None).expect("commit");
    assert_eq!(
        values(&config.kafka.bootstrap_servers, &topic),
        vec![b"kept".to_vec()],
        "nothing of the aborted transaction is visible"
    );
    delete_topics(&config, &[topic]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_producer_with_the_same_id_fences_the_older_one() {
    let (config, topic) = topic_and_config().await;
    let id = unique("txn");
    let mut older = TxnProducer::new(&config, &id, &Tuning::default()).expect("producer");
    older.send(record(&topic, b"first")).expect("send");
    older.commit(None).expect("commit");
    let mut newer = TxnProducer::new(&config, &id, &Tuning::default()).expect("producer");
    let fenced = older
        .send(record(&topic, b"from the fenced one"))
        .and_then(|()| older.commit(None));
    assert!(matches!(fenced, Err(TxnError::Fenced(_))), "{fenced:?}");
    newer.send(record(&topic, b"second")).expect("send");
    newer.commit(None).expect("commit");
    assert_eq!(
        values(&config.kafka.bootstrap_servers, &topic),
        vec![b"first".to_vec(), b"second".to_vec()]
    );
    delete_topics(&config, &[topic]).await;
}
