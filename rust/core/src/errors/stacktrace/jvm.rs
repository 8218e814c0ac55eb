//! `Throwable.printStackTrace()` of Java, Kotlin, Scala and the other JVM languages:
//! the thrown exception's header and frames (`\tat pkg.Class.method(File.java:12)`, newest
//! first), then each cause as `Caused by: ...`, whose `... N more` stands for the last N
//! frames of the trace enclosing it. `Suppressed:` blocks are indented and not in the chain.

use sentry_types::protocol::v7::{Exception, Frame};

use super::{has_frames, number, push_frame, root_cause_first, Read, MAX_EXCEPTIONS};

/// Packages of the JDK and of the languages' own libraries.
const NOT_IN_APP: [&str; 8] = [
    "java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin.", "kotlinx.", "scala.",
];

pub(super) fn parse(text: &str) -> Option<Vec<Exception>> {
    // Newest first: the thrown exception, then its causes.
    let mut chain: Vec<Read> = Vec::new();
    let mut suppressed_indent = None;
    // The cause whose omitted frames were filled in: a `... N more` stands once for a cause.
    let mut filled = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(depth) = suppressed_indent {
            if indent >= depth || trimmed.is_empty() {
                continue;
            }
            suppressed_indent = None;
        }
        if let Some(frame) = trimmed.strip_prefix("at ").and_then(frame) {
            push_frame(&mut chain, frame);
        } else if let Some(n) = common_frames(trimmed) {
            if filled != Some(chain.len()) {
                filled = Some(chain.len());
                fill_common(&mut chain, n);
            }
        } else if trimmed.starts_with("Suppressed: ") {
            suppressed_indent = Some(indent);
        } else if let Some(header) = trimmed.strip_prefix("Caused by: ") {
            if chain.len() == MAX_EXCEPTIONS {
                break;
            }
            chain.push(Read::from_header(header));
        } else {
            read_other(&mut chain, line);
        }
    }
    has_frames(&chain).then(|| root_cause_first(chain))
}

/// The first header, or a message's further lines (those before the first frame).
fn read_other<'a>(chain: &mut Vec<Read<'a>>, line: &'a str) {
    match chain.last_mut() {
        None => {
            let header = line.trim();
            // A log line may precede the trace: only a class name starts the chain.
            let header = thread_prefix(header).unwrap_or(header);
            let ty = header.split_once(": ").map_or(header, |(ty, _)| ty);
            if is_class_name(ty) {
                chain.push(Read::from_header(header));
            }
        }
        // A cut `at` line is not part of the message.
        Some(current)
            if current.frames.is_empty()
                && !current.ty.is_empty()
                && !line.trim_start().starts_with("at ") =>
        {
            current.message.push(line);
        }
        Some(_) => {}
    }
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

