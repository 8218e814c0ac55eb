//! The management API over HTTP: auth, lists, Link paging, keys and DSNs, project creation.

mod common;

use common::*;
use sentry_standin::Config;
use serde_json::{json, Value};

fn next_link(link: &str) -> (bool, Option<String>) {
    let next = link
        .split(", <")
        .find(|l| l.contains("rel=\"next\""))
        .unwrap_or_default();
    let url = next
        .trim_start_matches('<')
        .split('>')
        .next()
        .map(str::to_string);
    (next.contains("results=\"true\""), url)
}

#[tokio::test]
async fn token_and_org_are_checked() {
    let s = standin(Config::default()).await;
    let url = format!("{}/api/0/organizations/acme/projects/", s.api);
    let c = client();
    let r = c.get(&url).send().await.expect("send");
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(detail(&r.bytes().await.expect("body")), "Invalid token");
    let r = c.get(&url).bearer_auth("nope").send().await.expect("send");
    assert_eq!(r.status().as_u16(), 401);
    let (status, body) = get_json(&format!("{}/api/0/organizations/other/projects/", s.api)).await;
    assert_eq!(status, 404);
    assert_eq!(body["detail"], "The requested resource does not exist");
}

#[tokio::test]
async fn projects_and_teams_have_sentry_fields() {
    let s = standin(Config::default()).await;
    let (status, projects) =
        get_json(&format!("{}/api/0/organizations/acme/projects/", s.api)).await;
    assert_eq!(status, 200);
    let slugs: Vec<&str> = projects
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["slug"].as_str())
        .collect();
    assert_eq!(slugs, ["frontend", "backend", "payments"]);
    let p = &projects[0];
    assert_eq!(p["id"], "1");
    assert_eq!(p["isMember"], true);
    assert_eq!(p["teams"][0]["slug"], "backend");
    for field in [
        "name",
        "platform",
        "dateCreated",
        "features",
        "hasAccess",
        "team",
    ] {
        assert!(p.get(field).is_some(), "project field {field}");
    }
    let (status, teams) = get_json(&format!("{}/api/0/organizations/acme/teams/", s.api)).await;
    assert_eq!(status, 200);
    assert_eq!(teams[0]["slug"], "backend");
    assert_eq!(teams[0]["id"], "1");
}

