//! Ingest authentication as relay reads it: `X-Sentry-Auth: Sentry sentry_key=<key>, ...`,
//! `Authorization: Sentry ...`, or the `sentry_key` query parameter.

use crate::uri;

/// Why a request carries no usable public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `sentry_key` anywhere: 401.
    Missing,
    /// A key that is not 32 hexadecimal characters: 400.
    BadKey,
}

impl AuthError {
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Missing => 401,
            AuthError::BadKey => 400,
        }
    }

    pub fn detail(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing authorization information",
            AuthError::BadKey => "bad sentry DSN public key",
        }
    }
}

/// The public key of a request, from the `X-Sentry-Auth` header, else an `Authorization`
/// header with the `Sentry` scheme, else the `sentry_key` query parameter.
pub fn public_key(
    x_sentry_auth: Option<&str>,
    authorization: Option<&str>,
    query: Option<&str>,
) -> Result<String, AuthError> {
    let key = x_sentry_auth
        .and_then(key_from_header)
        .or_else(|| authorization.and_then(key_from_header))
        .or_else(|| uri::query_param(query, "sentry_key"))
        .ok_or(AuthError::Missing)?;
    if key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(key)
    } else {
        Err(AuthError::BadKey)
    }
}

/// `Sentry sentry_key=abc, sentry_version=7` -> `abc`. The scheme is case-insensitive; pairs
/// are separated by `,` and/or spaces.
fn key_from_header(value: &str) -> Option<String> {
    let value = value.trim_start();
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case("sentry") || !rest.starts_with([' ', '\t']) {
        return None;
    }
    rest.split([',', ' ', '\t'])
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == "sentry_key")
        .map(|(_, v)| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn header_forms() {
        for h in [
            format!("Sentry sentry_key={KEY}"),
            format!("sentry sentry_key={KEY}, sentry_version=7"),
            format!("SENTRY sentry_version=7,sentry_key={KEY},sentry_client=x/1"),
            format!("  Sentry   sentry_client=otel ,  sentry_key={KEY}"),
        ] {
            assert_eq!(public_key(Some(&h), None, None).as_deref(), Ok(KEY), "{h}");
        }
    }

    #[test]
    fn query_and_authorization_forms() {
        let q = format!("a=1&sentry_key={KEY}");
        assert_eq!(public_key(None, None, Some(&q)).as_deref(), Ok(KEY));
        let a = format!("Sentry sentry_key={KEY}");
        assert_eq!(public_key(None, Some(&a), None).as_deref(), Ok(KEY));
        // A bearer token is not Sentry auth.
        assert_eq!(
            public_key(None, Some("Bearer abc"), None),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn missing_and_bad_keys() {
        assert_eq!(public_key(None, None, None), Err(AuthError::Missing));
        assert_eq!(
            public_key(Some("Sentry sentry_version=7"), None, None),
            Err(AuthError::Missing)
        );
        assert_eq!(
            public_key(Some("Sentrysentry_key=x"), None, None),
            Err(AuthError::Missing)
        );
        for bad in [
            "",
            "abc",
            "0123456789abcdef0123456789abcdeg",
            &format!("{KEY}0"),
        ] {
            let h = format!("Sentry sentry_key={bad}");
            assert_eq!(
                public_key(Some(&h), None, None),
                Err(AuthError::BadKey),
                "{bad:?}"
            );
        }
    }
}
