//! Model files on Kafka (`[output] publish_artifacts`): each stored model's TorchScript file
//! goes to `<prefix>.model-artifacts` in chunks below the broker's message limit, and
//! [`pull`] (`sluice models pull`) puts one back together.
//!
//! The topic has one partition and is compacted (`cleanup.policy=compact`): a chunk's key is
//! `<model_id>/<index>` (`<variant>/<model_id>/<index>` in a sweep), so the broker keeps the
//! latest copy of every chunk of every model, and a run resumed after a crash, which publishes
//! a model again with the same bytes, leaves one copy once compacted. Each chunk carries
//! headers `sluice-model`, `sluice-chunk` (`<index>/<count>`), `sluice-bytes` and
//! `sluice-sha256` (of the whole file). The chunks are delivered before the model event that
//! announces them, whose `artifact_sha256`, `artifact_bytes` and `artifact_chunks` a reader
//! checks them against.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use sha2::{Digest, Sha256};

use crate::config::KafkaCluster;
use crate::source::kafka::admin::{KafkaError, TIMEOUT, client, client_config, topic_partitions};

/// Bytes per chunk: half of the broker's and producer's default message limit (1 MB), which
/// leaves room for the key, headers and batch overhead.
pub const CHUNK: usize = 512 * 1024;

/// The stream (topic suffix) of model files.
pub const STREAM: &str = "model-artifacts";

/// A published model file, as its model event names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Its length.
    pub bytes: u64,
    /// Messages it was cut into.
    pub chunks: u32,
}

/// The SHA-256 of `bytes`, hex.
pub fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The key of chunk `index` of the model keyed `model` (`<variant>/<model_id>` in a sweep).
pub fn chunk_key(model: &str, index: usize) -> String {
    format!("{model}/{index}")
}

/// One chunk's message: key, headers, payload.
pub type Chunk<'a> = (String, OwnedHeaders, &'a [u8]);

/// The messages `bytes` is published as, one per chunk, and what the model event says of them.
pub fn chunks<'a>(model: &str, model_id: &str, bytes: &'a [u8]) -> (Vec<Chunk<'a>>, Published) {
    let published = Published {
        sha256: sha256(bytes),
        bytes: bytes.len() as u64,
        chunks: bytes.len().div_ceil(CHUNK).max(1) as u32,
    };
    let parts: Vec<&[u8]> = if bytes.is_empty() {
        vec![bytes]
    } else {
        bytes.chunks(CHUNK).collect()
    };
    let messages = parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let header = |headers: OwnedHeaders, key: &str, value: &str| {
                headers.insert(Header {
                    key,
                    value: Some(value),
                })
            };
            let headers = OwnedHeaders::new_with_capacity(4);
            let headers = header(headers, "sluice-model", model_id);
            let headers = header(
                headers,
                "sluice-chunk",
                &format!("{i}/{}", published.chunks),
            );
            let headers = header(headers, "sluice-bytes", &published.bytes.to_string());
            let headers = header(headers, "sluice-sha256", &published.sha256);
            (chunk_key(model, i), headers, part)
        })
        .collect();
    (messages, published)
}

/// Why a model file could not be pulled.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// A topic could not be read.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// A topic is missing.
    #[error("topic `{topic}` does not exist on {brokers}")]
    MissingTopic {
        /// Bootstrap servers.
        brokers: String,
        /// Topic.
        topic: String,
    },
    /// No model event names the model.
    #[error("no model `{model}` in {topic}")]
    NoModel {
        /// The model (with its variant).
        model: String,
        /// The models topic.
        topic: String,
    },
    /// The model's event names no artifact.
    #[error(
        "model `{model}` was published without its file (the run had no `[output] publish_artifacts = true`)"
    )]
    NotPublished {
        /// The model.
        model: String,
    },
    /// Chunks are missing, or the file does not match its digest.
    #[error("model `{model}` in {topic}: {reason}")]
    Corrupt {
        /// The model.
        model: String,
        /// The artifacts topic.
        topic: String,
        /// What does not match.
        reason: String,
    },
}

