//! `Throwable.printStackTrace()` of Java, Kotlin, Scala and the other JVM languages:
//! the thrown exception's header and frames (`\tat pkg.Class.method(File.java:12)`, newest
//! first), then its suppressed exceptions (`\tSuppressed: ...`, one tab further right, each with
//! its own causes and suppressed ones), then its cause as `Caused by: ...`, and so on; a
//! `... N more` stands for the last N frames of the trace enclosing the exception (the one it
//! caused, or the one that suppressed it).
//!
//! The exceptions are what sentry-java (8.x) sends for the same Throwable:
//! - type and module (`SentryExceptionFactory.getSentryException`): the class name less its
//!   package (`IllegalStateException`, a nested class `Outer$Inner`), and the package
//!   (`java.lang`);
//! - the list (`extractExceptionQueueInternal`): the Throwable, each of its suppressed ones with
//!   theirs, then its cause, and so on, in the order printStackTrace prints them, numbered in
//!   that order (`exception_id`), each with the `parent_id` sentry-java gives it (a cause: the
//!   exception it caused; a suppressed one: the exception numbered just before it), mechanism
//!   type `chained` (`suppressed` for a suppressed one), then reversed: the thrown one last;
//! - frames (`SentryStackTraceFactory.getStackFrames`): module the class, function the method,
//!   file and line (none for `Native Method` or `Unknown Source`), the newest 100 only
//!   (`STACKTRACE_FRAME_LIMIT`), and `in_app` unset: `isInApp` is true only for the in-app
//!   includes and false for the excludes, both empty by default ([`super::apply_in_app`] sets
//!   the includes of `errors.in_app_include`).

use sentry_types::protocol::v7::{Exception, Frame};

use super::{mechanism_keys, number, set_mechanism_data, Lines, Read, MAX_EXCEPTIONS};

/// The frames sentry-java sends of an exception, the newest.
const SENT_FRAMES: usize = 100;

/// One exception as read, and where it hangs.
struct Node<'a> {
    read: Read<'a>,
    /// The width of the whitespace before its header.
    indent: usize,
    /// Printed as a `Suppressed:` exception.
    suppressed: bool,
    /// The exception whose trace encloses it: the one it caused, or that suppressed it.
    enclosing: Option<usize>,
    /// Whether its `... N more` was filled in (a cause's is, once).
    filled: bool,
}

pub(super) fn parse(text: &str) -> Option<Vec<Exception>> {
    // Every exception in the order printed, which is sentry-java's order of numbering.
    let mut nodes: Vec<Node> = Vec::new();
    // The exceptions whose frames or causes may follow, the deepest last.
    let mut open: Vec<usize> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(frame) = trimmed.strip_prefix("at ").and_then(frame) {
            let owner = owner(&nodes, &open, indent);
            let owner = match owner {
                Some(owner) => owner,
                None => start(&mut nodes, &mut open, Read::new("", Lines::default()), 0),
            };
            nodes[owner].read.frames.push(frame);
        } else if let Some(n) = common_frames(trimmed) {
            if let Some(owner) = owner(&nodes, &open, indent) {
                fill_common(&mut nodes, owner, n);
            }
        } else if let Some(header) = trimmed.strip_prefix("Suppressed: ") {
            if nodes.len() == MAX_EXCEPTIONS {
                break;
            }
            let enclosing = owner(&nodes, &open, indent);
            open.retain(|&n| nodes[n].indent < indent);
            let node = start(&mut nodes, &mut open, Read::from_header(header), indent);
            nodes[node].suppressed = true;
            nodes[node].enclosing = enclosing;
        } else if let Some(header) = trimmed.strip_prefix("Caused by: ") {
            if nodes.len() == MAX_EXCEPTIONS {
                break;
            }
            // The cause of the exception printed last at this indentation (or less).
            open.retain(|&n| nodes[n].indent <= indent);
            let effect = open.pop();
            let node = start(&mut nodes, &mut open, Read::from_header(header), indent);
            nodes[node].enclosing = effect;
        } else if trimmed.starts_with("[CIRCULAR REFERENCE") {
            // An exception already printed: sentry-java's walk skips it too.
        } else {
            read_other(&mut nodes, &mut open, line);
        }
    }
    if !nodes.iter().any(|n| !n.read.frames.is_empty()) {
        return None;
    }
    Some(build(nodes))
}

/// Starts an exception: the deepest open one.
fn start<'a>(
    nodes: &mut Vec<Node<'a>>,
    open: &mut Vec<usize>,
    read: Read<'a>,
    indent: usize,
) -> usize {
    nodes.push(Node {
        read,
        indent,
        suppressed: false,
        enclosing: None,
        filled: false,
    });
    let index = nodes.len() - 1;
    open.push(index);
    index
}

