//! The Kafka connection flags `produce` and `tail` share.

use super::UsageError;

/// Where `produce` and `tail` connect.
#[derive(clap::Args, Debug)]
pub struct ClusterArgs {
    /// Bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// A Kafka security setting, KEY=VALUE (`security.protocol`, `sasl.*`, `ssl.*`);
    /// repeatable.
    #[arg(long = "kafka", value_name = "KEY=VALUE")]
    kafka: Vec<String>,
    /// A Kafka security setting whose value is environment variable NAME (secrets such as
    /// `sasl.password` must come this way); repeatable.
    #[arg(long = "kafka-env", value_name = "KEY=NAME")]
    kafka_env: Vec<String>,
}

impl ClusterArgs {
    /// The brokers with their settings; a bad setting is a usage error (exit 2).
    pub fn cluster(self) -> Result<sluice::config::KafkaCluster, UsageError> {
        Ok(sluice::config::KafkaCluster {
            properties: sluice::config::KafkaProperties::from_flags(&self.kafka, &self.kafka_env)
                .map_err(UsageError)?,
            brokers: self.brokers,
        })
    }
}
