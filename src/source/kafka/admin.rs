//! Connecting to Kafka, reading topic metadata and creating topics.
//!
//! Every call has a timeout: a wrong broker address gives a clear error within seconds.

use std::time::Duration;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_executor::block_on;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError as RdError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use crate::config::KafkaCluster;

/// How long to wait for the broker to answer a metadata or admin request.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Kafka errors with the context a user needs.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The brokers did not answer.
    #[error("cannot reach Kafka at {brokers}: {message}")]
    Unreachable {
        /// Bootstrap servers.
        brokers: String,
        /// librdkafka's reason.
        message: String,
    },
    /// The topic does not exist and may not be created.
    #[error("topic `{topic}` does not exist on {brokers} (set `create_topic = true` or create it)")]
    MissingTopic {
        /// Bootstrap servers.
        brokers: String,
        /// Topic.
        topic: String,
    },
    /// A record could not be queued for a topic.
    #[error("producing to {topic}: {message}")]
    Produce {
        /// Topic.
        topic: String,
        /// librdkafka's reason.
        message: String,
    },
    /// Queued records could not be flushed.
    #[error("flushing to {what}: {message}")]
    Flush {
        /// Where they were going.
        what: String,
        /// librdkafka's reason.
        message: String,
    },
    /// Records were given up on after librdkafka's retries.
    #[error("{failed} messages were not delivered to {what}: {first}")]
    Undelivered {
        /// Where they were going.
        what: String,
        /// How many.
        failed: u64,
        /// The first failure's reason.
        first: String,
    },
    /// Any other client error.
    #[error("Kafka {context}: {message}")]
    Client {
        /// What was being done.
        context: String,
        /// librdkafka's reason.
        message: String,
    },
}

/// A client config with Sluice's common settings and the cluster's security settings.
pub fn client_config(cluster: &KafkaCluster) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cluster.brokers)
        .set("socket.connection.setup.timeout.ms", "5000")
        .set("log_level", "3");
    for (k, v) in cluster.properties.iter() {
        c.set(k, v);
    }
    c
}

/// Consumer settings for replaying partitions by manual assignment (offsets are committed by
/// Sluice's checkpoints, never automatically).
///
/// `fetch.queue.backoff.ms`: librdkafka stops fetching a partition while its local queue is
/// above `queued.min.messages` and by default waits 1 s before trying again. A consumer that
/// decodes each message drains slower than the broker fills, so with the default it sat idle for
/// most of each second (ingest ran at 0.1x raw rdkafka, see experiments/results/kafka_ingest.md);
/// 10 ms keeps the queue topped up.
pub fn consumer_config(cluster: &KafkaCluster, group: &str) -> ClientConfig {
    let mut c = client_config(cluster);
    c.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "50")
        .set("fetch.queue.backoff.ms", "10");
    c
}

/// Partition count of `topic`, or `None` when it does not exist; errors when the brokers do
/// not answer within [`TIMEOUT`].
/// It is the first request of every command, so its error says why the brokers did not
/// answer when librdkafka knows (authentication failed, TLS handshake failed, ...).
pub fn topic_partitions(cluster: &KafkaCluster, topic: &str) -> Result<Option<i32>, KafkaError> {
    if let Some(message) = refused_everywhere(&cluster.brokers) {
        return Err(KafkaError::Unreachable {
            brokers: cluster.brokers.clone(),
            message,
        });
    }
    let consumer: BaseConsumer<LastError> = client_config(cluster)
        .create_with_context(LastError::default())
        .map_err(|e| client("creating a client", e))?;
    let md = consumer.fetch_metadata(Some(topic), TIMEOUT).map_err(|e| {
        // Log and error events wait in the client's queue; polling hands them to `LastError`.
        while consumer.poll(Duration::ZERO).is_some() {}
        let why = consumer.context().0.lock().expect("poisoned").take();
        KafkaError::Unreachable {
            brokers: cluster.brokers.clone(),
            message: match why {
                Some(why) => format!("{e} ({why})"),
                None => e.to_string(),
            },
        }
    })?;
    let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
        return Ok(None);
    };
    match t.error() {
        None => Ok(Some(t.partitions().len() as i32)),
        Some(e) if RDKafkaErrorCode::from(e) == RDKafkaErrorCode::UnknownTopicOrPartition => {
            Ok(None)
        }
        Some(e) => Err(KafkaError::Client {
            context: format!("metadata of `{topic}`"),
            message: RDKafkaErrorCode::from(e).to_string(),
        }),
    }
}

