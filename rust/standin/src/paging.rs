//! Sentry's Link-header paging.
//!
//! Cursors follow Sentry's offset paginator: `{limit}:{page}:{is_prev}`. Every page carries a
//! `previous` and a `next` link, each with `results="true|false"`, formatted as Sentry does:
//! `<URL?QUERY&cursor=C>; rel="previous"; results="false"; cursor="C", <...>; rel="next"; ...`.

use std::fmt;
use std::ops::Range;

/// A position in a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub limit: usize,
    pub page: usize,
    pub is_prev: bool,
}

/// The `cursor` query parameter could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidCursor;

impl Cursor {
    pub fn parse(s: &str) -> Result<Cursor, InvalidCursor> {
        let mut parts = s.split(':');
        let (Some(limit), Some(page), Some(prev), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidCursor);
        };
        let limit = limit.parse().map_err(|_| InvalidCursor)?;
        let page = page.parse().map_err(|_| InvalidCursor)?;
        let is_prev = match prev {
            "0" => false,
            "1" => true,
            _ => return Err(InvalidCursor),
        };
        Ok(Cursor {
            limit,
            page,
            is_prev,
        })
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.limit, self.page, u8::from(self.is_prev))
    }
}

/// One page of a list: which items to return and the `Link` header to send with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub range: Range<usize>,
    pub link: String,
}

/// Cuts page `cursor` (the first page without one) of `total` items of `limit` each.
/// `base_url` is scheme, host and raw path; `query` the raw query without the cursor.
/// `endless` (a fault): the next link always says there are results, past the end too.
pub fn page(
    total: usize,
    limit: usize,
    cursor: Option<&str>,
    base_url: &str,
    query: &str,
    endless: bool,
) -> Result<Page, InvalidCursor> {
    let limit = limit.max(1);
    let page = match cursor {
        Some(c) => Cursor::parse(c)?.page,
        None => 0,
    };
    let start = page.saturating_mul(limit).min(total);
    let end = start.saturating_add(limit).min(total);
    let prev = Cursor {
        limit,
        page: page.saturating_sub(1),
        is_prev: true,
    };
    let next = Cursor {
        limit,
        page: page.saturating_add(1),
        is_prev: false,
    };
    let link = format!(
        "{}, {}",
        link_entry(base_url, query, prev, "previous", page > 0),
        link_entry(base_url, query, next, "next", endless || end < total)
    );
    Ok(Page {
        range: start..end,
        link,
    })
}

fn link_entry(base_url: &str, query: &str, cursor: Cursor, rel: &str, results: bool) -> String {
    format!("<{base_url}?{query}&cursor={cursor}>; rel=\"{rel}\"; results=\"{results}\"; cursor=\"{cursor}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "http://127.0.0.1:9000/api/0/organizations/acme/projects/";

    #[test]
    fn first_page_link_has_sentry_format() {
        let p = page(7, 2, None, BASE, "", false).expect("page");
        assert_eq!(p.range, 0..2);
        assert_eq!(
            p.link,
            "<http://127.0.0.1:9000/api/0/organizations/acme/projects/?&cursor=2:0:1>; \
             rel=\"previous\"; results=\"false\"; cursor=\"2:0:1\", \
             <http://127.0.0.1:9000/api/0/organizations/acme/projects/?&cursor=2:1:0>; \
             rel=\"next\"; results=\"true\"; cursor=\"2:1:0\""
        );
    }

    #[test]
    fn walking_pages_ends_with_results_false() {
        let mut cursor = None;
        let mut pages = Vec::new();
        for _ in 0..10 {
            let p = page(7, 2, cursor.as_deref(), BASE, "status=active", false).expect("page");
            pages.push(p.range.clone());
            let next = p.link.split(", ").nth(1).unwrap_or_default().to_string();
            assert!(next.contains("?status=active&cursor="), "{next}");
            if next.contains("results=\"false\"") {
                break;
            }
            cursor = next
                .split("cursor=\"")
                .nth(1)
                .map(|c| c.trim_end_matches('"').to_string());
        }
        assert_eq!(pages, [0..2, 2..4, 4..6, 6..7]);
    }

    #[test]
    fn past_the_end_is_empty() {
        let p = page(3, 2, Some("2:5:0"), BASE, "", false).expect("page");
        assert_eq!(p.range, 3..3);
        assert!(p
            .link
            .ends_with("rel=\"next\"; results=\"false\"; cursor=\"2:6:0\""));
        assert!(p.link.contains("rel=\"previous\"; results=\"true\""));
    }

    #[test]
    fn exact_multiple_has_no_next() {
        let p = page(4, 2, Some("2:1:0"), BASE, "", false).expect("page");
        assert_eq!(p.range, 2..4);
        assert!(p.link.contains("rel=\"next\"; results=\"false\""));
    }

    #[test]
    fn cursor_round_trip_and_garbage() {
        let c = Cursor::parse("100:3:1").expect("cursor");
        assert_eq!(c.to_string(), "100:3:1");
        for bad in ["", "1:2", "1:2:3", "a:0:0", "1:2:0:4", "1:-1:0"] {
            assert_eq!(Cursor::parse(bad), Err(InvalidCursor), "{bad:?}");
        }
        assert!(page(1, 1, Some("x"), BASE, "", false).is_err());
    }

    #[test]
    fn endless_next_links_never_end_and_never_repeat() {
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for i in 0..50 {
            let p = page(3, 2, cursor.as_deref(), BASE, "", true).expect("page");
            let next = p.link.split(", ").nth(1).unwrap_or_default().to_string();
            assert!(
                next.contains("rel=\"next\"; results=\"true\""),
                "{i}: {next}"
            );
            if i >= 2 {
                assert!(p.range.is_empty(), "past the end: no items");
            }
            let c = next
                .split("cursor=\"")
                .nth(1)
                .map(|c| c.trim_end_matches('"').to_string())
                .expect("cursor");
            assert!(seen.insert(c.clone()), "cursor {c} repeated");
            cursor = Some(c);
        }
    }
}
