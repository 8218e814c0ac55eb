//! The management API under `/api/0/`: bearer token, org/team/project lookups, Link paging and
//! project creation. Routing works on the raw path, one percent-decoded segment at a time.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET organizations/{org}/` | the organization |
//! | `GET organizations/{org}/projects/`, `.../project-keys/`, `.../teams/` | paged lists |
//! | `GET projects/{org}/{project}/keys/` | the project's client keys, paged |
//! | `GET`, `POST teams/{org}/{team}/projects/` | the team's projects; create one |
//!
//! Every one needs the token (401 `Invalid token`), and answers 404 `The requested resource
//! does not exist` for an org, team or project that is not there, as Sentry does.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::app::App;
use crate::paging;
use crate::reply::Reply;
use crate::slug;
use crate::state::CreateError;
use crate::uri;
use crate::views;

/// The parts of a management request the handlers read.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Raw path, not decoded.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub host: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
    /// A fault: list answers always link to one more page.
    pub endless_link: bool,
}

pub const PREFIX: &str = "/api/0/";

pub fn handle(app: &App, req: &Request<'_>) -> Reply {
    if !authorized(req.authorization, &app.settings.token) {
        return Reply::detail(401, "Invalid token");
    }
    let Some(raw) = uri::segments_after(req.path, PREFIX) else {
        return Reply::not_found();
    };
    let Some(decoded) = raw
        .iter()
        .map(|s| uri::decode_segment(s))
        .collect::<Option<Vec<String>>>()
    else {
        return Reply::not_found();
    };
    let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
    // Literal segments are matched raw, so an escaped `%2F` never splits a slug.
    let lit = |i: usize, s: &str| raw.get(i) == Some(&s);
    match segs.as_slice() {
        [_, org] if lit(0, "organizations") => {
            if !app.lock().org.is(org) {
                return Reply::not_found();
            }
            get_only(req, || {
                Reply::json(200, &views::organization(&app.lock().org))
            })
        }
        [_, org, _] if lit(0, "organizations") => {
            if !app.lock().org.is(org) {
                return Reply::not_found();
            }
            match raw[2] {
                "projects" => get_only(req, || list_projects(app, req)),
                "project-keys" => get_only(req, || list_org_keys(app, req)),
                "teams" => get_only(req, || list_teams(app, req)),
                _ => Reply::not_found(),
            }
        }
        [_, org, project, _] if lit(0, "projects") && lit(3, "keys") => {
            if !app.lock().org.is(org) {
                return Reply::not_found();
            }
            get_only(req, || list_project_keys(app, req, project))
        }
        [_, org, team, _] if lit(0, "teams") && lit(3, "projects") => {
            {
                let state = app.lock();
                if !state.org.is(org) || !state.org.is_team(team) {
                    return Reply::not_found();
                }
            }
            match req.method {
                "GET" => list_projects(app, req),
                "POST" => create_project(app, req),
                m => Reply::method_not_allowed(m),
            }
        }
        _ => Reply::not_found(),
    }
}

/// `Authorization: Bearer <token>`, scheme case-insensitive.
fn authorized(header: Option<&str>, token: &str) -> bool {
    header
        .and_then(|h| h.trim().split_once(' '))
        .is_some_and(|(scheme, value)| {
            scheme.eq_ignore_ascii_case("bearer") && value.trim() == token
        })
}

fn get_only(req: &Request<'_>, f: impl FnOnce() -> Reply) -> Reply {
    if req.method == "GET" {
        f()
    } else {
        Reply::method_not_allowed(req.method)
    }
}

fn list_projects(app: &App, req: &Request<'_>) -> Reply {
    let items: Vec<Value> = {
        let state = app.lock();
        let org = &state.org;
        org.projects()
            .iter()
            .map(|p| views::project(org, p))
            .collect()
    };
    paged(app, req, items)
}

fn list_teams(app: &App, req: &Request<'_>) -> Reply {
    let detailed = uri::query_param(req.query, "detailed").as_deref() != Some("0");
    let team = views::team(&app.lock().org, detailed);
    paged(app, req, vec![team])
}

fn list_org_keys(app: &App, req: &Request<'_>) -> Reply {
    let status = uri::query_param(req.query, "status");
    let items: Vec<Value> = {
        let state = app.lock();
        state
            .org
            .projects()
            .iter()
            .flat_map(|p| p.keys.iter().map(move |k| (p, k)))
            .filter(|(_, k)| status_matches(status.as_deref(), k.active))
            .map(|(p, k)| views::key(&app.settings, p, k))
            .collect()
    };
    paged(app, req, items)
}