/// Calls `each` with every message of partition 0 of `topic`, from its start to the end offset
/// it had when called.
fn read_all(
    cluster: &KafkaCluster,
    topic: &str,
    mut each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<(), PullError> {
    if topic_partitions(cluster, topic)?.is_none() {
        return Err(PullError::MissingTopic {
            brokers: cluster.brokers.clone(),
            topic: topic.to_string(),
        });
    }
    let consumer: BaseConsumer = client_config(cluster)
        .set("group.id", "sluice-pull")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .map_err(|e| client("creating a consumer", e))?;
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, TIMEOUT)
        .map_err(|e| client(&format!("reading the offsets of {topic}"), e))?;
    if low >= high {
        return Ok(());
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(low))
        .map_err(|e| client("assigning", e))?;
    consumer
        .assign(&tpl)
        .map_err(|e| client(&format!("assigning {topic}"), e))?;
    let mut last = Instant::now();
    loop {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                last = Instant::now();
                each(&m);
                if m.offset() + 1 >= high {
                    return Ok(());
                }
            }
            Some(Err(e)) => tracing::warn!("reading {topic}: {e}"),
            None if last.elapsed() > Duration::from_secs(30) => {
                return Err(KafkaError::Client {
                    context: format!("reading {topic}"),
                    message: format!("no message for 30 s before its end offset {high}"),
                }
                .into());
            }
            None => {}
        }
    }
}

/// Model `model_id`'s file (of sweep variant `variant`, if given), read back from
/// `<prefix>.model-artifacts` and checked against its model event in `<prefix>.models`.
pub fn pull(
    cluster: &KafkaCluster,
    prefix: &str,
    model_id: &str,
    variant: Option<&str>,
) -> Result<Vec<u8>, PullError> {
    let model = match variant {
        Some(v) => format!("{v}/{model_id}"),
        None => model_id.to_string(),
    };
    let models = format!("{prefix}.models");
    let mut event: Option<serde_json::Value> = None;
    read_all(cluster, &models, |m| {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(m.payload().unwrap_or_default())
        else {
            return;
        };
        if v["model_id"] == model_id && v["variant"].as_str() == variant {
            event = Some(v);
        }
    })?;
    let event = event.ok_or_else(|| PullError::NoModel {
        model: model.clone(),
        topic: models,
    })?;
    let (Some(sha), Some(bytes), Some(count)) = (
        event["artifact_sha256"].as_str(),
        event["artifact_bytes"].as_u64(),
        event["artifact_chunks"].as_u64(),
    ) else {
        return Err(PullError::NotPublished { model });
    };
    let topic = format!("{prefix}.{STREAM}");
    let mut parts: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let stem = format!("{model}/");
    read_all(cluster, &topic, |m| {
        let index = m
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .and_then(|k| k.strip_prefix(&stem))
            .and_then(|i| i.parse::<u64>().ok());
        if let Some(i) = index {
            // The latest copy of a chunk wins, as compaction keeps it.
            parts.insert(i, m.payload().unwrap_or_default().to_vec());
        }
    })?;
    let corrupt = |reason: String| PullError::Corrupt {
        model: model.clone(),
        topic: topic.clone(),
        reason,
    };
    if let Some(missing) = (0..count).find(|i| !parts.contains_key(i)) {
        return Err(corrupt(format!(
            "chunk {missing} of {count} is missing ({} found)",
            parts.len()
        )));
    }
    let file: Vec<u8> = (0..count).flat_map(|i| parts.remove(&i).unwrap()).collect();
    if file.len() as u64 != bytes {
        return Err(corrupt(format!(
            "{} bytes in {count} chunks, the model event says {bytes}",
            file.len()
        )));
    }
    let got = sha256(&file);
    if got != sha {
        return Err(corrupt(format!(
            "SHA-256 {got}, the model event says {sha}"
        )));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Headers;

    #[test]
    fn files_are_cut_below_the_message_limit_and_named_by_model_and_index() {
        let file: Vec<u8> = (0..CHUNK * 2 + 10).map(|i| (i % 251) as u8).collect();
        let (messages, published) = chunks("v/m-0001", "m-0001", &file);
        assert_eq!(published.chunks, 3);
        assert_eq!(published.bytes, file.len() as u64);
        assert_eq!(published.sha256, sha256(&file));
        let keys: Vec<&str> = messages.iter().map(|m| m.0.as_str()).collect();
        assert_eq!(keys, ["v/m-0001/0", "v/m-0001/1", "v/m-0001/2"]);
        assert!(messages.iter().all(|m| m.2.len() <= CHUNK));
        let joined: Vec<u8> = messages.iter().flat_map(|m| m.2.to_vec()).collect();
        assert_eq!(joined, file);
        let h = &messages[1].1;
        let get = |k: &str| {
            h.iter()
                .find(|x| x.key == k)
                .map(|x| String::from_utf8(x.value.unwrap().to_vec()).unwrap())
        };
        assert_eq!(get("sluice-chunk").as_deref(), Some("1/3"));
        assert_eq!(get("sluice-model").as_deref(), Some("m-0001"));
        // The empty file is one empty chunk.
        let (messages, published) = chunks("m", "m", &[]);
        assert_eq!((messages.len(), published.chunks), (1, 1));
        assert_eq!(
            sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
