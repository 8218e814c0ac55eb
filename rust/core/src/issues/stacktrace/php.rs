//! PHP's exceptions as text: `Exception::__toString()` (`Exception: message in
//! /app/a.php:12`, `Stack trace:`, `#0 /app/a.php(20): Foo->bar()` ... `#3 {main}`), the
//! same behind `PHP Fatal error:  Uncaught `, and `getTraceAsString()` alone. Previous
//! exceptions come first, each newer one after `Next `.
//!
//! A trace line names a call and the place it was called from, so frames pair each line's
//! function with the place of the line before (the first with the throw's place), as
//! Sentry's PHP SDK does.

use sentry_types::protocol::v7::{Exception, Frame};

use std::collections::VecDeque;

use super::{build_chain, number, push_newer, set_path, Frames, Lines, Order, Unbuilt};

/// Where PHP prints an uncaught exception's header from.
const PREFIXES: [&str; 4] = [
    "PHP Fatal error:  Uncaught ",
    "PHP Fatal error: Uncaught ",
    "Fatal error: Uncaught ",
    "Next ",
];

/// A file and line.
type Place<'a> = (&'a str, Option<u64>);

/// One exception while it is read: its header lines, then its trace.
struct Read<'a> {
    header: Lines<'a>,
    /// Where the next frame was called from: at first the throw's place.
    place: Option<Place<'a>>,
    frames: Frames,
    in_trace: bool,
}

impl Read<'_> {
    fn new() -> Self {
        Read {
            header: Lines::default(),
            place: None,
            frames: Frames::new(Order::NewestFirst),
            in_trace: false,
        }
    }
}

pub(super) fn parse(text: &str) -> Option<Vec<Exception>> {
    let mut chain = VecDeque::new();
    let mut current = Read::new();
    let mut any_frame = false;
    for line in text.lines() {
        if let Some(entry) = entry(line) {
            any_frame = true;
            if !current.in_trace {
                start_trace(&mut current);
            }
            push_entry(&mut current, entry);
        } else if line == "Stack trace:" {
            start_trace(&mut current);
        } else if line.starts_with("Next ") {
            finish(&mut chain, std::mem::replace(&mut current, Read::new()));
            current.header.push(line);
        } else if !current.in_trace && (!current.header.is_empty() || is_header(line)) {
            current.header.push(line);
        }
    }
    finish(&mut chain, current);
    any_frame.then(|| build_chain(chain))
}

/// The header is complete: its last line ends with the throw's place.
fn start_trace(read: &mut Read) {
    read.in_trace = true;
    if let Some(last) = read.header.last_mut() {
        if let Some((message, place)) = split_place(last) {
            *last = message;
            read.place = Some(place);
        }
    }
}

/// `message in /app/a.php:12` into the message and the place.
fn split_place(line: &str) -> Option<(&str, Place<'_>)> {
    let (message, place) = line.rsplit_once(" in ")?;
    let (path, lineno) = place.rsplit_once(':')?;
    Some((message, (path, Some(number(lineno)?))))
}

/// A trace line: the function called and where from (none for `{main}` and internal calls).
struct Entry<'a> {
    function: &'a str,
    place: Option<Place<'a>>,
}

/// `#0 /app/a.php(20): Foo->bar(1, 'x')`, `#1 [internal function]: fn()`, `#2 {main}`.
fn entry(line: &str) -> Option<Entry<'_>> {
    let rest = line.strip_prefix('#')?;
    let (index, rest) = rest.split_once(' ')?;
    number(index)?;
    if rest == "{main}" {
        return Some(Entry {
            function: rest,
            place: None,
        });
    }
    let (place, call) = rest.split_once(": ")?;
    let function = call.split_once('(').map_or(call, |(name, _)| name);
    let place = match place {
        "[internal function]" => None,
        _ => {
            let (path, lineno) = place.strip_suffix(')')?.rsplit_once('(')?;
            Some((path, Some(number(lineno)?)))
        }
    };
    Some(Entry { function, place })
}

fn push_entry<'a>(read: &mut Read<'a>, entry: Entry<'a>) {
    let mut frame = Frame {
        function: Some(entry.function.to_owned()),
        in_app: Some(false),
        ..Default::default()
    };
    if let Some((path, lineno)) = read.place {
        set_path(&mut frame, path);
        frame.lineno = lineno;
        frame.in_app = Some(!path.contains("/vendor/"));
    }
    read.frames.push(frame);
    read.place = entry.place;
}

