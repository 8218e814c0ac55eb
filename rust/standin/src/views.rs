//! The JSON shapes of Sentry's management API (field names from Sentry's OpenAPI).

use serde_json::{json, Value};

use crate::app::Settings;
use crate::state::{Key, Org, Project};

const PROJECT_FEATURES: [&str; 4] = [
    "alert-filters",
    "custom-inbound-filters",
    "rate-limits",
    "releases",
];

const ACCESS: [&str; 8] = [
    "project:read",
    "project:write",
    "project:releases",
    "event:read",
    "event:write",
    "team:read",
    "org:read",
    "member:read",
];

/// The organization as `GET /organizations/{org}/` returns it (the fields clients read).
pub fn organization(org: &Org) -> Value {
    json!({
        "id": org.id.to_string(),
        "slug": org.slug,
        "name": org.name,
        "dateCreated": org.date_created,
        "status": { "id": "active", "name": "active" },
        "isEarlyAdopter": false,
        "require2FA": false,
        "features": [],
        "access": ACCESS,
    })
}

fn team_ref(org: &Org) -> Value {
    json!({ "id": org.team.id.to_string(), "slug": org.team.slug, "name": org.team.name })
}

/// A project as `GET /organizations/{org}/projects/` and the create call return it.
pub fn project(org: &Org, p: &Project) -> Value {
    json!({
        "id": p.id.to_string(),
        "slug": p.slug,
        "name": p.name,
        "platform": p.platform,
        "dateCreated": p.date_created,
        "isBookmarked": false,
        "isMember": true,
        "features": PROJECT_FEATURES,
        "firstEvent": null,
        "firstTransactionEvent": false,
        "access": ACCESS,
        "hasAccess": true,
        "hasFeedbacks": false,
        "hasFlags": false,
        "hasMinifiedStackTrace": false,
        "hasMonitors": false,
        "hasNewFeedbacks": false,
        "hasProfiles": false,
        "hasReplays": false,
        "hasSessions": false,
        "hasInsightsHttp": false,
        "hasInsightsDb": false,
        "hasInsightsAssets": false,
        "hasInsightsAppStart": false,
        "hasInsightsScreenLoad": false,
        "hasInsightsVitals": false,
        "hasInsightsCaches": false,
        "hasInsightsQueues": false,
        "hasInsightsAgentMonitoring": false,
        "hasInsightsMCP": false,
        "hasLogs": false,
        "hasTraceMetrics": false,
        "team": team_ref(org),
        "teams": [team_ref(org)],
        "platforms": p.platform.iter().collect::<Vec<_>>(),
        "hasUserReports": false,
        "environments": [],
        "latestRelease": null,
        "latestDeploys": null,
        "options": {},
    })
}

/// The team, with its projects unless `detailed=0`.
pub fn team(org: &Org, with_projects: bool) -> Value {
    let mut v = json!({
        "id": org.team.id.to_string(),
        "slug": org.team.slug,
        "name": org.team.name,
        "dateCreated": org.team.date_created,
        "isMember": true,
        "teamRole": "admin",
        "flags": { "idp:provisioned": false },
        "access": ACCESS,
        "hasAccess": true,
        "isPending": false,
        "memberCount": 1,
        "avatar": { "avatarType": "letter_avatar", "avatarUuid": null, "avatarUrl": null },
    });
    if with_projects {
        v["projects"] = org.projects().iter().map(|p| project(org, p)).collect();
    }
    v
}

/// A client key with its DSNs pointing at the stand-in's ingest listener.
pub fn key(settings: &Settings, p: &Project, k: &Key) -> Value {
    let base = settings.ingest_base();
    let host = format!("{}{}", settings.ingest_host, settings.ingest_prefix);
    let (id, public, scheme) = (p.id, &k.public, settings.scheme);
    let api = format!("{base}/api/{id}");
    let mut dsn = json!({
        "secret": format!("{scheme}://{public}:{}@{host}/{id}", k.secret),
        "public": format!("{scheme}://{public}@{host}/{id}"),
        "csp": format!("{api}/csp-report/?sentry_key={public}"),
        "security": format!("{api}/security/?sentry_key={public}"),
        "minidump": format!("{api}/minidump/?sentry_key={public}"),
        "nel": format!("{api}/nel/?sentry_key={public}"),
        "unreal": format!("{api}/unreal/{public}/"),
        "crons": format!("{api}/crons/___MONITOR_SLUG___/{public}/"),
        "cdn": format!("{base}/js-sdk-loader/{public}.min.js"),
        "playstation": format!("{api}/playstation/?sentry_key={public}"),
        "integration": format!("{api}/integration/"),
    });
    if settings.otlp_dsn {
        dsn["otlp_traces"] = json!(format!("{api}/integration/otlp/v1/traces"));
        dsn["otlp_logs"] = json!(format!("{api}/integration/otlp/v1/logs"));
    }
    json!({
        "id": public,
        "name": k.name,
        "label": k.name,
        "public": public,
        "secret": k.secret,
        "projectId": id,
        "isActive": k.active,
        "rateLimit": null,
        "dsn": dsn,
        "browserSdkVersion": "8.x",
        "browserSdk": { "choices": [["latest", "latest"], ["8.x", "8.x"]] },
        "dateCreated": k.date_created,
        "dynamicSdkLoaderOptions": {
            "hasReplay": false,
            "hasPerformance": false,
            "hasDebug": false,
            "hasFeedback": false,
            "hasLogsAndMetrics": false,
        },
        "useCase": "user",
    })
}
