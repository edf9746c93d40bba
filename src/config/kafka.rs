//! `[source.kafka]`, `[output.kafka]` and an evaluation topic's `kafka`: the security settings
//! (SASL, SSL) a Kafka client passes through to librdkafka, with secrets from the environment.
//!
//! Only `security.protocol`, `sasl.*` and `ssl.*` are accepted: every other client setting is
//! Sluice's (offsets, groups, timeouts). Two of those keys would make librdkafka run or load
//! code named by the config (`sasl.kerberos.kinit.cmd` is a shell command, `ssl.engine.location`
//! and `ssl.providers` load libraries), so they are refused: nothing in a config is executed.
//!
//! Secrets (passwords, client secrets, private keys) must be written `{ env = "NAME" }`: the
//! value is read from the environment when the config is loaded, so it is never in the config
//! file, nor in the copy of it in the run directory, and [`KafkaProperties`]' `Debug` prints
//! `***` for it. Sluice writes no client setting into logs, events or errors.

use std::collections::BTreeMap;
use std::fmt;

use super::error::ConfigError;
use super::fields::err;
use crate::source::kafka::setting::librdkafka_refuses;

/// Where a Kafka client connects: bootstrap servers and the security settings to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaCluster {
    /// Bootstrap servers.
    pub brokers: String,
    /// librdkafka security settings.
    pub properties: KafkaProperties,
}

impl KafkaCluster {
    /// A cluster reached without security settings (PLAINTEXT).
    pub fn plain(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            properties: KafkaProperties::default(),
        }
    }
}

/// librdkafka properties (`security.protocol`, `sasl.*`, `ssl.*`), validated.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KafkaProperties(Vec<Property>);

#[derive(Clone, PartialEq, Eq)]
struct Property {
    key: String,
    value: String,
    /// The environment variable it came from.
    env: Option<String>,
}

impl KafkaProperties {
    /// `(key, value)` pairs for a client config; the values include secrets.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|p| (p.key.as_str(), p.value.as_str()))
    }

    /// Properties from `KEY=VALUE` pairs and `KEY=NAME` pairs whose value is environment
    /// variable `NAME` (`sluice produce`/`tail`'s `--kafka` and `--kafka-env`); errors name the
    /// flag.
    pub fn from_flags(plain: &[String], env: &[String]) -> Result<Self, String> {
        let mut table = BTreeMap::new();
        for (flag, pairs) in [("--kafka", plain), ("--kafka-env", env)] {
            for pair in pairs {
                let Some((k, v)) = pair.split_once('=') else {
                    return Err(format!("{flag} {pair}: expected KEY=VALUE"));
                };
                let v = if flag == "--kafka" {
                    toml::Value::String(v.into())
                } else {
                    toml::Value::Table(toml::map::Map::from_iter([(
                        "env".to_string(),
                        toml::Value::String(v.into()),
                    )]))
                };
                if table.insert(k.to_string(), v).is_some() {
                    return Err(format!("{flag} {k}: given twice"));
                }
            }
        }
        let mut errors = Vec::new();
        let props = properties(Some(table), "kafka", &mut errors);
        match errors.first() {
            None => Ok(props),
            Some(e) => Err(format!(
                "{}: {}",
                e.key.replacen("kafka.", "--kafka ", 1),
                e.message
                    .replace("{ env = \"NAME\" }", "--kafka-env KEY=NAME")
            )),
        }
    }
}

/// Secrets are printed as `***`.
impl fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|p| {
                let shown = if p.env.is_some() || is_secret(&p.key) {
                    "***"
                } else {
                    p.value.as_str()
                };
                (&p.key, shown)
            }))
            .finish()
    }
}

/// Keys whose values are secrets: they must come from the environment.
fn is_secret(key: &str) -> bool {
    key.ends_with("password")
        || key.ends_with("secret")
        || matches!(key, "ssl.key.pem" | "ssl_key" | "sasl.oauthbearer.config")
}

/// Keys that would make librdkafka execute or load code named by the config.
const CODE: [&str; 3] = [
    "sasl.kerberos.kinit.cmd",
    "ssl.engine.location",
    "ssl.providers",
];

