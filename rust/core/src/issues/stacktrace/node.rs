//! V8's `error.stack` as Node.js prints it: `TypeError: message`, then frames newest first,
//! `    at fn (/app/file.js:12:5)`, `    at async fn (...)`, `    at /app/file.js:3:1` (no
//! name), `    at new Foo (...)`, `    at node:internal/...`. `util.inspect(error)` adds the
//! cause after the frames, `{ [cause]: Error: ... }`, indented, and may shorten the error's
//! frames shared with its cause to `... 6 lines matching cause stack trace ...`.
//!
//! The exceptions are what @sentry/node (11.x) sends for the same error:
//! - type the error's `name` (`exceptionFromError`): Node prints a system error's code after it
//!   (`TypeError [ERR_INVALID_ARG_TYPE]: ...`), which is not part of the name;
//! - a cause as the LinkedErrors integration adds it (`aggregateExceptionsFromError`: at most 5
//!   causes, each numbered one more than the error it caused and its `parent_id`, mechanism
//!   `chained`, source `cause`), root cause first;
//! - frames as `node-stack-trace.js` parses them: the function as it names them
//!   (`Object.<anonymous>` is `Object.?`, a frame without a name `?`), the file (a
//!   `file://` URL's path), line and column, `in_app` (`filenameIsInApp`: an absolute or `./`
//!   path outside `node_modules/`; `node:` and `internal/` files, `native`, `<anonymous>` and
//!   `index 0` of `Promise.all` are not), `module` (`createGetModuleFromFilename`: see
//!   [`set_modules`]), the newest 50 (`STACKTRACE_FRAME_LIMIT`).

use std::collections::BTreeMap;

use sentry_types::protocol::v7::{Exception, Frame};

use super::{
    has_frames, mechanism_keys, number, push_frame, root_cause_first, set_mechanism_data, set_path,
    Frames, Order, Read,
};

/// The frames @sentry/node sends of an error, the newest.
const SENT_FRAMES: usize = 50;
/// The causes its LinkedErrors integration adds (`DEFAULT_LIMIT`).
const SENT_CAUSES: usize = 5;

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
            if chain.len() == SENT_CAUSES + 1 {
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
    for read in &mut chain {
        read.frames.keep_newest(SENT_FRAMES);
    }
    let mut chain = root_cause_first(chain);
    number_causes(&mut chain);
    set_modules(&mut chain);
    Some(chain)
}

/// The mechanisms LinkedErrors gives the causes (and the error they belong to its id).
fn number_causes(chain: &mut [Exception]) {
    if chain.len() < 2 {
        return;
    }
    let count = chain.len();
    for (i, exception) in chain.iter_mut().enumerate() {
        let id = (count - 1 - i) as u64;
        set_mechanism_data(exception, mechanism_keys::EXCEPTION_ID, id.into());
        if id > 0 {
            set_mechanism_data(exception, mechanism_keys::PARENT_ID, (id - 1).into());
            set_mechanism_data(exception, mechanism_keys::SOURCE, "cause".into());
            if let Some(mechanism) = exception.mechanism.as_mut() {
                mechanism.ty = "chained".to_owned();
            }
        }
    }
}

/// Each frame's `module` as @sentry/node's `createGetModuleFromFilename` names it: the file's
/// base name less `.js`/`.mjs`/`.cjs`, after its directory below `node_modules` (`express.lib.
/// router:layer`) or below the application's directory (`routes:users`). That directory is
/// the main script's (`process.argv[1]`), which the text does not name: it is taken as the
/// shallowest directory of the application's files in the trace (the script that loads the
/// others is usually above them). Files elsewhere (`node:internal/...`) are their base name.
fn set_modules(chain: &mut [Exception]) {
    let app_dirs = chain
        .iter()
        .filter_map(|e| e.stacktrace.as_ref())
        .flat_map(|s| &s.frames)
        .filter(|f| f.in_app == Some(true))
        .filter_map(|f| f.filename.as_deref())
        .map(|path| path.rfind('/').map_or("", |at| &path[..at]));
    let depth = |dir: &str| dir.matches('/').count();
    let base = app_dirs.fold(None::<&str>, |shallowest, dir| match shallowest {
        Some(s) if depth(s) <= depth(dir) => Some(s),
        _ => Some(dir),
    });
    let base = base.map(str::to_owned);
    for stacktrace in chain.iter_mut().filter_map(|e| e.stacktrace.as_mut()) {
        // A frame without a file (`native`) gets the newest frame's, module left unset
        // (`stripSentryFramesAndReverse`).
        let newest = stacktrace.frames.last().and_then(|f| f.filename.clone());
        for frame in &mut stacktrace.frames {
            match frame.filename.as_deref() {
                Some(filename) => frame.module = Some(module_of(filename, base.as_deref())),
                None => frame.filename.clone_from(&newest),
            }
        }
    }
}

