//! V8's `error.stack` as Node.js prints it: `TypeError: message`, then frames newest first,
//! `    at fn (/app/file.js:12:5)`, `    at async fn (...)`, `    at /app/file.js:3:1` (no
//! name), `    at new Foo (...)`, `    at node:internal/...`. `util.inspect(error)` adds the
//! cause after the frames, `{ [cause]: Error: ... }`, indented, and may shorten the error's
//! frames shared with its cause to `... 6 lines matching cause stack trace ...`.

use std::collections::BTreeMap;

use sentry_types::protocol::v7::{Exception, Frame};

use super::{
    has_frames, number, push_frame, root_cause_first, set_path, Frames, Order, Read, MAX_EXCEPTIONS,
};

/// Where an error's frames were elided as matching its cause's, by the error's place in the
/// chain: after how many frames, and how many.
type Elided = BTreeMap<usize, (usize, usize)>;

pub(super) fn parse(text: &str) -> Option<Vec<Exception>> {
    // Newest first: the thrown error, then its causes.
    let mut chain: Vec<Read> = Vec::new();
    let mut elided = Elided::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(frame) = trimmed.strip_prefix("at ").and_then(frame) {
            push_frame(&mut chain, frame);
        } else if let Some(n) = elided_frames(trimmed) {
            if let Some(current) = chain.len().checked_sub(1) {
                elided.insert(current, (chain[current].frames.len(), n));
            }
        } else if let Some(header) = trimmed.strip_prefix("[cause]: ") {
            if chain.len() == MAX_EXCEPTIONS {
                break;
            }
            chain.push(header_read(header));
        } else {
            read_other(&mut chain, line);
        }
    }
    if !has_frames(&chain) {
        return None;
    }
    fill_elided(&mut chain, elided);
    Some(root_cause_first(chain))
}

/// From `TypeError: message`, or only the name (maybe before the `{` of its properties).
fn header_read(header: &str) -> Read<'_> {
    let mut read = Read::from_header(header);
    if read.message.is_empty() {
        read.ty = read.ty.trim_end_matches([' ', '{']);
    }
    read
}

/// The first header, or a message's further lines (those before the first frame).
fn read_other<'a>(chain: &mut Vec<Read<'a>>, line: &'a str) {
    match chain.last_mut() {
        None => {
            let ty = line.split_once(": ").map_or(line.trim_end(), |(ty, _)| ty);
            if is_error_name(ty) {
                chain.push(header_read(line.trim()));
            }
        }
        Some(current) if current.frames.is_empty() && !current.ty.is_empty() => {
            current.message.push(line);
        }
        Some(_) => {}
    }
}

/// `Error`, `TypeError`, `ValidationError`: one identifier, maybe with Node's error code
/// (`TypeError [ERR_INVALID_ARG_TYPE]`).
fn is_error_name(name: &str) -> bool {
    let name = name.split_once(" [").map_or(name, |(name, _)| name);
    name.starts_with(|c: char| c.is_alphabetic() || c == '_' || c == '$')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}

/// `... 6 lines matching cause stack trace ...`.
fn elided_frames(line: &str) -> Option<usize> {
    let rest = line.strip_prefix("... ")?;
    let (n, tail) = rest.split_once(' ')?;
    (tail == "lines matching cause stack trace ...")
        .then(|| n.parse().ok())
        .flatten()
}

/// Node keeps the first and last of the frames shared with the cause and elides those
/// between: they follow the first shared frame in the cause's frames. Filled only when no
/// frame was dropped, so positions still hold.
fn fill_elided(chain: &mut [Read], elided: Elided) {
    for (i, (after, n)) in elided {
        let (errors, causes) = chain.split_at_mut(i + 1);
        let (Some(error), Some(cause)) = (errors.last_mut(), causes.first()) else {
            continue;
        };
        if error.frames.dropped > 0 || cause.frames.dropped > 0 {
            continue;
        }
        let printed: Vec<Frame> = error.frames.oldest_first().cloned().collect();
        let cause_frames: Vec<&Frame> = cause.frames.oldest_first().collect();
        // The last frame printed before the marker, counted oldest first.
        let Some(anchor) = after
            .checked_sub(1)
            .and_then(|a| printed.len().checked_sub(a + 1))
        else {
            continue;
        };
        // Oldest first, the elided frames are those before the anchor in the cause's list.
        let Some(at) = printed
            .get(anchor)
            .and_then(|first| cause_frames.iter().position(|f| *f == first))
        else {
            continue;
        };
        let shared = cause_frames[at.saturating_sub(n)..at]
            .iter()
            .map(|f| (*f).clone());
        let mut filled = Frames::new(Order::NewestFirst);
        let rebuilt = printed[..anchor]
            .iter()
            .cloned()
            .chain(shared)
            .chain(printed[anchor..].iter().cloned());
        for frame in rebuilt.rev() {
            filled.push(frame);
        }
        error.frames = filled;
    }
}