/// `Exception: message` (after PHP's prefix), the class maybe namespaced.
fn is_header(line: &str) -> bool {
    let line = PREFIXES
        .iter()
        .find_map(|p| line.strip_prefix(p))
        .unwrap_or(line);
    line.split_once(": ").is_some_and(|(ty, _)| is_class(ty))
}

fn is_class(ty: &str) -> bool {
    !ty.is_empty()
        && ty
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '\\')
}

fn finish<'a>(chain: &mut VecDeque<Unbuilt<'a>>, read: Read<'a>) {
    if read.header.is_empty() && read.frames.is_empty() {
        return;
    }
    let first = read.header.first().copied().unwrap_or_default();
    let first = PREFIXES
        .iter()
        .find_map(|p| first.strip_prefix(p))
        .unwrap_or(first);
    let (ty, first) = first.split_once(": ").unwrap_or(("", first));
    let message = std::iter::once(first)
        .chain(read.header.iter().skip(1).copied())
        .filter(|l| !l.is_empty())
        .collect();
    push_newer(chain, ty, None, message, read.frames);
}

#[cfg(test)]
mod tests {
    use super::super::testing::{functions, rows, types, Path};
    use super::*;

    const FATAL: &str = "\
PHP Fatal error:  Uncaught InvalidArgumentException: Port \"80x\"
is not a number in /app/src/Config.php:12
Stack trace:
#0 /app/src/Checkout.php(30): App\\Config->port('80x')
#1 [internal function]: App\\Checkout->run()
#2 /app/vendor/slim/slim/App.php(9): call_user_func(Array)
#3 /app/public/index.php(5): Slim\\App->handle()
#4 {main}

Next App\\CheckoutException: checkout failed in /app/src/Checkout.php:33
Stack trace:
#0 /app/public/index.php(5): App\\Checkout->start()
#1 {main}
  thrown in /app/src/Checkout.php on line 33
";

    #[test]
    fn uncaught_with_next() {
        let chain = parse(FATAL).expect("php");
        assert_eq!(
            types(&chain),
            ["InvalidArgumentException", "App\\CheckoutException"]
        );
        assert_eq!(
            chain[0].value.as_deref(),
            Some("Port \"80x\"\nis not a number")
        );
        assert_eq!(chain[1].value.as_deref(), Some("checkout failed"));
        assert_eq!(
            rows(&chain[0], Path::Absolute),
            [
                (
                    "{main}",
                    None,
                    Some("/app/public/index.php"),
                    Some(5),
                    Some(true)
                ),
                (
                    "Slim\\App->handle",
                    None,
                    Some("/app/vendor/slim/slim/App.php"),
                    Some(9),
                    Some(false)
                ),
                ("call_user_func", None, None, None, Some(false)),
                (
                    "App\\Checkout->run",
                    None,
                    Some("/app/src/Checkout.php"),
                    Some(30),
                    Some(true)
                ),
                (
                    "App\\Config->port",
                    None,
                    Some("/app/src/Config.php"),
                    Some(12),
                    Some(true)
                ),
            ]
        );
        assert_eq!(
            rows(&chain[1], Path::Absolute),
            [
                (
                    "{main}",
                    None,
                    Some("/app/public/index.php"),
                    Some(5),
                    Some(true)
                ),
                (
                    "App\\Checkout->start",
                    None,
                    Some("/app/src/Checkout.php"),
                    Some(33),
                    Some(true)
                ),
            ]
        );
    }

    #[test]
    fn trace_as_string_alone() {
        let text = "#0 /app/a.php(20): Foo->bar()\n#1 /app/a.php(25): {closure}(1)\n#2 {main}";
        let chain = parse(text).expect("php");
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].ty, "");
        assert_eq!(
            rows(&chain[0], Path::Absolute),
            [
                ("{main}", None, Some("/app/a.php"), Some(25), Some(true)),
                ("{closure}", None, Some("/app/a.php"), Some(20), Some(true)),
                ("Foo->bar", None, None, None, Some(false)),
            ]
        );
    }

    #[test]
    fn truncated_and_foreign_text() {
        let cut = &FATAL[..FATAL.find("#3 /app/pub").expect("cut") + 11];
        let chain = parse(cut).expect("php");
        assert_eq!(chain.len(), 1);
        assert_eq!(
            functions(&chain[0]),
            ["call_user_func", "App\\Checkout->run", "App\\Config->port"]
        );
        for text in [
            "Exception: no trace in /a.php:1",
            "java.lang.Error: x\n\tat a.B.c(B.java:1)",
            "#x {main}",
        ] {
            assert!(parse(text).is_none(), "{text}");
        }
    }
}
