//! The parts of the management API's answers that the exporter reads.

use serde::Deserialize;

/// One client key of a project (`GET /api/0/projects/{org}/{slug}/keys/`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectKey {
    #[serde(default)]
    pub public: Option<String>,
    #[serde(default)]
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
