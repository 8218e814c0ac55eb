//! Hostile answers over real connections: huge streamed bodies, trickled bodies, endless
//! `Link` paging.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use sentry_standin::{Config, Running};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn fault(s: &Running, rule: Value) {
    let (status, body) = post_json(&format!("{}/_standin/faults", s.api), rule).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn body_bytes_streams_a_filler_of_exactly_that_size() {
    let s = standin(Config::default()).await;
    let (id, key, _) = key_of(&s, "frontend").await;
    let n: u64 = 50 << 20;
    fault(
        &s,
        json!({"target": "mgmt", "path_contains": "/projects/", "body_bytes": n, "times": 1}),
    )
    .await;
    fault(
        &s,
        json!({"target": "ingest", "status": 503, "body_bytes": 1000, "times": 1}),
    )
    .await;

    let mut resp = client()
        .get(format!("{}/api/0/organizations/acme/projects/", s.api))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.content_length(), Some(n));
    assert_eq!(
        resp.headers()["content-type"].as_bytes(),
        b"application/json"
    );
    let (mut total, mut first, mut biggest) = (0u64, None, 0usize);
    while let Some(chunk) = resp.chunk().await.expect("chunk") {
        first.get_or_insert(chunk[0]);
        biggest = biggest.max(chunk.len());
        assert!(chunk[1..].iter().all(|&b| b == b' '));
        total += chunk.len() as u64;
    }
    assert_eq!((total, first), (n, Some(b'[')));
    // The next request is answered normally.
    assert_eq!(
        get_json(&format!("{}/api/0/organizations/acme/projects/", s.api))
            .await
            .0,
        200
    );

    let url = format!("{}/api/{id}/integration/otlp/v1/traces", s.ingest);
    let (status, body) = send_traces(&url, &key, traces("web", 1, 0, 1)).await;
    assert_eq!((status, body.len()), (503, 1000));
    let req = &records(&s).await["projects"]["frontend"]["requests"][0];
    assert_eq!(req["status"], 503);
    assert_eq!(req["fault"], true);
    assert_eq!(req["detail"], "1000 filler bytes");
}

#[tokio::test]
async fn trickle_sends_headers_at_once_then_a_byte_per_interval() {
    let s = standin(Config::default()).await;
    fault(
        &s,
        json!({"target": "mgmt", "status": 502, "body": "{\"x\":1}", "trickle_ms": 100, "times": 1}),
    )
    .await;
    let start = Instant::now();
    let mut resp = client()
        .get(format!("{}/api/0/organizations/acme/teams/", s.api))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("send");
    let headers_after = start.elapsed();
    assert_eq!(resp.status().as_u16(), 502);
    assert!(
        headers_after < Duration::from_millis(90),
        "headers took {headers_after:?}"
    );
    let mut chunks = Vec::new();
    while let Some(chunk) = resp.chunk().await.expect("chunk") {
        chunks.push(chunk);
    }
    let body_after = start.elapsed();
    assert!(chunks.iter().all(|c| c.len() == 1), "{chunks:?}");
    assert_eq!(chunks.concat(), b"{\"x\":1}");
    assert!(body_after >= Duration::from_millis(700), "{body_after:?}");
}

#[tokio::test]
async fn an_abandoned_trickle_does_not_hold_up_the_stand_in() {
    let s = standin(Config::default()).await;
    // 100 000 bytes at 1 ms: 100 s unless the stand-in notices the client left.
    fault(
        &s,
        json!({"target": "mgmt", "body_bytes": 100_000, "trickle_ms": 1}),
    )
    .await;
    let addr = s.api.trim_start_matches("http://").to_string();
    let request = format!(
        "GET /api/0/organizations/acme/projects/ HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {TOKEN}\r\n\r\n"
    );
    let mut conn = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    conn.write_all(request.as_bytes()).await.expect("write");
    let mut buf = vec![0; 4096];
    let n = conn.read(&mut buf).await.expect("read");
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-length: 100000"));
    drop(conn);
    // The stand-in goes on serving; the abandoned answer does not stand in the way.
    let started = Instant::now();
    let (status, _) = get_json(&format!("{}/_standin/health", s.api)).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn endless_link_never_says_the_list_ended() {
    let s = standin(Config {
        page_size: 2,
        ..Config::default()
    })
    .await;
    fault(
        &s,
        json!({"target": "mgmt", "path_contains": "/organizations/acme/projects/", "endless_link": true}),
    )
    .await;
    let mut url = format!("{}/api/0/organizations/acme/projects/", s.api);
    let mut cursors = HashSet::new();
    let mut items = 0;
    for page in 0..30 {
        let resp = client()
            .get(&url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status().as_u16(), 200);
        let link = resp.headers()["link"].to_str().expect("link").to_string();
        let body: Value = serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json");
        items += body.as_array().map_or(0, Vec::len);
        let next = link
            .split(", ")
            .find(|e| e.contains("rel=\"next\""))
            .expect("next");
        assert!(next.contains("results=\"true\""), "page {page}: {link}");
        let cursor = next.split("cursor=\"").nth(1).expect("cursor");
        assert!(
            cursors.insert(cursor.to_string()),
            "cursor repeated: {link}"
        );
        url = next[1..next.find('>').expect(">")].to_string();
    }
    assert_eq!(items, 3, "past the end the pages are empty");
    // Other lists end normally.
    let resp = client()
        .get(format!("{}/api/0/organizations/acme/teams/", s.api))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("send");
    let link = resp.headers()["link"].to_str().expect("link").to_string();
    assert!(link.ends_with("rel=\"next\"; results=\"false\"; cursor=\"2:1:0\""));
}
