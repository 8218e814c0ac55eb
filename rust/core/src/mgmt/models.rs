//! The parts of the management API's answers that the exporter reads.

use serde::{Deserialize, Deserializer};

/// One client key of a project (project keys and org project-keys lists).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectKey {
    #[serde(default)]
    pub public: Option<String>,
    #[serde(default, deserialize_with = "id_from_number_or_string")]
    pub project_id: Option<u64>,
    #[serde(default)]
    pub is_active: bool,
    pub dsn: KeyDsn,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KeyDsn {
    pub public: String,
    #[serde(default)]
    pub otlp_traces: Option<String>,
    #[serde(default)]
    pub otlp_logs: Option<String>,
}

/// One project of the organization's project list.
#[derive(Debug, Clone, Deserialize)]
pub struct Project {
    #[serde(deserialize_with = "id_from_number_or_string_required")]
    pub id: u64,
    pub slug: String,
}

/// One team of the organization's team list.
#[derive(Debug, Clone, Deserialize)]
pub struct Team {
    pub slug: String,
}

/// Sentry sends ids as strings in some answers and as numbers in others.
#[derive(Deserialize)]
#[serde(untagged)]
enum Id {
    Number(u64),
    Text(String),
}

fn id_from_number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Id>::deserialize(d)? {
        Some(Id::Number(n)) => Some(n),
        Some(Id::Text(s)) => s.parse().ok(),
        None => None,
    })
}

fn id_from_number_or_string_required<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    id_from_number_or_string(d)?.ok_or_else(|| serde::de::Error::custom("id is not a number"))
}