/// Why no bootstrap server can be connected to at all, when each of them refuses the
/// connection or does not resolve: then there is no point in librdkafka's retries until
/// [`TIMEOUT`]. A server that does not answer (a firewall dropping packets) is left to
/// librdkafka, as is any that accepts.
fn refused_everywhere(brokers: &str) -> Option<String> {
    use std::net::{TcpStream, ToSocketAddrs};
    let mut reasons = Vec::new();
    for broker in brokers.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        // `PROTOCOL://host:port` is allowed by librdkafka; the address is what follows.
        let address = broker.rsplit("://").next().unwrap_or(broker);
        let addrs: Vec<_> = match address.to_socket_addrs() {
            Ok(a) => a.collect(),
            Err(e) => {
                reasons.push(format!("{broker}: {e}"));
                continue;
            }
        };
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    reasons.push(format!("{broker}: connection refused"));
                }
                _ => return None,
            }
        }
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// Makes sure `topic` exists: creates it with `partitions` partitions (replication 1) when
/// missing and `create` is set. Returns its partition count.
pub fn ensure_topic(
    cluster: &KafkaCluster,
    topic: &str,
    partitions: i32,
    create: bool,
) -> Result<i32, KafkaError> {
    ensure_topic_with(cluster, topic, partitions, create, &[])
}

/// As [`ensure_topic`], creating the topic with the topic configs `settings` too (e.g.
/// `cleanup.policy`).
pub fn ensure_topic_with(
    cluster: &KafkaCluster,
    topic: &str,
    partitions: i32,
    create: bool,
    settings: &[(&str, &str)],
) -> Result<i32, KafkaError> {
    if let Some(n) = topic_partitions(cluster, topic)? {
        return Ok(n);
    }
    if !create {
        return Err(KafkaError::MissingTopic {
            brokers: cluster.brokers.clone(),
            topic: topic.into(),
        });
    }
    let admin: AdminClient<DefaultClientContext> = client_config(cluster)
        .create()
        .map_err(|e| client("creating an admin client", e))?;
    // Messages carry their event time as CreateTime; replayed history would otherwise be
    // deleted by time-based retention as soon as the broker checks.
    let mut new =
        NewTopic::new(topic, partitions, TopicReplication::Fixed(1)).set("retention.ms", "-1");
    for (key, value) in settings {
        new = new.set(key, value);
    }
    let opts = AdminOptions::new()
        .operation_timeout(Some(TIMEOUT))
        .request_timeout(Some(TIMEOUT));
    let results = block_on(admin.create_topics([&new], &opts))
        .map_err(|e| client(&format!("creating `{topic}`"), e))?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => {
                return Err(KafkaError::Client {
                    context: format!("creating `{t}`"),
                    message: code.to_string(),
                });
            }
        }
    }
    // Metadata propagates asynchronously; wait until the topic is visible.
    for _ in 0..100 {
        if let Some(n) = topic_partitions(cluster, topic)? {
            return Ok(n);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(KafkaError::Client {
        context: format!("creating `{topic}`"),
        message: "created but not visible after 5 s".into(),
    })
}

/// A client error; a refused client setting is named by its key, never its value (which may
/// be a secret).
pub fn client(context: &str, e: RdError) -> KafkaError {
    let message = match e {
        RdError::ClientConfig(_, desc, key, _) => format!("setting `{key}`: {desc}"),
        e => e.to_string(),
    };
    KafkaError::Client {
        context: context.into(),
        message,
    }
}

/// A client context keeping librdkafka's last error report (e.g. `SASL authentication error:
/// Authentication failed ...`); such reports name hosts and reasons, never settings' values.
#[derive(Default)]
struct LastError(Mutex<Option<String>>);

/// librdkafka reports a failed connection (`FAIL`: authentication, TLS handshake, refused)
/// as a log event, other trouble as an error event.
impl ClientContext for LastError {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        tracing::debug!(?level, facility, message, "librdkafka");
        // `log_level` 3: only errors are logged. The thread name before the message goes.
        let message = match message.strip_prefix("[thrd:") {
            Some(rest) => rest.split_once("]: ").map_or(message, |(_, m)| m),
            None => message,
        };
        *self.0.lock().expect("poisoned") = Some(message.to_string());
    }

    fn error(&self, error: RdError, reason: &str) {
        tracing::debug!(%error, reason, "librdkafka");
        *self.0.lock().expect("poisoned") = Some(reason.to_string());
    }
}

impl rdkafka::consumer::ConsumerContext for LastError {}

/// Called with each delivered message.
pub type OnDelivered = Box<dyn Fn(&rdkafka::message::BorrowedMessage<'_>) + Send + Sync>;

/// Producer context that counts failed deliveries (librdkafka retries before giving up).
#[derive(Default)]
pub struct Deliveries {
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    on_delivered: Option<OnDelivered>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.first_error
                    .lock()
                    .expect("poisoned")
                    .get_or_insert_with(|| e.to_string());
            }
            Ok(m) => {
                if let Some(f) = &self.on_delivered {
                    f(m);
                }
            }
        }
    }
}

