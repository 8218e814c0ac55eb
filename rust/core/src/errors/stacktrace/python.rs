//! CPython's tracebacks (`traceback.format_exception`): `Traceback (most recent call last):`,
//! frames oldest first (`  File "app.py", line 3, in handler` and the source lines under
//! them), then `ValueError: message`. Chained exceptions come root cause first, each
//! followed by the line that links it to the next. Exception groups are read as their
//! group's own traceback; the sub-exceptions are skipped.

use sentry_types::protocol::v7::{Exception, Frame};

use std::collections::VecDeque;

use super::{build_chain, number, push_newer, set_path, Frames, Lines, Order, Unbuilt};

/// The lines that end one exception of a chain and announce the next.
const LINKS: [&str; 2] = [
    "The above exception was the direct cause of the following exception:",
    "During handling of the above exception, another exception occurred:",
];

/// Directories of installed packages and of the standard library: not the app.
const LIBRARY_DIRS: [&str; 3] = ["/site-packages/", "/dist-packages/", "/lib/python"];

/// The exception being read: its frames, then the lines of its `Type: message`.
struct Read<'a> {
    frames: Frames,
    header: Lines<'a>,
}

impl Read<'_> {
    fn new() -> Self {
        Read {
            frames: Frames::new(Order::OldestFirst),
            header: Lines::default(),
        }
    }

    fn is_empty(&self) -> bool {
        self.frames.is_empty() && self.header.is_empty()
    }
}

pub(super) fn parse(text: &str) -> Option<Vec<Exception>> {
    let mut chain = VecDeque::new();
    let mut current = Read::new();
    let mut recognised = false;
    let mut in_group = false;
    let mut in_sub_exceptions = false;
    for raw in text.lines() {
        // Sub-exceptions of a group are nested deeper; the next top-level line ends them.
        if in_sub_exceptions && raw.starts_with(char::is_whitespace) {
            continue;
        }
        in_sub_exceptions = false;
        in_group |= raw.trim_start().starts_with("+ Exception Group Traceback");
        let line = if in_group { ungrouped(raw) } else { raw };
        let trimmed = line.trim_start();
        if trimmed.ends_with("Traceback (most recent call last):") {
            recognised = true;
            let done = !current.header.is_empty();
            finish_if(&mut chain, &mut current, done);
        } else if LINKS.contains(&trimmed) {
            finish_if(&mut chain, &mut current, true);
        } else if in_group && trimmed.starts_with("+-") {
            in_sub_exceptions = true;
        } else if let Some(frame) = trimmed.strip_prefix("File \"").and_then(frame) {
            recognised = true;
            let done = !current.header.is_empty();
            finish_if(&mut chain, &mut current, done);
            current.frames.push(frame);
        } else if let Some(times) = repeated(trimmed) {
            current.frames.repeat_last(times);
        } else if line.starts_with(char::is_whitespace) || line.is_empty() {
            // Source lines and their carets under a frame.
        } else if !current.header.is_empty() || is_header(line) {
            current.header.push(line);
        }
    }
    finish_if(&mut chain, &mut current, true);
    (recognised && !chain.is_empty()).then(|| build_chain(chain))
}

/// A line inside an exception group's box (`  | ...`) as it would be outside one.
fn ungrouped(line: &str) -> &str {
    let trimmed = line.trim_start();
    if let Some(inner) = trimmed.strip_prefix("| ") {
        return inner;
    }
    trimmed.strip_prefix("+ ").unwrap_or(line)
}

/// Ends the exception being read when `done`, adding it to the chain if anything was read.
fn finish_if<'a>(chain: &mut VecDeque<Unbuilt<'a>>, current: &mut Read<'a>, done: bool) {
    if !done || current.is_empty() {
        return;
    }
    let read = std::mem::replace(current, Read::new());
    let first = read.header.first().copied().unwrap_or_default();
    let (name, first_line) = match first.split_once(": ") {
        Some((name, rest)) => (name, Some(rest)),
        None => (first.trim_end(), None),
    };
    let message = first_line
        .into_iter()
        .chain(read.header.iter().skip(1).copied())
        .collect();
    // Sentry names the class and keeps its module apart, as its Python SDK does.
    let (module, ty) = match name.rsplit_once('.') {
        Some((module, ty)) => (Some(module), ty),
        None => (None, name),
    };
    push_newer(chain, ty, module, message, read.frames);
}

