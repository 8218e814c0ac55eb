//! The binary: one JSON line at start, serving, exit 0 on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[test]
fn prints_addresses_and_exits_cleanly_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentry-standin"))
        .args(["--projects", "a,b", "--org", "demo", "--token", "t0k"])
        .args([
            "--ingest-listen",
            "127.0.0.1:0",
            "--ingest-path-prefix",
            "/sentry",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("line");
    let start: Value = serde_json::from_str(&line).expect("json line");
    assert!(start["api"]
        .as_str()
        .is_some_and(|a| a.starts_with("http://127.0.0.1:")));
    assert!(start["ingest"]
        .as_str()
        .is_some_and(|a| a.ends_with("/sentry")));
    assert_eq!(start["org"], "demo");
    assert_eq!(start["token"], "t0k");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "did not exit on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn refuses_non_loopback_and_bad_projects() {
    for args in [
        &["--listen", "0.0.0.0:0"][..],
        &["--projects", "Bad Slug"][..],
        &["--page-size", "0"][..],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sentry-standin"))
            .args(args)
            .output()
            .expect("run");
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