impl Deliveries {
    /// A context that also calls `f` with each delivered message.
    pub fn with_hook(f: OnDelivered) -> Self {
        Self {
            on_delivered: Some(f),
            ..Self::default()
        }
    }

    /// An error naming how many messages to `what` were not delivered, if any.
    pub fn check(&self, what: &str) -> Result<(), KafkaError> {
        let failed = self.failed.load(Ordering::Relaxed);
        if failed == 0 {
            return Ok(());
        }
        let first = self.first_error.lock().expect("poisoned").clone();
        Err(KafkaError::Undelivered {
            what: what.into(),
            failed,
            first: first.unwrap_or_default(),
        })
    }
}

/// Queues `record`, waiting while the producer's queue is full.
pub fn send_retrying(
    producer: &ThreadedProducer<Deliveries>,
    mut record: BaseRecord<'_, str, [u8]>,
) -> Result<(), KafkaError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((e, r)) => {
                return Err(KafkaError::Produce {
                    topic: r.topic.into(),
                    message: e.to_string(),
                });
            }
        }
    }
}

/// Waits until every message queued on `producer` is delivered or has failed, then reports the
/// failures for `what`. There is no deadline of its own: while a broker is away librdkafka
/// retries each message until its `message.timeout.ms` (5 min by default) and then fails it, so
/// an outage shorter than that is waited out whatever it costs in reconnecting. A warning every
/// 30 s says how many messages still wait.
pub fn deliver_all(producer: &ThreadedProducer<Deliveries>, what: &str) -> Result<(), KafkaError> {
    use rdkafka::producer::Producer;
    let started = std::time::Instant::now();
    let mut warned = started;
    loop {
        match producer.flush(Duration::from_secs(1)) {
            Ok(()) => break,
            Err(RdError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {}
            Err(e) => {
                return Err(KafkaError::Flush {
                    what: what.into(),
                    message: e.to_string(),
                });
            }
        }
        if warned.elapsed() >= Duration::from_secs(30) {
            warned = std::time::Instant::now();
            tracing::warn!(
                messages = producer.in_flight_count(),
                waited_s = started.elapsed().as_secs(),
                "not delivered to {what} yet; waiting for the Kafka broker"
            );
        }
    }
    producer.context().check(what)
}

/// Commits offsets for a consumer group, synchronously, over one connection kept for the run
/// (a consumer per commit cost ~90 ms of connecting and finding the group coordinator).
/// Sluice commits only after the checkpoint holding the offsets is durable, so the group's
/// committed offsets (what Kafka tools show as the pipeline's lag) never run ahead of it.
pub struct Committer {
    consumer: BaseConsumer,
    group: String,
}

impl Committer {
    /// A committer for `group` (connects lazily).
    pub fn new(cluster: &KafkaCluster, group: &str) -> Result<Self, KafkaError> {
        let consumer: BaseConsumer = client_config(cluster)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .map_err(|e| client("creating a consumer", e))?;
        Ok(Self {
            consumer,
            group: group.to_string(),
        })
    }

    /// Commits `offsets` (per partition of `topic`).
    pub fn commit(
        &self,
        topic: &str,
        offsets: &std::collections::BTreeMap<i32, i64>,
    ) -> Result<(), KafkaError> {
        use rdkafka::consumer::CommitMode;
        use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
        let mut tpl = TopicPartitionList::new();
        for (p, o) in offsets {
            tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
                .map_err(|e| client("committing offsets", e))?;
        }
        self.consumer.commit(&tpl, CommitMode::Sync).map_err(|e| {
            client(
                &format!("committing offsets of `{topic}` for group `{}`", self.group),
                e,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KafkaProperties;

    #[test]
    fn a_client_config_carries_the_clusters_settings_secrets_included() {
        // Setting a variable needs `unsafe` (the crate forbids it): PATH is always set.
        let secret = std::env::var("PATH").unwrap();
        let properties = KafkaProperties::from_flags(
            &[
                "security.protocol=SASL_SSL".into(),
                "sasl.username=sluice".into(),
            ],
            &["sasl.password=PATH".into()],
        )
        .unwrap();
        let c = client_config(&KafkaCluster {
            brokers: "host:9094".into(),
            properties,
        });
        assert_eq!(c.get("bootstrap.servers"), Some("host:9094"));
        assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(c.get("sasl.username"), Some("sluice"));
        assert_eq!(c.get("sasl.password"), Some(secret.as_str()));
    }
}
