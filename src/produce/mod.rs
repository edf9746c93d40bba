//! `sluice produce`: publishes a dataset (a CSV or Arrow file, or a bundled dataset by name) to
//! a topic as a stream. Each row goes to partition `route(key) % partitions` and rows are sent
//! in event-time order, so every partition is time-ordered (what the Kafka source expects).
//!
//! - `json`: each row is one message, a JSON object (all columns; numbers stay numbers), keyed
//!   by its key column and stamped with its event time.
//! - `arrow`: up to `batch_rows` consecutive rows of a partition form one message, an Arrow IPC
//!   stream (one schema for the whole dataset, inferred from its values), stamped with the
//!   event time of its first row, without a message key.
//!
//! A producer, not a source: it imports the Kafka client only through `sink::kafka`.
//!
//! | file | responsibility |
//! |---|---|
//! | `rows.rs` | [`Row`] and [`read_rows`]: a CSV or Arrow IPC file as JSON objects |
//! | `encode.rs` | [`infer_schema`] and [`encode`]: rows as one Arrow IPC stream message |
//! | `error.rs` | [`ProduceError`]: what could not be read or published |
//! | `publish.rs` | [`produce`]: rows sorted by time, routed to partitions, paced, published |

mod encode;
mod error;
mod publish;
mod rows;

pub use encode::{encode, infer_schema};
pub use error::ProduceError;
pub use publish::{ProduceOptions, ProduceReport, produce};
pub use rows::{Row, read_rows};
