//! The Sentry platform of a project created for a service, and of the error events made of
//! its exceptions, from the OpenTelemetry SDK language its resource declares
//! (`telemetry.sdk.language`).
//!
//! Two sources of Sentry's, together:
//! - Relay's mapping of OTel SDK languages to Sentry platforms, `otel_resource_to_platform` in
//!   getsentry/relay `relay-otel/src/lib.rs`: `dotnet` → `csharp`, `nodejs` → `node`,
//!   `webjs` → `javascript`, every other language unchanged.
//! - What project creation accepts: `Project.is_valid_platform` in getsentry/sentry
//!   `src/sentry/models/project.py` (used by `POST /api/0/teams/{org}/{team}/projects/`), true
//!   only for `other` and the ids of `GETTING_STARTED_DOCS_PLATFORMS`, a 400 "Invalid platform"
//!   otherwise. That list has `dotnet` but not `csharp` (Relay's id is the *event* platform), so
//!   .NET services get `dotnet`; and languages Relay passes through unchanged that the list does
//!   not have (`cpp`, `erlang`, `swift`) get `other`, as does every unknown language.

/// The platform of a project whose services do not say their language, or say one Sentry has
/// no platform for.
pub const OTHER: &str = "other";

/// The resource attribute naming the SDK's language (OpenTelemetry semantic conventions).
pub const SDK_LANGUAGE_ATTRIBUTE: &str = "telemetry.sdk.language";

/// The platform Sentry's project creation accepts for an OTel SDK `language`.
pub fn of(language: &str) -> &'static str {
    match language {
        // Relay renames these three; `csharp` is not a project platform, `dotnet` is.
        "nodejs" => "node",
        "webjs" => "javascript",
        "dotnet" => "dotnet",
        // Relay keeps these, and each is a project platform of Sentry's.
        "go" => "go",
        "java" => "java",
        "php" => "php",
        "python" => "python",
        "ruby" => "ruby",
        "rust" => "rust",
        // `cpp`, `erlang`, `swift` (kept by Relay, no such project platform) and the unknown.
        _ => OTHER,
    }
}

/// The *event* platform of an error event from a service of SDK `language`: Relay's own
/// mapping, from the same table as [`of`]; `other` where events have no platform.
pub fn of_event(language: &str) -> &'static str {
    match of(language) {
        // Relay's id of .NET: the event platform, which project creation refuses.
        "dotnet" => "csharp",
        "rust" => OTHER,
        platform => platform,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_semconv_language_has_a_platform_sentry_accepts() {
        // The values of `telemetry.sdk.language` in the OTel semantic conventions, and more.
        let table = [
            ("nodejs", "node"),
            ("webjs", "javascript"),
            ("dotnet", "dotnet"),
            ("go", "go"),
            ("java", "java"),
            ("php", "php"),
            ("python", "python"),
            ("ruby", "ruby"),
            ("rust", "rust"),
            ("cpp", "other"),
            ("erlang", "other"),
            ("swift", "other"),
            ("cobol", "other"),
            ("", "other"),
            ("NodeJS", "other"),
        ];
        for (language, platform) in table {
            assert_eq!(of(language), platform, "language {language:?}");
        }
    }

    #[test]
    fn events_take_relays_platform_and_other_where_events_have_none() {
        let table = [
            ("nodejs", "node"),
            ("webjs", "javascript"),
            ("dotnet", "csharp"),
            ("go", "go"),
            ("java", "java"),
            ("php", "php"),
            ("python", "python"),
            ("ruby", "ruby"),
            ("rust", "other"),
            ("cpp", "other"),
            ("", "other"),
        ];
        for (language, platform) in table {
            assert_eq!(of_event(language), platform, "language {language:?}");
        }
    }
}