/// `createGetModuleFromFilename`'s name of a file, the application's directory `base`.
fn module_of(filename: &str, base: Option<&str>) -> String {
    let (dir, file) = match filename.rfind('/') {
        Some(at) => (&filename[..at], &filename[at + 1..]),
        None => (".", filename),
    };
    let stem = [".js", ".mjs", ".cjs"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext))
        .unwrap_or(file);
    if let Some(at) = dir.rfind("/node_modules") {
        return module_name(dir.get(at + 14..).unwrap_or_default(), stem);
    }
    if let Some(base) = base.filter(|b| dir.starts_with(b)) {
        let below = dir.get(base.len() + 1..).unwrap_or_default();
        return if below.is_empty() {
            stem.to_owned()
        } else {
            module_name(below, stem)
        };
    }
    stem.to_owned()
}

/// `dir`'s slashes as dots, then `:` and `stem`, written in one string.
fn module_name(dir: &str, stem: &str) -> String {
    let mut name = String::with_capacity(dir.len() + 1 + stem.len());
    name.extend(dir.chars().map(|c| if c == '/' { '.' } else { c }));
    name.push(':');
    name.push_str(stem);
    name
}

/// From `TypeError: message`, or only the name (maybe before the `{` of its properties); the
/// name without Node's ` [ERR_CODE]`.
fn header_read(header: &str) -> Read<'_> {
    let mut read = Read::from_header(header);
    if read.message.is_empty() {
        read.ty = read.ty.trim_end_matches([' ', '{']);
    }
    if let Some((name, code)) = read.ty.split_once(" [") {
        if code.ends_with(']') {
            read.ty = name;
        }
    }
    read
}

/// The first header, or a message's further lines (those before the first frame).
fn read_other<'a>(chain: &mut Vec<Read<'a>>, line: &'a str) {
    match chain.last_mut() {
        None => chain.extend(Read::first(line, is_error_name, header_read)),
        Some(current) => {
            let framed = !current.frames.is_empty();
            current.continue_message(line, framed);
        }
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

/// After `at `: `fn (location)`, `async fn (location)`, `new Foo (location)` or `location`,
/// as @sentry/node's `node()` line parser reads it.
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
        function: Some(function_name(function)),
        ..Default::default()
    };
    let native = location == "native";
    match split_location(location) {
        Some((path, line, column)) => {
            frame.lineno = Some(number(line)?);
            frame.colno = Some(number(column)?);
            let path = path.strip_prefix("file://").unwrap_or(path);
            if path.is_empty() || path.contains(" (") {
                return None;
            }
            set_path(&mut frame, path);
        }
        // `native`, `<anonymous>`, `index 0`: a place without a line.
        None if native => {}
        None if !location.is_empty() && !location.contains(['(', ')']) && function.is_some() => {
            frame.filename = Some(location.to_owned());
        }
        None if location == "<anonymous>" => frame.filename = Some(location.to_owned()),
        None => return None,
    }
    frame.in_app = Some(!native && is_in_app(frame.filename.as_deref().unwrap_or_default()));
    Some(frame)
}

