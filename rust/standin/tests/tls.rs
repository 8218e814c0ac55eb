//! `--tls-dir`: HTTPS on every listener with a CA made at start, and the proxy side of the main
//! listener (absolute-form requests, CONNECT tunnels).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use sentry_standin::{Config, Running};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("standin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A client that trusts only the stand-in's CA.
fn tls_client(ca_file: &Path) -> reqwest::Client {
    let pem = std::fs::read(ca_file).expect("ca.pem");
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .build()
        .expect("client")
}

async fn tls_standin(dir: &Path, ingest_listen: bool) -> Running {
    standin(Config {
        tls_dir: Some(dir.to_path_buf()),
        ingest_listen: ingest_listen.then(|| "127.0.0.1:0".parse().expect("addr")),
        ingest_path_prefix: if ingest_listen { "/sentry" } else { "" }.into(),
        ..Config::default()
    })
    .await
}

#[tokio::test]
async fn https_with_the_written_ca_for_both_names() {
    let dir = temp_dir("tls-names");
    let s = tls_standin(&dir, false).await;
    let ca = s.ca_file.clone().expect("ca_file");
    assert_eq!(ca, std::fs::canonicalize(dir.join("ca.pem")).expect("path"));
    assert!(s.api.starts_with("https://127.0.0.1:"), "{}", s.api);
    assert_eq!(s.ingest, s.api);
    let banner: Value = serde_json::from_str(&s.startup_line()).expect("json");
    assert_eq!(banner["ca_file"], ca.display().to_string());
    assert_eq!(banner["api"], s.api);

    let client = tls_client(&ca);
    let (status, health) = get_json_with(&client, &format!("{}/_standin/health", s.api)).await;
    assert_eq!((status, &health["status"]), (200, &Value::from("ok")));
    let localhost = s.api.replace("127.0.0.1", "localhost");
    let (status, projects) = get_json_with(
        &client,
        &format!("{localhost}/api/0/organizations/acme/projects/"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(projects.as_array().map(Vec::len), Some(3));

    // Without the CA: refused, as an unknown issuer.
    let err = reqwest::Client::new()
        .get(format!("{}/_standin/health", s.api))
        .send()
        .await
        .expect_err("untrusted certificate");
    let chain = format!("{:?}", err);
    assert!(chain.contains("UnknownIssuer"), "{chain}");
    // Plain HTTP on the TLS port gets no answer.
    assert!(reqwest::Client::new()
        .get(format!(
            "{}/_standin/health",
            s.api.replace("https", "http")
        ))
        .send()
        .await
        .is_err());
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn dsns_use_https_and_ingest_works_over_tls() {
    let dir = temp_dir("tls-ingest");
    let s = tls_standin(&dir, true).await;
    let client = tls_client(s.ca_file.as_deref().expect("ca"));
    assert!(s.ingest.starts_with("https://127.0.0.1:") && s.ingest.ends_with("/sentry"));
    let (status, keys) = get_json_with(
        &client,
        &format!("{}/api/0/projects/acme/frontend/keys/", s.api),
    )
    .await;
    assert_eq!(status, 200);
    let key = &keys[0];
    let public = key["public"].as_str().expect("public");
    let dsn = key["dsn"]["public"].as_str().expect("dsn");
    assert!(
        dsn.starts_with(&format!("https://{public}@127.0.0.1:")),
        "{dsn}"
    );
    let otlp = key["dsn"]["otlp_traces"].as_str().expect("otlp_traces");
    assert!(otlp.starts_with(&s.ingest), "{otlp}");

    let resp = client
        .post(otlp)
        .header("x-sentry-auth", format!("Sentry sentry_key={public}"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(gzip(&traces("web", 1, 0, 4)))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    let (_, records) = get_json_with(&client, &format!("{}/_standin/records", s.api)).await;
    assert_eq!(records["projects"]["frontend"]["span_total"], 4);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn absolute_form_requests_are_served_as_a_proxy() {
    let s = standin(Config::default()).await;
    let proxied = reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(&s.api).expect("proxy"))
        .build()
        .expect("client");
    let (status, body) = get_json_with(&proxied, "http://sentry.invalid:9/_standin/health").await;
    assert_eq!((status, &body["status"]), (200, &Value::from("ok")));
    let (status, projects) = get_json_with(
        &proxied,
        "http://sentry.invalid:9/api/0/organizations/acme/projects/",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(projects.as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn connect_tunnels_to_loopback_only() {
    let dir = temp_dir("tls-connect");
    let target = tls_standin(&dir, false).await;
    let proxy = standin(Config::default()).await;

    // HTTPS through the plain stand-in's CONNECT tunnel, as reqwest does it. The client
    // itself would take `localhost` to an unreachable address: only the proxy gets there.
    let pem = std::fs::read(target.ca_file.as_deref().expect("ca")).expect("pem");
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("pem"))
        .resolve("localhost", "192.0.2.1:9".parse().expect("addr"))
        .connect_timeout(std::time::Duration::from_secs(5))
        .proxy(reqwest::Proxy::all(&proxy.api).expect("proxy"))
        .build()
        .expect("client");
    let url = target.api.replace("127.0.0.1", "localhost");
    let (status, projects) = get_json_with(
        &client,
        &format!("{url}/api/0/organizations/acme/projects/"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(projects.as_array().map(Vec::len), Some(3));

    // Anything but loopback is refused.
    let addr = proxy.api.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(b"CONNECT 192.0.2.1:443 HTTP/1.1\r\nHost: 192.0.2.1:443\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0; 1024];
    let n = conn.read(&mut buf).await.expect("read");
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    drop(target);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_binary_prints_https_addresses_and_the_ca_file() {
    let dir = temp_dir("tls-cli");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentry-standin"))
        .arg("--tls-dir")
        .arg(&dir)
        .arg("--quiet")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("line");
    let _ = child.kill();
    let _ = child.wait();
    let start: Value = serde_json::from_str(&line).expect("json line");
    for field in ["api", "ingest"] {
        assert!(
            start[field]
                .as_str()
                .is_some_and(|a| a.starts_with("https://127.0.0.1:")),
            "{line}"
        );
    }
    let ca = start["ca_file"].as_str().expect("ca_file");
    assert!(ca.ends_with("/ca.pem"), "{ca}");
    assert!(std::fs::read_to_string(ca)
        .expect("ca")
        .contains("BEGIN CERTIFICATE"));
    let _ = std::fs::remove_dir_all(&dir);
}