/// The cause's last `n` frames are those of the trace that encloses it (the exception read
/// before it, its own omitted frames already filled in).
fn fill_common(chain: &mut [Read], n: usize) {
    let [.., enclosing, cause] = chain else {
        return;
    };
    let common: Vec<Frame> = enclosing.frames.oldest_first().take(n).cloned().collect();
    for frame in common.into_iter().rev() {
        cause.frames.push(frame);
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
        in_app: Some(!NOT_IN_APP.iter().any(|p| class.starts_with(p))),
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

    const CHAIN: &str = "\
java.lang.RuntimeException: startup failed
\tat com.acme.App.start(App.java:20)
\tat com.acme.App.main(App.java:36)
\tat java.base/java.lang.Thread.run(Thread.java:1583)
\tSuppressed: java.lang.Exception: cleanup failed
\t\tat com.acme.App.start(App.java:21)
\t\t... 2 more
\tCaused by: java.io.IOException: disk
\t\t... 3 more
Caused by: java.lang.IllegalStateException: config broken:
port is not a number
\tat app//com.acme.Config.load(Config.kt:12)
\tat com.acme.App.start(App.java:18)
\t... 2 more
Caused by: java.lang.NumberFormatException: For input string: \"80x\"
\tat java.base/java.lang.Integer.parseInt(Integer.java:668)
\tat com.acme.Config.lambda$port$0(Config.kt)
\tat com.acme.Config.load(Config.kt:10)
\t... 3 more
";

    #[test]
    fn caused_by_chain_root_cause_first() {
        let chain = parse(CHAIN).expect("java");
        assert_eq!(
            types(&chain),
            [
                "java.lang.NumberFormatException",
                "java.lang.IllegalStateException",
                "java.lang.RuntimeException"
            ]
        );
        assert_eq!(chain[0].value.as_deref(), Some("For input string: \"80x\""));
        assert_eq!(
            chain[1].value.as_deref(),
            Some("config broken:\nport is not a number")
        );
        assert_eq!(functions(&chain[2]), ["run", "main", "start"]);
        assert_eq!(functions(&chain[1]), ["run", "main", "start", "load"]);
        assert_eq!(
            functions(&chain[0]),
            ["run", "main", "start", "load", "lambda$port$0", "parseInt"]
        );
        let root = rows(&chain[0], Path::Filename);
        let line = |f, m, file, n, app| (f, Some(m), Some(file), n, Some(app));
        assert_eq!(
            root[0],
            line("run", "java.lang.Thread", "Thread.java", Some(1583), false)
        );
        assert_eq!(
            root[3],
            line("load", "com.acme.Config", "Config.kt", Some(10), true)
        );
        assert_eq!(
            root[4],
            line("lambda$port$0", "com.acme.Config", "Config.kt", None, true)
        );
        assert_eq!(
            root[5],
            line(
                "parseInt",
                "java.lang.Integer",
                "Integer.java",
                Some(668),
                false
            )
        );
    }

    #[test]
    fn a_repeated_more_line_fills_a_cause_once() {
        let repeated = CHAIN.replace("\t... 2 more\n", &"\t... 2 more\n".repeat(1000));
        let chain = parse(&repeated).expect("java");
        assert_eq!(functions(&chain[1]), ["run", "main", "start", "load"]);
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
    fn uncaught_in_thread_and_native_frames() {
        let text = "Exception in thread \"main\" java.lang.Error\n\
                    \tat jdk.internal.misc.Unsafe.park(Native Method)\n\
                    \tat scala.Main$.main(Main.scala:5)\n\
                    \tat Main.main(Unknown Source)\n";
        let chain = parse(text).expect("java");
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].ty, "java.lang.Error");
        assert_eq!(chain[0].value, None);
        let rows = rows(&chain[0], Path::Filename);
        assert_eq!(rows[0].0, "main");
        assert_eq!(rows[0].1, Some("Main"));
        assert_eq!(rows[0].4, Some(true));
        assert_eq!(rows[1].4, Some(false));
        assert_eq!(rows[2].0, "park");
        assert_eq!(rows[2].2, None);
    }

    #[test]
    fn truncated_text_keeps_what_was_read() {
        let cut = &CHAIN[..CHAIN.find("Config.load(Config.kt:1").expect("cut") + 5];
        let chain = parse(cut).expect("java");
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].ty, "java.lang.IllegalStateException");
        assert_eq!(chain[0].stacktrace, None);
        assert_eq!(
            chain[0].value.as_deref(),
            Some("config broken:\nport is not a number")
        );
        assert_eq!(functions(&chain[1]), ["run", "main", "start"]);
    }

    #[test]
    fn deep_recursion_is_bounded() {
        let mut text = String::from("java.lang.StackOverflowError\n");
        text.push_str("\tat com.acme.Deep.leaf(Deep.java:3)\n");
        for _ in 0..1024 {
            text.push_str("\tat com.acme.Deep.recurse(Deep.java:5)\n");
        }
        text.push_str("\tat com.acme.Deep.main(Deep.java:9)\n");
        let chain = parse(&text).expect("java");
        let names = functions(&chain[0]);
        assert_eq!(names.len(), super::super::MAX_FRAMES);
        assert_eq!(names.first().copied(), Some("main"));
        assert_eq!(names.last().copied(), Some("leaf"));
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