fn list_project_keys(app: &App, req: &Request<'_>, project: &str) -> Reply {
    let status = uri::query_param(req.query, "status");
    let items: Option<Vec<Value>> = {
        let state = app.lock();
        state.org.project(project).map(|p| {
            p.keys
                .iter()
                .filter(|k| status_matches(status.as_deref(), k.active))
                .map(|k| views::key(&app.settings, p, k))
                .collect()
        })
    };
    match items {
        Some(items) => paged(app, req, items),
        None => Reply::not_found(),
    }
}

/// `?status=active|inactive`; anything else lists all keys, as Sentry does.
fn status_matches(status: Option<&str>, active: bool) -> bool {
    match status {
        Some("active") => active,
        Some("inactive") => !active,
        _ => true,
    }
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    name: Option<String>,
    slug: Option<String>,
    platform: Option<String>,
}

fn create_project(app: &App, req: &Request<'_>) -> Reply {
    let body: CreateBody = match serde_json::from_slice(req.body) {
        Ok(b) => b,
        Err(e) => return Reply::detail(400, &format!("JSON parse error - {e}")),
    };
    let name = match body.name.as_deref().map(str::trim) {
        None | Some("") => return field_error("name", "This field is required."),
        Some(n) if n.chars().count() > slug::MAX_LEN => {
            return field_error("name", "Ensure this field has no more than 50 characters.")
        }
        Some(n) => n.to_string(),
    };
    let slug = body.slug.unwrap_or_else(|| slug::from_name(&name));
    let mut guard = app.lock();
    let state = &mut *guard;
    let created = state
        .org
        .create_project(&slug, &name, body.platform.as_deref())
        .map(|p| p.id);
    match created {
        Ok(id) => {
            let platform = body.platform.as_deref();
            state.records.project_created(&slug, id, platform);
            let view = state
                .org
                .project_by_id(id)
                .map_or(Value::Null, |p| views::project(&state.org, p));
            drop(guard);
            app.say(&format!("created project {slug} (id {id})"));
            Reply::json(201, &view)
        }
        Err(CreateError::SlugExists) => {
            Reply::detail(409, "A project with this slug already exists.")
        }
        Err(CreateError::InvalidSlug) => field_error(
            "slug",
            "Enter a valid slug consisting of lowercase letters, numbers, underscores or \
             hyphens. It cannot be entirely numeric.",
        ),
    }
}

/// Django REST framework's validation error shape: `{"field": ["message"]}`.
fn field_error(field: &str, message: &str) -> Reply {
    Reply::json(400, &json!({ field: [message] }))
}

/// One page of `items` with Sentry's `Link` header. The page size is `--page-size`, or a
/// smaller `per_page`.
fn paged(app: &App, req: &Request<'_>, items: Vec<Value>) -> Reply {
    let mut limit = app.settings.page_size;
    if let Some(pp) = uri::query_param(req.query, "per_page") {
        match pp.parse::<usize>() {
            Ok(n) if n >= 1 => limit = limit.min(n),
            _ => return Reply::detail(400, "Invalid per_page parameter."),
        }
    }
    let base = match req.host {
        Some(host) => format!("{}://{host}{}", app.settings.scheme, req.path),
        None => format!("{}{}", app.settings.api_base, req.path),
    };
    let query = uri::query_without(req.query, "cursor");
    let cursor = uri::query_param(req.query, "cursor");
    match paging::page(
        items.len(),
        limit,
        cursor.as_deref(),
        &base,
        &query,
        req.endless_link,
    ) {
        Ok(page) => {
            let slice = items.get(page.range).unwrap_or_default().to_vec();
            Reply::json(200, &Value::Array(slice)).with_header("link", &page.link)
        }
        Err(paging::InvalidCursor) => Reply::detail(400, "Invalid cursor parameter."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token() {
        assert!(authorized(Some("Bearer tok"), "tok"));
        assert!(authorized(Some("bearer  tok "), "tok"));
        assert!(!authorized(Some("Bearer other"), "tok"));
        assert!(!authorized(Some("Basic tok"), "tok"));
        assert!(!authorized(Some("tok"), "tok"));
        assert!(!authorized(None, "tok"));
    }
}
