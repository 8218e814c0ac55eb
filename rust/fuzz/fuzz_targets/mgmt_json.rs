//! The management API's JSON answers, as the client reads them.
//!
//! Input: a JSON body, read as each list the client asks for (projects,
//! project keys, teams) and as the ignored answer of a project creation.
//! Properties: no panic; a project's id is what the JSON says (a number, or a
//! string of one); the keys of a keys list feed `endpoint::from_keys`, whose
//! accepted endpoints are http(s) with a host; teams give slugs or nothing; reading projects
//! and deriving an endpoint cost at most `COST_PER_BYTE` per byte (`cost`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sentry_exporter_fuzz::cost::{assert_linear, assert_per_byte, measure, Cost};

const COST_PER_BYTE: Cost = Cost {
    regions: 4_000,
    allocated: 256,
};
use sentry_exporter_core::ingest::endpoint::from_keys;
use sentry_exporter_core::mgmt::models::{Project, ProjectKey, Team};
use sentry_exporter_core::signal::OtlpSignal;
use sentry_exporter_core::slug::Slug;
use serde::Deserialize;

/// A project as the JSON has it (other fields are skipped the same way).
#[derive(Deserialize)]
struct RawProject {
    id: serde_json::Value,
    slug: String,
}

fuzz_target!(|data: &[u8]| {
    let projects = assert_linear("projects", data, COST_PER_BYTE, |d| {
        serde_json::from_slice::<Vec<Project>>(d)
    });
    if let Ok(projects) = projects {
        let raw: Vec<RawProject> = serde_json::from_slice(data).unwrap();
        assert_eq!(raw.len(), projects.len());
        for (project, raw) in projects.iter().zip(&raw) {
            let id = &raw.id;
            let want = id
                .as_u64()
                .or_else(|| id.as_str().and_then(|s| s.parse().ok()));
            assert_eq!(Some(project.id), want, "{:?}", raw.id);
            assert_eq!(project.slug, raw.slug);
        }
    }
    if let Ok(keys) = serde_json::from_slice::<Vec<ProjectKey>>(data) {
        let (endpoint, cost) = measure(|| from_keys(&keys));
        assert_per_byte("from_keys", data.len(), cost, COST_PER_BYTE);
        if let Ok(endpoint) = endpoint {
            for signal in [OtlpSignal::Traces, OtlpSignal::Logs] {
                let url = endpoint.url(signal);
                assert!(matches!(url.scheme(), "http" | "https"), "{url}");
                assert!(url.host_str().is_some_and(|h| !h.is_empty()), "{url}");
            }
        }
    }
    if let Ok(teams) = serde_json::from_slice::<Vec<Team>>(data) {
        for team in &teams {
            let _ = Slug::parse(&team.slug);
        }
    }
    let _ = serde_json::from_slice::<serde::de::IgnoredAny>(data);
});
