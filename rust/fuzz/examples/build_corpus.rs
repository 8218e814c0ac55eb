//! Writes the seed corpus of every fuzz target into `rust/fuzz/corpus/`:
//! `cargo run --manifest-path rust/fuzz/Cargo.toml --example build_corpus`.
//! Seeds are small, real inputs; the files are committed, so rerun this only
//! after changing the seeds here (the output is deterministic).

use std::fs;
use std::path::Path;

use sentry_exporter_core::testdata::{
    cumulative_counter, cumulative_histogram, exception, exception_log, exception_span,
    logs_request, metrics_request, traces_request, Resource,
};

fn write(dir: &Path, target: &str, name: &str, data: &[u8]) {
    let dir = dir.join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(name), data).unwrap();
}

/// The router's input: one option byte (see the target), then the request.
fn with_options(options: u8, request: Vec<u8>) -> Vec<u8> {
    let mut data = vec![options];
    data.extend(request);
    data
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mixed = [
        Resource::service("checkout", 2),
        Resource::service("Orders_Service", 1),
        Resource::service("checkout", 1),
    ];
    let odd = [
        Resource::service("", 1),
        Resource::without_service(1),
        Resource::int_service(7, 1),
        Resource::service("1234", 1),
        Resource::service("café-ü.v2", 1),
        Resource::service("svc", 1).with("deployment.environment", "Prod"),
    ];
    let router = "router_roundtrip";
    write(
        &dir,
        router,
        "traces-three-resources",
        &with_options(0, traces_request(&mixed)),
    );
    write(
        &dir,
        router,
        "logs-three-resources",
        &with_options(1, logs_request(&mixed)),
    );
    write(
        &dir,
        router,
        "traces-unroutable-fallback",
        &with_options(2, traces_request(&odd)),
    );
    write(
        &dir,
        router,
        "logs-unroutable-mapping",
        &with_options(5, logs_request(&odd)),
    );
    write(
        &dir,
        router,
        "traces-by-environment",
        &with_options(8, traces_request(&odd)),
    );
    write(&dir, router, "logs-empty", &[1]);
    // Bit 4: the bytes drive the target's request generator.
    let generator: Vec<u8> = (0u8..=255).map(|b| b.wrapping_mul(37)).collect();
    write(
        &dir,
        router,
        "traces-generated",
        &with_options(16 | 2, generator.clone()),
    );
    write(
        &dir,
        router,
        "logs-generated",
        &with_options(16 | 1, generator),
    );

    let utf8 = "utf8_repair";
    // Bit 1: each `~` becomes 0xff, invalid UTF-8 in the strings of a valid request.
    let spoiled = [
        Resource::service("check~out", 2).with("k~ey", "~"),
        Resource::without_service(1).with("plain", "café-ü"),
    ];
    write(
        &dir,
        utf8,
        "traces-spoiled",
        &with_options(2, traces_request(&spoiled)),
    );
    write(
        &dir,
        utf8,
        "logs-spoiled",
        &with_options(3, logs_request(&spoiled)),
    );
    write(
        &dir,
        utf8,
        "traces-valid",
        &with_options(0, traces_request(&mixed)),
    );

    let rate_limits = "rate_limits";
    // Status byte 0: 429, 1: 200, 2: 503.
    write(&dir, rate_limits, "span-key", b"\x0060:span:key\n");
    write(
        &dir,
        rate_limits,
        "several-entries",
        b"\x00 10 : span ; transaction : key : r1 ,  20:log_byte:organization:r2 , 2.5::organization\n",
    );
    write(&dir, rate_limits, "retry-after-seconds", b"\x00\n120");
    write(
        &dir,
        rate_limits,
        "retry-after-date",
        b"\x00\nTue, 14 Nov 2023 22:15:00 GMT",
    );
    write(
        &dir,
        rate_limits,
        "200-log-limit",
        b"\x0145:log_item;error:project:quota_exceeded\n",
    );
    write(
        &dir,
        rate_limits,
        "503-garbage",
        b"\x02abc:span:key, 1e999:span, -5:log_item\nsoon",
    );

    let link = "link_header";
    write(
        &dir,
        link,
        "sentry-next",
        br#"<https://sentry.io/api/0/organizations/acme/projects/?&cursor=100:-1:1>; rel="previous"; results="false"; cursor="100:-1:1", <https://sentry.io/api/0/organizations/acme/projects/?&cursor=100:1:0>; rel="next"; results="true"; cursor="100:1:0""#,
    );
    write(
        &dir,
        link,
        "last-page",
        br#"<https://s/x/?&cursor=2:0:1>; rel="previous"; results="true"; cursor="2:0:1", <https://s/x/?&cursor=2:4:0>; rel="next"; results="false"; cursor="2:4:0""#,
    );
    write(
        &dir,
        link,
        "odd-spacing",
        br#"<https://s/x/?a=1,b=2&cursor=9>;results=true ;REL=next;  cursor = "c1" "#,
    );

    let dsn = "dsn";
    write(
        &dir,
        dsn,
        "sentry-io",
        b"https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/42\n\n\n\n42",
    );
    write(
        &dir,
        dsn,
        "self-hosted-prefix",
        b"http://abc:secret@sentry.internal:8443/sentry/eu/42/?x=1#f",
    );
    write(
        &dir,
        dsn,
        "otlp-urls",
        b"https://abc@o1.ingest.sentry.io/42\nhttp://127.0.0.1:7000/api/42/integration/otlp/v1/traces\nhttp://127.0.0.1:7000/api/42/integration/otlp/v1/logs\n0123456789abcdef0123456789abcdef\n42",
    );
    write(&dir, dsn, "no-project-id", b"https://k@h/\n\n\n\n7");
    // Found by the target: a DSN of another scheme made non-http ingest URLs.
    write(
        &dir,
        dsn,
        "regression-scheme",
        b"httpq://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/42\n\n\n\n42",
    );

    let json = "mgmt_json";
    write(
        &dir,
        json,
        "projects",
        br#"[{"id":"4505","slug":"checkout","name":"Checkout","platform":"other"},{"id":17,"slug":"orders"}]"#,
    );
    write(
        &dir,
        json,
        "project-keys",
        br#"[{"id":"k1","public":"0123456789abcdef0123456789abcdef","projectId":42,"isActive":true,"dsn":{"secret":"https://a:b@o1.ingest.sentry.io/42","public":"https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/42","otlp_traces":"https://o1.ingest.sentry.io/api/42/integration/otlp/v1/traces","otlp_logs":"https://o1.ingest.sentry.io/api/42/integration/otlp/v1/logs"}},{"public":"x","projectId":"43","isActive":false,"dsn":{"public":"http://x@h/43"}}]"#,
    );
    write(
        &dir,
        json,
        "teams",
        br#"[{"id":"1","slug":"backend","name":"Backend"},{"slug":"Not A Slug"}]"#,
    );
    write(
        &dir,
        json,
        "created",
        br#"{"id":"99","slug":"new-project","team":{"slug":"backend"}}"#,
    );

    let exceptions = "exceptions";
    let traceback = "Traceback (most recent call last):\n  File \"/srv/app.py\", line 3, in main\n    f()\nValueError: no\n";
    let python = Resource::service("shop", 0).with("telemetry.sdk.language", "python");
    let span = exception_span(7, 1, "checkout", exception("ValueError", "no", traceback));
    write(
        &dir,
        exceptions,
        "traces-python-exception",
        &with_options(2, traces_request(&[python.clone().with_spans(vec![span])])),
    );
    let record = exception_log(7, 1, exception("ValueError", "no", traceback));
    write(
        &dir,
        exceptions,
        "logs-python-exception",
        &with_options(1, logs_request(&[python.with_log_records(vec![record])])),
    );
    write(&dir, exceptions, "generated", &[4, 3, 1, 7, 9, 200, 0, 5]);
    let metrics = "metrics";
    let counter = cumulative_counter("orders", 1, 2, 5.0);
    let histogram = cumulative_histogram("latency", 1, 2, &[10.0, 20.0, 30.0, 40.0]);
    write(
        &dir,
        metrics,
        "counter-and-histogram",
        &metrics_request("shop", vec![counter, histogram]),
    );
}