/// Validates a `kafka` table at `at` (e.g. `source.kafka`): allowed keys, string / integer /
/// boolean values or `{ env = "NAME" }`, secrets only from the environment, and what librdkafka
/// itself says of each key and value.
pub(super) fn properties(
    table: Option<BTreeMap<String, toml::Value>>,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> KafkaProperties {
    let mut out = Vec::new();
    for (key, value) in table.unwrap_or_default() {
        let path = format!("{at}.\"{key}\"");
        if CODE.contains(&key.as_str()) {
            err(
                errors,
                path,
                "not allowed: librdkafka would run or load the code it names, and nothing in a \
                 config is executed",
            );
            continue;
        }
        if !(key == "security.protocol" || key.starts_with("sasl.") || key.starts_with("ssl.")) {
            err(
                errors,
                path,
                "unknown key; only Kafka security settings pass through (`security.protocol`, \
                 `sasl.*`, `ssl.*`)",
            );
            continue;
        }
        let (value, env) = match value {
            toml::Value::String(s) => (s, None),
            toml::Value::Integer(i) => (i.to_string(), None),
            toml::Value::Boolean(b) => (b.to_string(), None),
            toml::Value::Table(t) if t.len() == 1 && t.get("env").is_some_and(|v| v.is_str()) => {
                let name = t["env"].as_str().unwrap_or_default().to_string();
                match std::env::var(&name) {
                    Ok(v) => (v, Some(name)),
                    Err(_) => {
                        err(
                            errors,
                            path,
                            format!("environment variable `{name}` is not set (or not UTF-8)"),
                        );
                        continue;
                    }
                }
            }
            _ => {
                err(
                    errors,
                    path,
                    "expected a string, an integer, a boolean or { env = \"NAME\" }",
                );
                continue;
            }
        };
        if env.is_none() && is_secret(&key) {
            err(
                errors,
                path,
                "a secret: give it as { env = \"NAME\" } so it stays out of the config and the \
                 run directory",
            );
            continue;
        }
        // librdkafka's own check of the key and value; its message names the value, which
        // may be a secret, so only its description is kept.
        if let Some(desc) = librdkafka_refuses(&key, &value) {
            let desc = if env.is_some() || is_secret(&key) {
                "librdkafka refuses this value".to_string()
            } else {
                desc
            };
            err(errors, path, desc);
            continue;
        }
        out.push(Property { key, value, env });
    }
    KafkaProperties(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (KafkaProperties, Vec<ConfigError>) {
        let table: BTreeMap<String, toml::Value> = toml::from_str(text).unwrap();
        let mut errors = Vec::new();
        let p = properties(Some(table), "source.kafka", &mut errors);
        (p, errors)
    }

    #[test]
    fn secrets_come_from_the_environment_and_are_never_printed() {
        // Setting a variable needs `unsafe` (the crate forbids it): PATH is always set.
        let name = "PATH";
        let secret = std::env::var(name).unwrap();
        let (p, errors) = parse(&format!(
            "\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanism\" = \"PLAIN\"\n\
             \"sasl.username\" = \"sluice\"\n\"sasl.password\" = {{ env = \"{name}\" }}\n\
             \"ssl.endpoint.identification.algorithm\" = \"none\"\n"
        ));
        assert!(errors.is_empty(), "{errors:?}");
        let pairs: Vec<_> = p.iter().collect();
        assert!(pairs.contains(&("sasl.password", secret.as_str())));
        assert!(pairs.contains(&("sasl.username", "sluice")));
        let shown = format!("{p:?}");
        assert!(!shown.contains(&secret), "{shown}");
        assert!(shown.contains("\"sasl.password\": \"***\""), "{shown}");
        assert!(shown.contains("\"sasl.username\": \"sluice\""), "{shown}");
    }

    #[test]
    fn literal_secrets_other_keys_and_code_are_refused_with_their_key_path() {
        let (_, errors) = parse(
            "\"sasl.password\" = \"hunter2\"\n\"bootstrap.servers\" = \"x:1\"\n\
             \"sasl.kerberos.kinit.cmd\" = \"touch /tmp/pwned\"\n\"ssl.engine.location\" = \"/x.so\"\n\
             \"sasl.username\" = { env = \"SLUICE_TEST_SURELY_UNSET_9c1\" }\n\
             \"security.protocol\" = \"carrier_pigeon\"\n\"ssl.key.password\" = 3\n\
             \"sasl.mechanism\" = [\"PLAIN\"]\n",
        );
        let keys: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.key.as_str(), e.message.as_str()))
            .collect();
        let has = |k: &str, m: &str| {
            assert!(
                keys.iter().any(|(key, msg)| *key == k && msg.contains(m)),
                "{k}: {m} not in {keys:?}"
            )
        };
        has("source.kafka.\"sasl.password\"", "{ env = \"NAME\" }");
        has("source.kafka.\"ssl.key.password\"", "a secret");
        has(
            "source.kafka.\"bootstrap.servers\"",
            "only Kafka security settings",
        );
        has(
            "source.kafka.\"sasl.kerberos.kinit.cmd\"",
            "nothing in a config is executed",
        );
        has(
            "source.kafka.\"ssl.engine.location\"",
            "nothing in a config is executed",
        );
        has(
            "source.kafka.\"sasl.username\"",
            "`SLUICE_TEST_SURELY_UNSET_9c1` is not set",
        );
        has("source.kafka.\"security.protocol\"", "carrier_pigeon");
        has("source.kafka.\"sasl.mechanism\"", "expected a string");
        assert_eq!(errors.len(), 8, "{keys:?}");
        assert!(!format!("{errors:?}").contains("hunter2"));
    }
}
