//! Sentry's `Link` header: `<URL>; rel="next"; results="true"; cursor="..."`,
//! entries separated by commas. Only the cursor is taken from it: the next
//! page is always asked of the same URL as the first, so a hostile or broken
//! server cannot send the token elsewhere.

/// The cursor of the next page, when the header says there are more results.
pub fn next_cursor(link: &str) -> Option<String> {
    entries(link).find_map(|params| {
        let rel = param(params, "rel")?;
        let results = param(params, "results")?;
        (rel == "next" && results == "true")
            .then(|| param(params, "cursor"))
            .flatten()
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
    })
}

/// The parameter part (after `<...>`) of each entry.
fn entries(link: &str) -> impl Iterator<Item = &str> {
    let mut rest = link;
    std::iter::from_fn(move || {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let after = &rest[close + 1..];
        // The entry's parameters run up to the next `<` (the next entry's URL).
        let end = after.find('<').unwrap_or(after.len());
        let params = &after[..end];
        rest = &after[end..];
        Some(params)
    })
}

/// `name="value"` (or `name=value`) among `;`-separated parameters.
fn param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    params.split(';').find_map(|p| {
        let (key, value) = p.split_once('=')?;
        (key.trim().eq_ignore_ascii_case(name))
            .then(|| value.trim().trim_end_matches(',').trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_cursor_when_there_are_more_results() {
        let link = r#"<https://sentry.io/api/0/organizations/acme/projects/?&cursor=100:-1:1>; rel="previous"; results="false"; cursor="100:-1:1", <https://sentry.io/api/0/organizations/acme/projects/?&cursor=100:1:0>; rel="next"; results="true"; cursor="100:1:0""#;
        assert_eq!(next_cursor(link).as_deref(), Some("100:1:0"));
    }

    #[test]
    fn stops_on_the_last_page() {
        let link = r#"<https://s/x/?&cursor=2:0:1>; rel="previous"; results="true"; cursor="2:0:1", <https://s/x/?&cursor=2:4:0>; rel="next"; results="false"; cursor="2:4:0""#;
        assert_eq!(next_cursor(link), None);
    }

    #[test]
    fn tolerates_odd_spacing_order_and_case() {
        let link = r#"<https://s/x/?a=1,b=2&cursor=9>;results=true ;REL=next;  cursor = "c1" "#;
        assert_eq!(next_cursor(link).as_deref(), Some("c1"));
    }

    #[test]
    fn ignores_garbage() {
        for link in [
            "",
            "garbage",
            "<unclosed; rel=\"next\"",
            r#"<u>; rel="next"; results="true""#,
            r#"<u>; rel="next"; results="true"; cursor="""#,
        ] {
            assert_eq!(next_cursor(link), None, "{link:?}");
        }
    }
}
