//! `next_cursor` of the management API's `Link` header.
//!
//! Input: UTF-8, the header value. Properties: no panic; a cursor is a
//! non-empty substring of the header, without quotes at either end, with no
//! `<` or `;` (it cannot reach into another entry or parameter).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sentry_exporter_core::mgmt::paging;

fuzz_target!(|data: &[u8]| {
    let Ok(link) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(cursor) = paging::next_cursor(link) {
        assert!(!cursor.is_empty());
        assert!(link.contains(cursor.as_str()), "{cursor:?} not in {link:?}");
        assert!(
            !cursor.starts_with('"') && !cursor.ends_with('"'),
            "{cursor:?}"
        );
        assert!(!cursor.contains('<') && !cursor.contains(';'), "{cursor:?}");
    }
});
