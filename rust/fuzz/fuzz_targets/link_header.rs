//! `next_cursor` of the management API's `Link` header.
//!
//! Input: UTF-8, the header value. Properties: no panic; a cursor is a
//! non-empty substring of the header, without quotes at either end, with no
//! `<` or `;` (it cannot reach into another entry or parameter); it costs at most
//! `COST_PER_BYTE` per byte (`cost`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use sentry_exporter_fuzz::cost::{assert_linear, Cost};

const COST_PER_BYTE: Cost = Cost {
    regions: 1_000,
    allocated: 64,
};
use sentry_exporter_core::mgmt::paging;

fuzz_target!(|data: &[u8]| {
    let Ok(link) = std::str::from_utf8(data) else {
        return;
    };
    let cursor = assert_linear("next_cursor", data, COST_PER_BYTE, |b| {
        paging::next_cursor(std::str::from_utf8(b).unwrap_or(""))
    });
    if let Some(cursor) = cursor {
        assert!(!cursor.is_empty());
        assert!(link.contains(cursor.as_str()), "{cursor:?} not in {link:?}");
        assert!(
            !cursor.starts_with('"') && !cursor.ends_with('"'),
            "{cursor:?}"
        );
        assert!(!cursor.contains('<') && !cursor.contains(';'), "{cursor:?}");
    }
});
