//! Kafka client properties whose values are secrets (`[kafka.secret_properties]`).
//!
//! A SASL password or a TLS key password must not sit in `provisioner.toml`,
//! which lives in a ConfigMap or a repository. So the file names *where* the
//! value is — an environment variable or a file (a mounted Kubernetes or
//! Docker secret) — and the value is read once, when the configuration is
//! loaded:
//!
//! ```toml
//! [kafka.secret_properties]
//! "sasl.password" = { env = "KAFKA_PASSWORD" }
//! "ssl.key.password" = { file = "/run/secrets/kafka-key-password" }
//! ```
//!
//! Errors name the property and the variable or file, never a value; the
//! resolved value prints as `***` in `Debug`, so logging a `Config` cannot
//! leak it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// Where a secret property's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum SecretSource {
    /// `{ env = "NAME" }`: the value of an environment variable.
    Env(String),
    /// `{ file = "/path" }`: the contents of a file, without a trailing newline.
    File(PathBuf),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(var) => write!(f, "environment variable {var}"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// A resolved secret value. `Debug` prints `***`; [`SecretValue::expose`]
/// is the one place the value is read (when a Kafka client is configured).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// The value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Why a secret property could not be resolved: (reason), with the source named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretProblem {
    /// The librdkafka property, e.g. `sasl.password`.
    pub property: String,
    /// Where the value was to come from.
    pub source: SecretSource,
    /// What went wrong (never the value).
    pub reason: String,
}

/// Reads every secret property's value from its source.
pub fn resolve(
    sources: &BTreeMap<String, SecretSource>,
) -> Result<BTreeMap<String, SecretValue>, SecretProblem> {
    let mut values = BTreeMap::new();
    for (property, source) in sources {
        let problem = |reason: String| SecretProblem {
            property: property.clone(),
            source: source.clone(),
            reason,
        };
        let value = match source {
            SecretSource::Env(var) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => v,
                Ok(_) => return Err(problem("is empty".into())),
                Err(std::env::VarError::NotPresent) => return Err(problem("is not set".into())),
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(problem("is not valid UTF-8".into()))
                }
            },
            SecretSource::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| problem(format!("cannot be read: {e}")))?;
                // Secret files often end with a newline the value does not have.
                let value = text.trim_end_matches(['\n', '\r']).to_string();
                if value.is_empty() {
                    return Err(problem("is empty".into()));
                }
                value
            }
        };
        values.insert(property.clone(), SecretValue(value));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_values_lose_the_trailing_newline_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cr3t-value\n").unwrap();
        let sources = BTreeMap::from([("sasl.password".to_string(), SecretSource::File(path))]);
        let values = resolve(&sources).unwrap();
        assert_eq!(values["sasl.password"].expose(), "s3cr3t-value");
        assert!(!format!("{values:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_missing_variable_is_named() {
        let var = "PROVISIONER_TEST_SECRET_THAT_IS_NEVER_SET";
        let sources = BTreeMap::from([(
            "sasl.password".to_string(),
            SecretSource::Env(var.to_string()),
        )]);
        let problem = resolve(&sources).unwrap_err();
        assert_eq!(
            problem.source.to_string(),
            format!("environment variable {var}")
        );
        assert_eq!(problem.reason, "is not set");
    }

    #[test]
    fn a_missing_file_is_named() {
        let sources = BTreeMap::from([(
            "ssl.key.password".to_string(),
            SecretSource::File("/nonexistent/kafka-secret".into()),
        )]);
        let problem = resolve(&sources).unwrap_err();
        assert!(problem
            .source
            .to_string()
            .contains("/nonexistent/kafka-secret"));
        assert!(
            problem.reason.starts_with("cannot be read"),
            "{}",
            problem.reason
        );
    }
}