/// The exception a frame (or `... N more`) at `indent` belongs to: the deepest open one
/// printed to the left of it.
fn owner(nodes: &[Node], open: &[usize], indent: usize) -> Option<usize> {
    open.iter()
        .rev()
        .copied()
        .find(|&n| nodes[n].indent < indent)
        .or_else(|| open.first().copied())
}

/// The first header, or a message's further lines (those before the first frame).
fn read_other<'a>(nodes: &mut Vec<Node<'a>>, open: &mut Vec<usize>, line: &'a str) {
    match nodes.last_mut() {
        None => {
            let trimmed = line.trim();
            let header = thread_prefix(trimmed).unwrap_or(trimmed);
            if let Some(read) = Read::first(header, is_class_name, Read::from_header) {
                let indent = line.len() - line.trim_start().len();
                start(nodes, open, read, indent);
            }
        }
        // A cut `at` line is not part of the message.
        Some(_) if line.trim_start().starts_with("at ") => {}
        Some(current) => {
            let framed = !current.read.frames.is_empty();
            current.read.continue_message(line, framed);
        }
    }
}

/// The exceptions in sentry-java's order, the thrown one last, numbered as it numbers them.
fn build(nodes: Vec<Node>) -> Vec<Exception> {
    let count = nodes.len();
    let mut exceptions: Vec<Exception> = Vec::with_capacity(count);
    for (id, node) in nodes.into_iter().enumerate() {
        let mut frames = node.read.frames;
        frames.keep_newest(SENT_FRAMES);
        let name = node.read.ty;
        let (module, ty) = match name.rsplit_once('.') {
            Some((package, class)) => (Some(package.to_owned()), class),
            None => (None, name),
        };
        let mut exception = super::exception(ty, super::message(&node.read.message), frames);
        exception.module = module;
        set_mechanism_data(
            &mut exception,
            mechanism_keys::EXCEPTION_ID,
            (id as u64).into(),
        );
        let parent = match (node.suppressed, node.enclosing) {
            // sentry-java's recursion starts a suppressed exception's walk with the id read
            // last as its parent.
            (true, _) => id.checked_sub(1),
            (false, enclosing) => enclosing,
        };
        if let Some(parent) = parent {
            set_mechanism_data(
                &mut exception,
                mechanism_keys::PARENT_ID,
                (parent as u64).into(),
            );
        }
        if let Some(mechanism) = exception.mechanism.as_mut() {
            mechanism.ty = if node.suppressed {
                "suppressed"
            } else {
                "chained"
            }
            .to_owned();
        }
        exceptions.push(exception);
    }
    exceptions.reverse();
    exceptions
}

/// The header after the JVM's `Exception in thread "main" ` of an uncaught exception.
fn thread_prefix(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("Exception in thread \"")?;
    rest.split_once("\" ").map(|(_, header)| header)
}

fn is_class_name(ty: &str) -> bool {
    !ty.is_empty()
        && !ty.starts_with('.')
        && ty
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '$' | '_'))
}

/// `... 8 more` (or logback's `... 8 common frames omitted`).
fn common_frames(line: &str) -> Option<usize> {
    let rest = line.strip_prefix("... ")?;
    let (n, tail) = rest.split_once(' ')?;
    matches!(tail.trim_end(), "more" | "common frames omitted")
        .then(|| n.parse().ok())
        .flatten()
}

/// The exception's last `n` frames are those of the trace that encloses it (its own omitted
/// frames already filled in): once per exception, however often the line repeats.
fn fill_common(nodes: &mut [Node], at: usize, n: usize) {
    let Some(enclosing) = nodes[at].enclosing else {
        return;
    };
    if std::mem::replace(&mut nodes[at].filled, true) {
        return;
    }
    let common: Vec<Frame> = nodes[enclosing]
        .read
        .frames
        .oldest_first()
        .take(n)
        .cloned()
        .collect();
    for frame in common.into_iter().rev() {
        nodes[at].read.frames.push(frame);
    }
}

