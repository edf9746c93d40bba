//! librdkafka's own check of one client setting, for the config loader: it imports nothing
//! from the rest of Sluice, so `config` can ask librdkafka without rdkafka leaving
//! `source/kafka` and `sink/kafka`, and without an import cycle.

use rdkafka::config::ClientConfig;

/// librdkafka's description of why it refuses `key = value`, or `None` when it takes it.
///
/// The description may quote the value: callers must not show it for a secret.
pub fn librdkafka_refuses(key: &str, value: &str) -> Option<String> {
    let mut c = ClientConfig::new();
    c.set(key, value);
    match c.create_native_config() {
        Err(rdkafka::error::KafkaError::ClientConfig(_, desc, _, _)) => Some(desc),
        Err(e) => Some(e.to_string()),
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn librdkafka_takes_known_settings_and_names_what_it_refuses() {
        assert_eq!(librdkafka_refuses("security.protocol", "SASL_SSL"), None);
        assert_eq!(librdkafka_refuses("sasl.mechanism", "PLAIN"), None);
        let why = librdkafka_refuses("security.protocol", "carrier_pigeon").expect("refused");
        assert!(why.contains("carrier_pigeon"), "{why}");
        assert!(librdkafka_refuses("no.such.setting", "1").is_some());
    }
}
