//! OpenTelemetry's units (UCUM, as instruments declare them) as Sentry's units.
//!
//! Annotations in braces (`{request}`, `{packets}/s`, `By{compressed}`) only name what is
//! counted, so they are removed first and what remains decides: a unit Sentry knows becomes
//! its variant, anything else is passed on as written (`Unit::Other`), and nothing at all
//! (a pure count) becomes no unit.

use std::borrow::Cow;

use sentry_types::protocol::v7::Unit;

/// Sentry's unit for the UCUM unit `ucum`; `None` for no unit or a bare annotation.
pub fn sentry_unit(ucum: &str) -> Option<Unit> {
    let bare = without_annotations(ucum);
    let bare = bare.trim();
    if bare.is_empty() {
        return None;
    }
    // `Unit::Other` is built directly rather than through `Unit::from`: that one reads SI
    // symbols (`B`, `kB`, `b`), which in UCUM are other units (bel, kilobel, barn).
    Some(known(bare).unwrap_or_else(|| Unit::Other(Cow::Owned(bare.to_owned()))))
}

/// `ucum` without its `{...}` annotations; an unclosed `{` annotates to the end.
fn without_annotations(ucum: &str) -> String {
    let mut bare = String::with_capacity(ucum.len());
    let mut in_annotation = false;
    for c in ucum.chars() {
        match c {
            '{' => in_annotation = true,
            '}' if in_annotation => in_annotation = false,
            _ if !in_annotation => bare.push(c),
            _ => {}
        }
    }
    bare
}

fn known(ucum: &str) -> Option<Unit> {
    Some(match ucum {
        "ns" => Unit::Nanosecond,
        "us" => Unit::Microsecond,
        "ms" => Unit::Millisecond,
        "s" => Unit::Second,
        "min" => Unit::Minute,
        "h" => Unit::Hour,
        "d" => Unit::Day,
        "wk" => Unit::Week,
        "bit" => Unit::Bit,
        "By" => Unit::Byte,
        "kBy" => Unit::Kilobyte,
        "KiBy" => Unit::Kibibyte,
        "MBy" => Unit::Megabyte,
        "MiBy" => Unit::Mebibyte,
        "GBy" => Unit::Gigabyte,
        "GiBy" => Unit::Gibibyte,
        "TBy" => Unit::Terabyte,
        "TiBy" => Unit::Tebibyte,
        "PBy" => Unit::Petabyte,
        "PiBy" => Unit::Pebibyte,
        "EBy" => Unit::Exabyte,
        "EiBy" => Unit::Exbibyte,
        "1" => Unit::Ratio,
        "%" => Unit::Percent,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn other(text: &'static str) -> Option<Unit> {
        Some(Unit::Other(Cow::Borrowed(text)))
    }

    #[test]
    fn maps_ucum_to_sentry_units() {
        let cases: &[(&str, &str, Option<Unit>)] = &[
            ("empty", "", None),
            ("only an annotation", "{request}", None),
            ("two annotations", "{a}{b}", None),
            ("nanoseconds", "ns", Some(Unit::Nanosecond)),
            ("microseconds", "us", Some(Unit::Microsecond)),
            ("milliseconds", "ms", Some(Unit::Millisecond)),
            ("seconds", "s", Some(Unit::Second)),
            ("minutes", "min", Some(Unit::Minute)),
            ("hours", "h", Some(Unit::Hour)),
            ("days", "d", Some(Unit::Day)),
            ("weeks", "wk", Some(Unit::Week)),
            ("bits", "bit", Some(Unit::Bit)),
            ("bytes", "By", Some(Unit::Byte)),
            ("kilobytes", "kBy", Some(Unit::Kilobyte)),
            ("kibibytes", "KiBy", Some(Unit::Kibibyte)),
            ("megabytes", "MBy", Some(Unit::Megabyte)),
            ("mebibytes", "MiBy", Some(Unit::Mebibyte)),
            ("gigabytes", "GBy", Some(Unit::Gigabyte)),
            ("gibibytes", "GiBy", Some(Unit::Gibibyte)),
            ("terabytes", "TBy", Some(Unit::Terabyte)),
            ("tebibytes", "TiBy", Some(Unit::Tebibyte)),
            ("petabytes", "PBy", Some(Unit::Petabyte)),
            ("pebibytes", "PiBy", Some(Unit::Pebibyte)),
            ("ratio", "1", Some(Unit::Ratio)),
            ("percent", "%", Some(Unit::Percent)),
            ("annotated bytes", "By{compressed}", Some(Unit::Byte)),
            ("annotation first", "{packet}ms", Some(Unit::Millisecond)),
            ("annotated rate", "{packets}/s", other("/s")),
            ("unclosed annotation", "ms{oops", Some(Unit::Millisecond)),
            ("surrounding spaces", " s ", Some(Unit::Second)),
            ("meters", "m", other("m")),
            ("celsius", "Cel", other("Cel")),
            ("byte rate", "By/s", other("By/s")),
            ("bel is not a byte", "B", other("B")),
        ];
        for (name, ucum, want) in cases {
            assert_eq!(sentry_unit(ucum), *want, "{name}: {ucum:?}");
        }
    }
}