#[tokio::test]
async fn seven_projects_in_pages_of_two() {
    let projects = (1..=7).map(|i| format!("p{i}")).collect();
    let s = standin(Config {
        projects,
        page_size: 2,
        ..Config::default()
    })
    .await;
    let mut url = format!("{}/api/0/organizations/acme/projects/", s.api);
    let mut pages = Vec::new();
    for _ in 0..10 {
        let resp = client()
            .get(&url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("send");
        let link = resp
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let page: Value = serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json");
        pages.push(page.as_array().map(Vec::len).unwrap_or(0));
        let (more, next) = next_link(&link);
        if !more {
            break;
        }
        url = next.expect("next url");
        assert!(url.contains("?&cursor=2:"), "{url}");
    }
    assert_eq!(pages, [2, 2, 2, 1]);
}

#[tokio::test]
async fn keys_and_dsns() {
    let s = standin(Config::default()).await;
    let (id, public, key) = key_of(&s, "backend").await;
    assert_eq!(id, 2);
    assert_eq!(public.len(), 32);
    assert_eq!(key["isActive"], true);
    let host = s.api.trim_start_matches("http://");
    assert_eq!(key["dsn"]["public"], format!("http://{public}@{host}/2"));
    assert_eq!(
        key["dsn"]["otlp_traces"],
        format!("{}/api/2/integration/otlp/v1/traces", s.api)
    );
    assert_eq!(
        key["dsn"]["otlp_logs"],
        format!("{}/api/2/integration/otlp/v1/logs", s.api)
    );
    let (status, all) =
        get_json(&format!("{}/api/0/organizations/acme/project-keys/", s.api)).await;
    assert_eq!(status, 200);
    assert_eq!(all.as_array().map(Vec::len), Some(3));
    let (status, inactive) = get_json(&format!(
        "{}/api/0/projects/acme/backend/keys/?status=inactive",
        s.api
    ))
    .await;
    assert_eq!((status, inactive), (200, json!([])));
    let (status, _) = get_json(&format!("{}/api/0/projects/acme/nope/keys/", s.api)).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn no_otlp_dsn_and_separate_ingest_listener() {
    let s = standin(Config {
        otlp_dsn: false,
        ingest_listen: Some("127.0.0.1:0".parse().expect("addr")),
        ingest_path_prefix: "/sentry/".into(),
        ..Config::default()
    })
    .await;
    assert!(s.ingest.ends_with("/sentry"), "{}", s.ingest);
    assert_ne!(s.ingest, format!("{}/sentry", s.api));
    let (_, public, key) = key_of(&s, "frontend").await;
    assert!(key["dsn"].get("otlp_traces").is_none());
    assert!(key["dsn"].get("otlp_logs").is_none());
    let host = s.ingest.trim_start_matches("http://");
    assert_eq!(key["dsn"]["public"], format!("http://{public}@{host}/1"));
}

#[tokio::test]
async fn create_project() {
    let s = standin(Config::default()).await;
    let url = format!("{}/api/0/teams/acme/backend/projects/", s.api);
    let (status, p) = post_json(
        &url,
        json!({"name": "orders", "slug": "orders", "platform": "other"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(p["id"], "4");
    assert_eq!(p["slug"], "orders");
    assert_eq!(p["platform"], "other");
    let (id, _, _) = key_of(&s, "orders").await;
    assert_eq!(id, 4);

    let (status, body) = post_json(&url, json!({"name": "orders", "slug": "orders"})).await;
    assert_eq!(status, 409);
    assert_eq!(body["detail"], "A project with this slug already exists.");
    for bad in ["123", "Has Caps", "a/b", ""] {
        let (status, body) = post_json(&url, json!({"name": "x", "slug": bad})).await;
        assert_eq!(status, 400, "{bad:?}");
        assert!(body.get("slug").is_some(), "{body}");
    }
    let (status, body) = post_json(&url, json!({"slug": "noname"})).await;
    assert_eq!(status, 400);
    assert!(body.get("name").is_some());
    let (status, _) = post_json(
        &format!("{}/api/0/teams/acme/nope/projects/", s.api),
        json!({"name": "x", "slug": "x"}),
    )
    .await;
    assert_eq!(status, 404);
    let records = records(&s).await;
    assert_eq!(records["projects_created"], json!(["orders"]));
    assert_eq!(records["created_platforms"], json!({"orders": "other"}));
}

#[tokio::test]
async fn created_projects_record_their_platform() {
    let s = standin(Config::default()).await;
    let url = format!("{}/api/0/teams/acme/backend/projects/", s.api);
    let (status, p) = post_json(
        &url,
        json!({"name": "web", "slug": "web", "platform": "node"}),
    )
    .await;
    assert_eq!((status, &p["platform"]), (201, &json!("node")));
    let (status, _) = post_json(&url, json!({"name": "bare", "slug": "bare"})).await;
    assert_eq!(status, 201);
    assert_eq!(
        records(&s).await["created_platforms"],
        json!({"web": "node", "bare": null})
    );
}

#[tokio::test]
async fn escaped_slug_is_one_segment_and_logged_raw() {
    let s = standin(Config::default()).await;
    let path = "/api/0/projects/acme/..%2F..%2Forganizations%2Facme/keys/";
    let (status, _) = get_json(&format!("{}{path}", s.api)).await;
    assert_eq!(status, 404);
    let rec = records(&s).await;
    let logged: Vec<&Value> = rec["mgmt_requests"]
        .as_array()
        .expect("array")
        .iter()
        .filter(|r| r["path"] == path)
        .collect();
    assert_eq!(logged.len(), 1, "{rec}");
    assert_eq!(logged[0]["status"], 404);
    assert_eq!(logged[0]["method"], "GET");
}

#[tokio::test]
async fn organization_by_slug_or_id_and_unknown_orgs_everywhere() {
    let s = standin(Config::default()).await;
    for id_or_slug in ["acme", "1"] {
        let (status, org) = get_json(&format!("{}/api/0/organizations/{id_or_slug}/", s.api)).await;
        assert_eq!(status, 200, "{id_or_slug}");
        assert_eq!((&org["id"], &org["slug"]), (&json!("1"), &json!("acme")));
        assert_eq!(org["name"], "acme");
        assert_eq!(org["status"]["id"], "active");
    }
    let r = client()
        .get(format!("{}/api/0/organizations/acme/", s.api))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 401, "the token is needed");
    let (status, _) = post_json(&format!("{}/api/0/organizations/acme/", s.api), json!({})).await;
    assert_eq!(status, 405);
    for path in [
        "organizations/other/",
        "organizations/other/projects/",
        "organizations/other/project-keys/",
        "organizations/other/teams/",
        "projects/other/frontend/keys/",
        "teams/other/backend/projects/",
    ] {
        let (status, body) = get_json(&format!("{}/api/0/{path}", s.api)).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(
            body,
            json!({"detail": "The requested resource does not exist"})
        );
    }
    let (status, _) = post_json(
        &format!("{}/api/0/teams/other/backend/projects/", s.api),
        json!({"name": "x", "slug": "x"}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(records(&s).await["projects_created"], json!([]));
}