/// `ValueError`, `ValueError: message` or `pkg.errors.Custom: message`.
fn is_header(line: &str) -> bool {
    let name = line
        .split_once(": ")
        .map_or(line.trim_end(), |(name, _)| name);
    !name.is_empty()
        && name.starts_with(|c: char| c.is_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
}

/// `[Previous line repeated 996 more times]`.
fn repeated(line: &str) -> Option<usize> {
    let rest = line.strip_prefix("[Previous line repeated ")?;
    rest.strip_suffix(" more times]")?.parse().ok()
}

/// `app.py", line 3, in handler` (after `File "`); `, in ...` is missing for some errors.
fn frame(text: &str) -> Option<Frame> {
    let (path, rest) = text.split_once("\", line ")?;
    let (line, function) = match rest.split_once(", in ") {
        Some((line, function)) => (line, Some(function.to_owned())),
        None => (rest.trim_end(), None),
    };
    let mut frame = Frame {
        function,
        lineno: Some(number(line)?),
        module: module(path),
        in_app: Some(!is_library(path)),
        ..Default::default()
    };
    set_path(&mut frame, path);
    Some(frame)
}

fn is_library(path: &str) -> bool {
    let path = path.replace('\\', "/");
    path.starts_with("<frozen ") || LIBRARY_DIRS.iter().any(|dir| path.contains(dir))
}

/// The module of a file of an installed package or of the standard library, whose path
/// under its directory names it (`.../site-packages/requests/api.py`: `requests.api`).
fn module(path: &str) -> Option<String> {
    let path = path.replace('\\', "/");
    let relative = LIBRARY_DIRS.iter().find_map(|dir| {
        let (_, rest) = path.split_once(dir)?;
        // Under `/lib/python3.11/` the version comes first.
        Some(match *dir {
            "/lib/python" => rest.split_once('/')?.1,
            _ => rest,
        })
    })?;
    let relative = relative.strip_suffix(".py")?;
    let relative = relative.strip_suffix("/__init__").unwrap_or(relative);
    Some(relative.replace('/', "."))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{functions, types};
    use super::*;

    const CHAIN: &str = r#"Traceback (most recent call last):
  File "/srv/app/config.py", line 14, in load_config
    return read_port({})
           ^^^^^^^^^^^^^
  File "/srv/app/config.py", line 9, in read_port
    return config["port"]
           ~~~~~~^^^^^^^^
KeyError: 'port'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/srv/app/main.py", line 21, in start
    load_config()
  File "/usr/lib/python3.12/json/decoder.py", line 16, in decode
    raise ConfigError("config broken") from e
app.errors.ConfigError: config broken

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/venv/lib/python3.12/site-packages/flask/app.py", line 1, in wsgi_app
    response = self.full_dispatch_request()
  File "<frozen importlib._bootstrap>", line 1, in _call_with_frames_removed
  File "main.py", line 23, in start
    raise ValueError("startup failed\nsee the cause")
ValueError: startup failed
see the cause
"#;

    #[test]
    fn chained_exceptions_root_cause_first() {
        let chain = parse(CHAIN).expect("python");
        assert_eq!(types(&chain), ["KeyError", "ConfigError", "ValueError"]);
        assert_eq!(chain[1].module.as_deref(), Some("app.errors"));
        assert_eq!(chain[0].value.as_deref(), Some("'port'"));
        assert_eq!(
            chain[2].value.as_deref(),
            Some("startup failed\nsee the cause")
        );
        assert_eq!(functions(&chain[0]), ["load_config", "read_port"]);
        let frames = &chain[2].stacktrace.as_ref().expect("frames").frames;
        let summary: Vec<_> = frames
            .iter()
            .map(|f| {
                (
                    f.function.as_deref(),
                    f.module.as_deref(),
                    f.filename.as_deref(),
                    f.abs_path.as_deref(),
                    f.lineno,
                    f.in_app,
                )
            })
            .collect();
        let flask = "/srv/venv/lib/python3.12/site-packages/flask/app.py";
        assert_eq!(
            summary,
            [
                (
                    Some("wsgi_app"),
                    Some("flask.app"),
                    Some(flask),
                    Some(flask),
                    Some(1),
                    Some(false)
                ),
                (
                    Some("_call_with_frames_removed"),
                    None,
                    Some("<frozen importlib._bootstrap>"),
                    None,
                    Some(1),
                    Some(false)
                ),
                (
                    Some("start"),
                    None,
                    Some("main.py"),
                    None,
                    Some(23),
                    Some(true)
                ),
            ]
        );
        let stdlib = &chain[1].stacktrace.as_ref().expect("frames").frames[1];
        assert_eq!(stdlib.module.as_deref(), Some("json.decoder"));
        assert_eq!(stdlib.in_app, Some(false));
    }

    #[test]
    fn repeated_recursion_and_syntax_errors() {
        let text = "Traceback (most recent call last):\n\
                    \x20 File \"/app/deep.py\", line 5, in <module>\n\
                    \x20   recurse(0)\n\
                    \x20 File \"/app/deep.py\", line 2, in recurse\n\
                    \x20   return recurse(n + 1)\n\
                    \x20 [Previous line repeated 996 more times]\n\
                    RecursionError: maximum recursion depth exceeded\n";
        let chain = parse(text).expect("python");
        let names = functions(&chain[0]);
        assert_eq!(names.len(), super::super::MAX_FRAMES);
        assert_eq!(names[0], "<module>");
        assert_eq!(names.last().copied(), Some("recurse"));
        assert!(chain[0]
            .stacktrace
            .as_ref()
            .expect("frames")
            .frames_omitted
            .is_some());

        let syntax = "  File \"/app/x.py\", line 1\n    def f(\n         ^\nSyntaxError: '(' was never closed";
        let chain = parse(syntax).expect("python");
        assert_eq!(chain[0].ty, "SyntaxError");
        // The one frame, without a function.
        assert_eq!(functions(&chain[0]), [""]);
        assert_eq!(
            chain[0].stacktrace.as_ref().expect("frame").frames[0].lineno,
            Some(1)
        );
    }

    #[test]
    fn exception_groups_read_the_group() {
        let text = "  + Exception Group Traceback (most recent call last):\n\
                    \x20 |   File \"/app/g.py\", line 3, in main\n\
                    \x20 |     raise ExceptionGroup(\"many\", [ValueError(1), TypeError(2)])\n\
                    \x20 | ExceptionGroup: many (2 sub-exceptions)\n\
                    \x20 +-+---------------- 1 ----------------\n\
                    \x20   | ValueError: 1\n\
                    \x20   +---------------- 2 ----------------\n\
                    \x20   | TypeError: 2\n\
                    \x20   +------------------------------------\n";
        let chain = parse(text).expect("python");
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].ty, "ExceptionGroup");
        assert_eq!(chain[0].value.as_deref(), Some("many (2 sub-exceptions)"));
        assert_eq!(functions(&chain[0]), ["main"]);
    }

    #[test]
    fn truncated_and_foreign_text() {
        let cut = &CHAIN[..CHAIN.find("line 21, in st").expect("cut") + 14];
        let chain = parse(cut).expect("python");
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].ty, "KeyError");
        assert_eq!(chain[1].ty, "");
        assert_eq!(functions(&chain[1]), ["st"]);
        for text in [
            "ValueError: no traceback",
            "java.lang.Error: x\n\tat a.B.c(B.java:1)",
            "File \"x.py\", line many",
        ] {
            assert!(parse(text).is_none(), "{text}");
        }
    }
}