/// `[loader//][module@version/]pkg.Class.method(Source.java:12)`, after `at `.
fn frame(text: &str) -> Option<Frame> {
    let (name, rest) = text.split_once('(')?;
    let (source, _) = rest.split_once(')')?;
    // Class-loader and module prefixes end at the last slash; class names have none.
    let name = name.rsplit('/').next()?;
    let (class, method) = name.rsplit_once('.')?;
    if !is_class_name(class) || method.is_empty() || method.contains(' ') {
        return None;
    }
    let mut frame = Frame {
        function: Some(method.to_owned()),
        module: Some(class.to_owned()),
        ..Default::default()
    };
    match source {
        "Native Method" | "Unknown Source" => {}
        _ if source.contains(' ') || source.is_empty() => return None,
        _ => match source.rsplit_once(':') {
            Some((file, line)) => {
                frame.filename = Some(file.to_owned());
                frame.lineno = Some(number(line)?);
            }
            None => frame.filename = Some(source.to_owned()),
        },
    }
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{functions, rows, types, Path};
    use super::*;
    use serde_json::Value;

    /// (exception_id, parent_id, mechanism type) of an exception.
    fn ids(e: &Exception) -> (Option<u64>, Option<u64>, &str) {
        let m = e.mechanism.as_ref().expect("a mechanism");
        let get = |key: &str| m.data.get(key).and_then(Value::as_u64);
        (
            get(mechanism_keys::EXCEPTION_ID),
            get(mechanism_keys::PARENT_ID),
            m.ty.as_str(),
        )
    }

    /// A JDK 21 `printStackTrace` of a Throwable with two suppressed exceptions (the first
    /// with causes of its own) and two causes.
    const CHAIN: &str = "\
shop.Main$Outer$InnerException: startup failed
\tat shop.Main.start(Main.java:19)
\tat shop.Main.main(Main.java:48)
\tSuppressed: java.io.IOException: cleanup failed
\t\tat shop.Main.start(Main.java:20)
\t\t... 1 more
\tCaused by: java.io.UncheckedIOException: java.io.IOException: disk
\t\t... 2 more
\tCaused by: java.io.IOException: disk
\t\t... 2 more
\tSuppressed: java.lang.IllegalArgumentException: second
\t\tat shop.Main.start(Main.java:22)
\t\t... 1 more
Caused by: java.lang.IllegalStateException: config broken:
port is not a number
\tat app//shop.Main.loadConfig(Main.kt:14)
\tat shop.Main.start(Main.java:17)
\t... 1 more
Caused by: java.lang.NumberFormatException: For input string: \"80x\"
\tat java.base/java.lang.NumberFormatException.forInputString(NumberFormatException.java:67)
\tat java.base/java.lang.Integer.parseInt(Integer.java:668)
\tat shop.Main.lambda$port$0(Main.java)
\tat shop.Main.parsePort(Main.java:11)
\tat shop.Main.loadConfig(Main.java:13)
\t... 2 more
";

    /// What sentry-java 8.47's `SentryExceptionFactory` makes of the same Throwable.
    #[test]
    fn the_list_as_sentry_java_numbers_it() {
        let chain = parse(CHAIN).expect("java");
        assert_eq!(
            types(&chain),
            [
                "NumberFormatException",
                "IllegalStateException",
                "IllegalArgumentException",
                "IOException",
                "UncheckedIOException",
                "IOException",
                "Main$Outer$InnerException"
            ]
        );
        let modules: Vec<_> = chain.iter().map(|e| e.module.as_deref()).collect();
        assert_eq!(
            modules,
            [
                Some("java.lang"),
                Some("java.lang"),
                Some("java.lang"),
                Some("java.io"),
                Some("java.io"),
                Some("java.io"),
                Some("shop")
            ]
        );
        let numbers: Vec<_> = chain.iter().map(ids).collect();
        assert_eq!(
            numbers,
            [
                (Some(6), Some(5), "chained"),
                (Some(5), Some(0), "chained"),
                (Some(4), Some(3), "suppressed"),
                (Some(3), Some(2), "chained"),
                (Some(2), Some(1), "chained"),
                (Some(1), Some(0), "suppressed"),
                (Some(0), None, "chained"),
            ]
        );
        assert_eq!(super::super::raised_index(&chain), 6);
        assert_eq!(
            chain[1].value.as_deref(),
            Some("config broken:\nport is not a number")
        );
        assert_eq!(chain[4].value.as_deref(), Some("java.io.IOException: disk"));
        // `... N more`: the enclosing trace's frames, a suppressed exception's too.
        assert_eq!(functions(&chain[4]), ["main", "start"]);
        assert_eq!(functions(&chain[1]), ["main", "start", "loadConfig"]);
        assert_eq!(
            functions(&chain[0]),
            [
                "main",
                "start",
                "loadConfig",
                "parsePort",
                "lambda$port$0",
                "parseInt",
                "forInputString"
            ]
        );
        let root = rows(&chain[0], Path::Filename);
        let line = |f, m, file, n| (f, Some(m), file, n, None);
        assert_eq!(
            root[5],
            line(
                "parseInt",
                "java.lang.Integer",
                Some("Integer.java"),
                Some(668)
            )
        );
        assert_eq!(
            root[4],
            line("lambda$port$0", "shop.Main", Some("Main.java"), None)
        );
        assert_eq!(
            rows(&chain[1], Path::Filename)[2],
            line("loadConfig", "shop.Main", Some("Main.kt"), Some(14))
        );
        // sentry-java leaves in_app unset but for its in-app includes.
        let all = chain.iter().flat_map(|e| rows(e, Path::Filename));
        assert!(all.into_iter().all(|r| r.4.is_none()));
        let mut included = chain.clone();
        super::super::apply_in_app(&mut included, &["shop.".to_owned()]);
        let in_app: Vec<_> = rows(&included[0], Path::Filename)
            .iter()
            .map(|r| r.4)
            .collect();
        assert_eq!(in_app[..3], [Some(true), Some(true), Some(true)]);
        assert_eq!(in_app[6], Some(false));
    }

    #[test]
    fn a_repeated_more_line_fills_an_exception_once() {
        let repeated = CHAIN.replace("\t... 1 more\n", &"\t... 1 more\n".repeat(1000));
        let chain = parse(&repeated).expect("java");
        assert_eq!(functions(&chain[1]), ["main", "start", "loadConfig"]);
    }

    #[test]
    fn a_message_of_a_million_lines_is_cut() {
        let text = format!(
            "java.lang.IllegalStateException: first\n{}\tat com.acme.App.start(App.java:20)\n",
            "another line of the message\n".repeat(1_000_000)
        );
        let chain = parse(&text).expect("java");
        let value = chain[0].value.as_deref().expect("a message");
        assert!(value.len() <= super::super::MAX_MESSAGE, "{}", value.len());
        assert!(value.starts_with("first\nanother line"));
    }

    #[test]
    fn uncaught_in_thread_native_frames_and_the_default_package() {
        let text = "Exception in thread \"main\" java.lang.Error\n\
                    \tat jdk.internal.misc.Unsafe.park(Native Method)\n\
                    \tat scala.Main$.main(Main.scala:5)\n\
                    \tat Main.main(Unknown Source)\n";
        let chain = parse(text).expect("java");
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].ty, "Error");
        assert_eq!(chain[0].module.as_deref(), Some("java.lang"));
        assert_eq!(chain[0].value, None);
        assert_eq!(ids(&chain[0]), (Some(0), None, "chained"));
        let rows = rows(&chain[0], Path::Filename);
        assert_eq!(rows[0], ("main", Some("Main"), None, None, None));
        assert_eq!(
            rows[2],
            ("park", Some("jdk.internal.misc.Unsafe"), None, None, None)
        );
        let default_package = parse("Boom: x\n\tat Main.main(Main.java:3)\n").expect("java");
        assert_eq!(
            (
                default_package[0].module.as_deref(),
                default_package[0].ty.as_str()
            ),
            (None, "Boom")
        );
    }

    #[test]
    fn truncated_text_keeps_what_was_read() {
        let cut = &CHAIN[..CHAIN.find("Main.loadConfig(Main.kt:1").expect("cut") + 9];
        let chain = parse(cut).expect("java");
        assert_eq!(
            types(&chain).last().copied(),
            Some("Main$Outer$InnerException")
        );
        assert_eq!(chain[0].ty, "IllegalStateException");
        assert_eq!(chain[0].stacktrace, None);
        assert_eq!(
            chain[0].value.as_deref(),
            Some("config broken:\nport is not a number")
        );
    }

    #[test]
    fn deep_recursion_sends_the_newest_hundred() {
        let mut text = String::from("java.lang.StackOverflowError\n");
        text.push_str("\tat com.acme.Deep.leaf(Deep.java:3)\n");
        for _ in 0..1024 {
            text.push_str("\tat com.acme.Deep.recurse(Deep.java:5)\n");
        }
        text.push_str("\tat com.acme.Deep.main(Deep.java:9)\n");
        let chain = parse(&text).expect("java");
        let names = functions(&chain[0]);
        assert_eq!(names.len(), SENT_FRAMES);
        assert_eq!(names.first().copied(), Some("recurse"));
        assert_eq!(names.last().copied(), Some("leaf"));
        let stacktrace = chain[0].stacktrace.as_ref().expect("frames");
        assert_eq!(stacktrace.frames_omitted, None, "sentry-java marks none");
    }

    #[test]
    fn many_causes_are_bounded() {
        let mut text = String::from("java.lang.Error: 0\n\tat a.B.c(B.java:1)\n");
        for i in 1..100 {
            text.push_str(&format!("Caused by: java.lang.Error: {i}\n\t... 1 more\n"));
        }
        let chain = parse(&text).expect("java");
        assert_eq!(chain.len(), MAX_EXCEPTIONS);
        assert_eq!(chain.last().and_then(|e| e.value.as_deref()), Some("0"));
    }

    #[test]
    fn foreign_text_is_not_java() {
        let texts = [
            "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nValueError: x",
            "TypeError: x\n    at f (/app/a.js:1:2)\n",
            "System.Exception: x\n   at A.B.C(String s) in /a.cs:line 3\n",
            "java.lang.RuntimeException: no frames",
            "at com.acme.A.b(A.java:x)",
        ];
        for text in texts {
            assert!(parse(text).is_none(), "{text}");
        }
    }
}