/// `/app/file.js:12:5`: the path, the line and the column.
fn split_location(location: &str) -> Option<(&str, &str, &str)> {
    let (rest, column) = location.rsplit_once(':')?;
    let (path, line) = rest.rsplit_once(':')?;
    (!line.is_empty() && line.bytes().all(|b| b.is_ascii_digit())).then_some((path, line, column))
}

/// @sentry/node's `filenameIsInApp`: an absolute (or `./`) path, or a URL, outside
/// `node_modules/`.
fn is_in_app(filename: &str) -> bool {
    let bytes = filename.as_bytes();
    let windows = bytes.len() > 1 && bytes[0].is_ascii_uppercase() && bytes[1] == b':';
    let url = filename.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
    });
    let internal = !filename.is_empty()
        && !filename.starts_with('/')
        && !windows
        && !filename.starts_with('.')
        && !url;
    !internal && !filename.contains("node_modules/")
}

/// The function as @sentry/node names it: `Type.method` stays, `Object.<anonymous>` is
/// `Object.?`, `Object.Module._extensions..js` is `Module._extensions..js`, none is `?`.
fn function_name(name: Option<&str>) -> String {
    const UNKNOWN: &str = "?";
    let Some(mut function) = name else {
        return UNKNOWN.to_owned();
    };
    let mut type_name = None;
    let mut method = None;
    if let Some(mut start) = function.rfind('.') {
        if start > 0 && function.as_bytes()[start - 1] == b'.' {
            start -= 1;
        }
        if start > 0 {
            let mut object = &function[..start];
            method = Some(&function[start + 1..]);
            if let Some(end) = object.find(".Module").filter(|&end| end > 0) {
                function = &function[end + 1..];
                object = &object[..end];
            }
            type_name = Some(object);
        }
    }
    if method == Some("<anonymous>") {
        return match type_name {
            Some(object) => format!("{object}.{UNKNOWN}"),
            None => UNKNOWN.to_owned(),
        };
    }
    function.to_owned()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{frames, functions, rows, types, Path};
    use super::*;

    const ASYNC: &str = "\
TypeError [ERR_INVALID_ARG_TYPE]: Cannot read properties of undefined (reading 'id')
    at fetchUser (/srv/app/users.js:24:9)
    at async Promise.all (index 0)
    at async handler (file:///srv/app/routes.mjs:28:10)
    at new Session (/srv/app/session.js:3:1)
    at Object.<anonymous> (/srv/app/main.js:50:1)
    at /srv/app/node_modules/express/lib/router/layer.js:95:5
    at Module._compile (node:internal/modules/cjs/loader:1521:14)
    at Object.Module._extensions..js (node:internal/modules/cjs/loader:1000:10)
    at <anonymous>
    at Array.forEach (native)
    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)
    at /srv/app/lib/util/x.cjs:1:2
    at Function.executeUserEntryPoint [as runMain] (node:internal/modules/run_main:164:12)
";

    /// The rows are what @sentry/node 11.12's stack parser (`node-stack-trace.js` with
    /// `createGetModuleFromFilename('/srv/app')`) makes of the same stack.
    #[test]
    fn frames_of_every_shape() {
        let chain = parse(ASYNC).expect("node");
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].ty, "TypeError", "the name, without the code");
        assert_eq!(
            chain[0].value.as_deref(),
            Some("Cannot read properties of undefined (reading 'id')")
        );
        assert_eq!(chain[0].mechanism, None);
        let got: Vec<_> = frames(&chain[0])
            .iter()
            .map(|f| {
                (
                    f.function.as_deref().unwrap_or_default(),
                    f.module.as_deref(),
                    f.filename.as_deref(),
                    f.lineno,
                    f.colno,
                    f.in_app,
                )
            })
            .collect();
        let loader = Some("node:internal/modules/cjs/loader");
        let users = Some("/srv/app/users.js");
        assert_eq!(
            got,
            [
                (
                    "Function.executeUserEntryPoint [as runMain]",
                    Some("run_main"),
                    Some("node:internal/modules/run_main"),
                    Some(164),
                    Some(12),
                    Some(false)
                ),
                (
                    "?",
                    Some("lib.util:x"),
                    Some("/srv/app/lib/util/x.cjs"),
                    Some(1),
                    Some(2),
                    Some(true)
                ),
                (
                    "process.processTicksAndRejections",
                    Some("task_queues"),
                    Some("node:internal/process/task_queues"),
                    Some(95),
                    Some(5),
                    Some(false)
                ),
                ("Array.forEach", None, users, None, None, Some(false)),
                (
                    "?",
                    Some("<anonymous>"),
                    Some("<anonymous>"),
                    None,
                    None,
                    Some(false)
                ),
                (
                    "Module._extensions..js",
                    Some("loader"),
                    loader,
                    Some(1000),
                    Some(10),
                    Some(false)
                ),
                (
                    "Module._compile",
                    Some("loader"),
                    loader,
                    Some(1521),
                    Some(14),
                    Some(false)
                ),
                (
                    "?",
                    Some("express.lib.router:layer"),
                    Some("/srv/app/node_modules/express/lib/router/layer.js"),
                    Some(95),
                    Some(5),
                    Some(false)
                ),
                (
                    "Object.?",
                    Some("main"),
                    Some("/srv/app/main.js"),
                    Some(50),
                    Some(1),
                    Some(true)
                ),
                (
                    "new Session",
                    Some("session"),
                    Some("/srv/app/session.js"),
                    Some(3),
                    Some(1),
                    Some(true)
                ),
                (
                    "handler",
                    Some("routes"),
                    Some("/srv/app/routes.mjs"),
                    Some(28),
                    Some(10),
                    Some(true)
                ),
                (
                    "Promise.all",
                    Some("index 0"),
                    Some("index 0"),
                    None,
                    None,
                    Some(false)
                ),
                (
                    "fetchUser",
                    Some("users"),
                    users,
                    Some(24),
                    Some(9),
                    Some(true)
                ),
            ]
        );
        let abs = rows(&chain[0], Path::Absolute);
        assert_eq!(abs[10].2, Some("/srv/app/routes.mjs"));
    }

    #[test]
    fn the_newest_fifty_frames() {
        let mut text = String::from("RangeError: Maximum call stack size exceeded\n");
        for i in 0..200 {
            text.push_str(&format!("    at recurse (/app/deep.js:{}:3)\n", i + 1));
        }
        let chain = parse(&text).expect("node");
        let stacktrace = chain[0].stacktrace.as_ref().expect("frames");
        assert_eq!(stacktrace.frames.len(), SENT_FRAMES);
        assert_eq!(stacktrace.frames.last().and_then(|f| f.lineno), Some(1));
        assert_eq!(stacktrace.frames_omitted, None);
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
            ["?", "Module._compile", "Object.?", "main", "loadConfig"]
        );
        assert_eq!(functions(&chain[0]).last().copied(), Some("readPort"));
        // LinkedErrors' numbering of a cause.
        let data =
            |e: &Exception, key: &str| e.mechanism.as_ref().and_then(|m| m.data.get(key).cloned());
        assert_eq!(
            data(&chain[1], mechanism_keys::EXCEPTION_ID),
            Some(0.into())
        );
        assert_eq!(data(&chain[1], mechanism_keys::PARENT_ID), None);
        assert_eq!(
            data(&chain[0], mechanism_keys::EXCEPTION_ID),
            Some(1.into())
        );
        assert_eq!(data(&chain[0], mechanism_keys::PARENT_ID), Some(0.into()));
        assert_eq!(
            data(&chain[0], mechanism_keys::SOURCE),
            Some("cause".into())
        );
        assert_eq!(
            chain[0].mechanism.as_ref().map(|m| m.ty.as_str()),
            Some("chained")
        );
    }

    #[test]
    fn truncated_and_foreign_text() {
        let cut = &ASYNC[..ASYNC.find("Object.<anon").expect("cut") + 12];
        let chain = parse(cut).expect("node");
        assert_eq!(
            functions(&chain[0]),
            ["new Session", "handler", "Promise.all", "fetchUser"]
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
