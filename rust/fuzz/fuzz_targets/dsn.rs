//! The ingest endpoint derived from a project key (`ingest::endpoint::from_keys`).
//!
//! Input: UTF-8 lines: `dsn.public`, `dsn.otlp_traces`, `dsn.otlp_logs`,
//! `public`, `projectId`; a missing or empty line is an absent field (and a
//! `projectId` that is not a number too).
//! Properties: no panic; an accepted endpoint's URLs are http(s) with a host;
//! a URL derived from the DSN carries no user, password, query or fragment and
//! its path ends in `/api/{project_id}/integration/otlp/v1/{signal}/`; a given
//! `otlp_*` URL is used as given; the public key is not empty; deriving the endpoint costs at
//! most `COST_PER_BYTE` per byte (`cost`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sentry_exporter_fuzz::cost::{assert_per_byte, measure, Cost};

/// The url crate's IDNA is quadratic in a host label of non-ASCII text up to its own bound on
/// label length (past about 2,500 bytes here the host is refused at once): about 11,000
/// operations a byte at most then.
const COST_PER_BYTE: Cost = Cost {
    regions: 50_000,
    allocated: 128,
};
use sentry_exporter_core::ingest::endpoint::from_keys;
use sentry_exporter_core::mgmt::models::{KeyDsn, ProjectKey};
use sentry_exporter_core::signal::OtlpSignal;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let mut next = || lines.next().filter(|l| !l.is_empty()).map(str::to_owned);
    let public_dsn = next().unwrap_or_default();
    let otlp_traces = next();
    let otlp_logs = next();
    let public = next();
    let project_id = next().and_then(|id| id.parse().ok());
    let key = ProjectKey {
        public,
        project_id,
        is_active: true,
        dsn: KeyDsn {
            public: public_dsn,
            otlp_traces,
            otlp_logs,
        },
    };
    let inactive = ProjectKey {
        is_active: false,
        ..key.clone()
    };
    let (endpoint, cost) = measure(|| from_keys(&[inactive, key.clone()]));
    assert_per_byte("from_keys", data.len(), cost, COST_PER_BYTE);
    let Ok(endpoint) = endpoint else {
        return;
    };
    assert!(!endpoint.public_key.is_empty());
    for (signal, given, name) in [
        (OtlpSignal::Traces, &key.dsn.otlp_traces, "traces"),
        (OtlpSignal::Logs, &key.dsn.otlp_logs, "logs"),
    ] {
        let url = endpoint.url(signal);
        assert!(matches!(url.scheme(), "http" | "https"), "{url}");
        assert!(url.host_str().is_some_and(|h| !h.is_empty()), "{url}");
        match given {
            Some(given) => assert_eq!(url, &url::Url::parse(given).unwrap()),
            None => {
                assert!(
                    url.username().is_empty() && url.password().is_none(),
                    "{url}"
                );
                assert!(url.query().is_none() && url.fragment().is_none(), "{url}");
                let tail = format!("/api/{}/integration/otlp/v1/{name}/", endpoint.project_id);
                assert!(url.path().ends_with(&tail), "{url}");
            }
        }
    }
});