/// After `at `: `fn (location)`, `async fn (location)`, `new Foo (location)` or `location`.
fn frame(text: &str) -> Option<Frame> {
    let text = text.trim_end_matches(" {").trim_start_matches("async ");
    let (function, location) = match text.strip_suffix(')') {
        Some(call) => match call.split_once(" (") {
            Some((function, location)) => (Some(function), location),
            None => return None,
        },
        None => (None, text),
    };
    let mut frame = Frame {
        function: function.map(str::to_owned),
        ..Default::default()
    };
    let in_app = match location {
        "native" | "<anonymous>" => false,
        _ => set_location(&mut frame, location)?,
    };
    frame.in_app = Some(in_app);
    Some(frame)
}

/// `/app/file.js:12:5` (or a `file://` URL): whether it is the app's.
fn set_location(frame: &mut Frame, location: &str) -> Option<bool> {
    let (rest, column) = location.rsplit_once(':')?;
    let (path, line) = rest.rsplit_once(':')?;
    frame.lineno = Some(number(line)?);
    frame.colno = Some(number(column)?);
    let path = path.strip_prefix("file://").unwrap_or(path);
    if path.is_empty() || path.contains(" (") {
        return None;
    }
    set_path(frame, path);
    let library =
        path.contains("node_modules") || path.starts_with("node:") || path.starts_with("internal/");
    Some(!library)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{frames, functions, rows, types, Path};
    use super::*;

    const ASYNC: &str = "\
TypeError: Cannot read properties of undefined (reading 'id')
    at fetchUser (/srv/app/users.js:24:9)
    at async Promise.all (index 0)
    at async handler (file:///srv/app/routes.mjs:28:10)
    at new Session (/srv/app/session.js:3:1)
    at Object.<anonymous> (/srv/app/main.js:50:1)
    at /srv/app/node_modules/express/lib/router/layer.js:95:5
    at Module._compile (node:internal/modules/cjs/loader:1521:14)
";

    #[test]
    fn frames_of_every_shape() {
        let chain = parse(ASYNC).expect("node");
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].ty, "TypeError");
        assert_eq!(
            chain[0].value.as_deref(),
            Some("Cannot read properties of undefined (reading 'id')")
        );
        let rows = rows(&chain[0], Path::Filename);
        let loader = "node:internal/modules/cjs/loader";
        let layer = "/srv/app/node_modules/express/lib/router/layer.js";
        assert_eq!(
            rows,
            [
                (
                    "Module._compile",
                    None,
                    Some(loader),
                    Some(1521),
                    Some(false)
                ),
                ("", None, Some(layer), Some(95), Some(false)),
                (
                    "Object.<anonymous>",
                    None,
                    Some("/srv/app/main.js"),
                    Some(50),
                    Some(true)
                ),
                (
                    "new Session",
                    None,
                    Some("/srv/app/session.js"),
                    Some(3),
                    Some(true)
                ),
                (
                    "handler",
                    None,
                    Some("/srv/app/routes.mjs"),
                    Some(28),
                    Some(true)
                ),
                (
                    "fetchUser",
                    None,
                    Some("/srv/app/users.js"),
                    Some(24),
                    Some(true)
                ),
            ]
        );
        let columns: Vec<_> = frames(&chain[0]).iter().map(|f| f.colno).collect();
        assert_eq!(
            columns,
            [Some(14), Some(5), Some(1), Some(1), Some(10), Some(9)]
        );
    }

    const CAUSE: &str = "\
Error: config broken
second line
    at loadConfig (/app/a.js:13:11)
    at main (/app/a.js:33:5)
    ... 2 lines matching cause stack trace ...
    at node:internal/main/run_main_module:28:49 {
  code: 'E_CONFIG',
  [cause]: TypeError: Cannot read properties of undefined (reading 'port')
      at readPort (/app/a.js:6:24)
      at loadConfig (/app/a.js:11:12)
      at main (/app/a.js:33:5)
      at Object.<anonymous> (/app/a.js:50:1)
      at Module._compile (node:internal/modules/cjs/loader:1521:14)
      at node:internal/main/run_main_module:28:49
}
";

    #[test]
    fn causes_and_elided_frames() {
        let chain = parse(CAUSE).expect("node");
        assert_eq!(types(&chain), ["TypeError", "Error"]);
        assert_eq!(
            chain[1].value.as_deref(),
            Some("config broken\nsecond line")
        );
        assert_eq!(
            functions(&chain[1]),
            [
                "",
                "Module._compile",
                "Object.<anonymous>",
                "main",
                "loadConfig"
            ]
        );
        assert_eq!(functions(&chain[0]).last().copied(), Some("readPort"));
    }

    #[test]
    fn truncated_and_foreign_text() {
        let cut = &ASYNC[..ASYNC.find("Object.<anon").expect("cut") + 12];
        let chain = parse(cut).expect("node");
        assert_eq!(
            functions(&chain[0]),
            ["new Session", "handler", "fetchUser"]
        );
        for text in [
            "TypeError: no frames",
            "java.lang.Error: x\n\tat a.B.c(B.java:1)",
            "Error: x\n    at nothing here",
            "Traceback (most recent call last):",
        ] {
            assert!(parse(text).is_none(), "{text}");
        }
    }
}
