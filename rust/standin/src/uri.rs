//! Raw-URI helpers. Paths are split on `/` *before* percent-decoding so that an escaped `%2F`
//! stays inside its segment, the way Sentry's router sees it.

use percent_encoding::percent_decode_str;

/// The segments of `path` after `prefix`, with one trailing `/` ignored; `None` if `path` does
/// not start with `prefix`. Segments are still percent-encoded.
pub fn segments_after<'a>(path: &'a str, prefix: &str) -> Option<Vec<&'a str>> {
    let rest = path.strip_prefix(prefix)?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Some(Vec::new());
    }
    Some(rest.split('/').collect())
}

/// Percent-decodes one path segment; `None` if the result is not UTF-8.
pub fn decode_segment(segment: &str) -> Option<String> {
    percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The decoded value of the first query parameter `name` (form encoding: `+` is a space).
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_form(k) == name).then(|| decode_form(v))
        })
        .next()
}

/// The raw query without any `name=` parameter (used to build paging links).
pub fn query_without(query: Option<&str>, name: &str) -> String {
    query
        .unwrap_or("")
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
            !pair.is_empty() && decode_form(key) != name
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn decode_form(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_slash_stays_in_its_segment() {
        let segs = segments_after(
            "/api/0/projects/acme/..%2F..%2Forganizations/keys/",
            "/api/0/",
        )
        .unwrap_or_default();
        assert_eq!(
            segs,
            ["projects", "acme", "..%2F..%2Forganizations", "keys"]
        );
        assert_eq!(
            decode_segment(segs[2]).as_deref(),
            Some("../../organizations")
        );
    }

    #[test]
    fn segments_without_trailing_slash_and_other_prefix() {
        assert_eq!(
            segments_after("/api/0/a/b", "/api/0/").unwrap_or_default(),
            ["a", "b"]
        );
        assert!(segments_after("/other", "/api/0/").is_none());
        assert_eq!(segments_after("/api/0/", "/api/0/"), Some(vec![]));
    }

    #[test]
    fn query_helpers() {
        let q = Some("status=active&cursor=100%3A1%3A0&x=a+b");
        assert_eq!(query_param(q, "cursor").as_deref(), Some("100:1:0"));
        assert_eq!(query_param(q, "x").as_deref(), Some("a b"));
        assert_eq!(query_param(q, "nope"), None);
        assert_eq!(query_without(q, "cursor"), "status=active&x=a+b");
        assert_eq!(query_without(Some("cursor=1:2:0"), "cursor"), "");
        assert_eq!(query_without(None, "cursor"), "");
    }
}
