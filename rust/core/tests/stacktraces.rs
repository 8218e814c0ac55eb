//! The stack-trace parsers against real traces, printed at test time by the runtimes
//! themselves (Java, Python, Go, Node.js) from the programs in `tests/stacktraces/`. Each
//! program prints one section per case after a `=== name` line. A missing runtime fails the
//! test: these traces are the parsers' reference.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use sentry_exporter_core::issues::stacktrace::{
    apply_in_app, mechanism_keys, parse, raised_index, Runtime, MAX_FRAMES,
};
use sentry_types::protocol::v7::{Exception, Frame};

const PROGRAMS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/stacktraces");

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("{command:?} could not run (is the runtime installed?): {e}"))
}

fn stdout(command: &mut Command) -> String {
    let output = run(command);
    assert!(output.status.success(), "{command:?}: {output:?}");
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// The sections of a program's output, by name.
fn sections(output: &str) -> HashMap<String, String> {
    let mut sections = HashMap::new();
    for section in output.split("=== ").skip(1) {
        let (name, text) = section.split_once('\n').expect("a name line");
        sections.insert(name.to_owned(), text.to_owned());
    }
    sections
}

fn frames(e: &Exception) -> &[Frame] {
    e.stacktrace.as_ref().map_or(&[][..], |s| &s.frames[..])
}

fn functions(e: &Exception) -> Vec<&str> {
    frames(e)
        .iter()
        .filter_map(|f| f.function.as_deref())
        .collect()
}

fn last_function(e: &Exception) -> Option<&str> {
    frames(e).last().and_then(|f| f.function.as_deref())
}

fn types(chain: &[Exception]) -> Vec<&str> {
    chain.iter().map(|e| e.ty.as_str()).collect()
}

fn values(chain: &[Exception]) -> Vec<Option<&str>> {
    chain.iter().map(|e| e.value.as_deref()).collect()
}

/// Parses with the runtime's hint, checks that the other parsers agree without it, and that
/// the text cut in the middle (mid-line) still yields some of the same exceptions.
fn parse_checked(text: &str, runtime: Runtime) -> Vec<Exception> {
    let chain = parse(text, Some(runtime)).unwrap_or_else(|| panic!("{runtime:?}:\n{text}"));
    assert_eq!(
        parse(text, None).as_ref(),
        Some(&chain),
        "{runtime:?} without hint"
    );
    let mut middle = text.len() / 2;
    while !text.is_char_boundary(middle) {
        middle -= 1;
    }
    let cut = parse(&text[..middle], Some(runtime)).expect("the first half");
    for e in &cut {
        assert!(
            e.ty.is_empty() || types(&chain).contains(&e.ty.as_str()),
            "{}",
            e.ty
        );
        assert!(frames(e).len() <= frames(chain.last().expect("one")).len().max(MAX_FRAMES));
    }
    for e in &chain {
        assert!(frames(e).len() <= MAX_FRAMES);
    }
    chain
}

/// `in_app` of every frame whose module, file or path starts with `prefix`.
fn in_app_of(e: &Exception, prefix: &str) -> Vec<Option<bool>> {
    frames(e)
        .iter()
        .filter(|f| {
            [&f.module, &f.filename, &f.abs_path]
                .into_iter()
                .flatten()
                .any(|name| name.starts_with(prefix))
        })
        .map(|f| f.in_app)
        .collect()
}

fn assert_all(values: Vec<Option<bool>>, expected: Option<bool>, what: &str) {
    assert!(!values.is_empty(), "no {what} frames");
    assert!(values.iter().all(|v| *v == expected), "{what}: {values:?}");
}

/// A mechanism's entry of `stacktrace::mechanism_keys`, as a number.
fn mechanism_id(e: &Exception, key: &str) -> Option<u64> {
    e.mechanism.as_ref()?.data.get(key)?.as_u64()
}

#[test]
fn java() {
    let output = stdout(
        Command::new("java")
            .arg("Traces.java")
            .current_dir(PROGRAMS),
    );
    let sections = sections(&output);

    let chain = parse_checked(&sections["chain"], Runtime::Jvm);
    // As sentry-java sends them: the class less its package, the package as the module, the
    // suppressed exception in the list (after the one that suppressed it), the thrown one last.
    assert_eq!(
        types(&chain),
        [
            "NumberFormatException",
            "IllegalStateException",
            "Exception",
            "RuntimeException"
        ]
    );
    assert!(chain
        .iter()
        .all(|e| e.module.as_deref() == Some("java.lang")));
    assert_eq!(
        values(&chain),
        [
            Some("For input string: \"80x\""),
            Some("config broken:\nport is not a number"),
            Some("cleanup failed"),
            Some("startup failed")
        ]
    );
    let [root, middle, suppressed, raised] = &chain[..] else {
        panic!("four exceptions");
    };
    assert_eq!(raised_index(&chain), 3);
    let ids: Vec<_> = chain
        .iter()
        .map(|e| {
            (
                mechanism_id(e, mechanism_keys::EXCEPTION_ID),
                mechanism_id(e, mechanism_keys::PARENT_ID),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            (Some(3), Some(2)),
            (Some(2), Some(0)),
            (Some(1), Some(0)),
            (Some(0), None)
        ]
    );
    assert_eq!(
        suppressed.mechanism.as_ref().map(|m| m.ty.as_str()),
        Some("suppressed")
    );
    assert_eq!(last_function(raised), Some("start"));
    assert_eq!(last_function(middle), Some("loadConfig"));
    assert_eq!(last_function(root), Some("forInputString"));
    // `... 9 more`: the root cause's outer frames come from the trace enclosing it.
    let root_functions = functions(root);
    let at = root_functions
        .iter()
        .rposition(|f| *f == "main")
        .expect("main");
    assert_eq!(
        root_functions[at..],
        [
            "main",
            "start",
            "loadConfig",
            "parsePort",
            "parseInt",
            "parseInt",
            "forInputString"
        ]
    );
    let raised_functions = functions(raised);
    assert_eq!(
        root_functions[..raised_functions.len()],
        raised_functions[..]
    );
    // sentry-java leaves in_app unset but for its in-app includes.
    assert_all(in_app_of(root, "Traces"), None, "the program's");
    let mut included = chain.clone();
    apply_in_app(&mut included, &["Traces".to_owned()]);
    assert_all(
        in_app_of(&included[0], "Traces"),
        Some(true),
        "the program's",
    );
    assert_all(in_app_of(&included[0], "java."), Some(false), "java.");
    let file = frames(raised).last().expect("frame");
    assert_eq!(
        (file.filename.as_deref(), file.lineno),
        (Some("Traces.java"), Some(20))
    );

    let deep = parse_checked(&sections["deep"], Runtime::Jvm);
    assert_eq!(types(&deep), ["IllegalArgumentException"]);
    assert_eq!(values(&deep), [Some("too deep")]);
    let stacktrace = deep[0].stacktrace.as_ref().expect("frames");
    // sentry-java's newest 100 (SentryStackTraceFactory's STACKTRACE_FRAME_LIMIT), unmarked.
    assert_eq!(stacktrace.frames.len(), 100);
    assert_eq!(stacktrace.frames_omitted, None);
    assert_eq!(last_function(&deep[0]), Some("recurse"));
}

#[test]
fn python() {
    let script = Path::new(PROGRAMS).join("traces.py");
    let output = stdout(Command::new("python3").arg(&script));
    let sections = sections(&output);

    let chain = parse_checked(&sections["chain"], Runtime::Python);
    assert_eq!(types(&chain), ["KeyError", "RuntimeError", "ValueError"]);
    assert_eq!(
        values(&chain),
        [
            Some("'port'"),
            Some("config broken"),
            Some("startup failed\nsee the cause")
        ]
    );
    assert_eq!(functions(&chain[0]), ["load_config", "read_port"]);
    assert_eq!(functions(&chain[1]), ["start", "load_config"]);
    assert_eq!(functions(&chain[2]), ["show", "start"]);
    let script = script.to_str().expect("UTF-8 path");
    assert_all(in_app_of(&chain[2], script), Some(true), "the program's");
    let frame = frames(&chain[2]).last().expect("frame");
    assert_eq!(
        (frame.abs_path.as_deref(), frame.lineno),
        (Some(script), Some(23))
    );
    // As sentry-python names the file of a module beside the script, and its source line.
    assert_eq!(frame.filename.as_deref(), Some("traces.py"));
    assert!(frame
        .context_line
        .as_deref()
        .is_some_and(|l| !l.starts_with(' ')));

    let deep = parse_checked(&sections["deep"], Runtime::Python);
    assert_eq!(types(&deep), ["RecursionError"]);
    assert_eq!(values(&deep), [Some("maximum recursion depth exceeded")]);
    let stacktrace = deep[0].stacktrace.as_ref().expect("frames");
    assert_eq!(stacktrace.frames.len(), MAX_FRAMES);
    assert!(stacktrace.frames_omitted.is_some());
    assert_eq!(functions(&deep[0])[..2], ["show", "<lambda>"]);
    assert_eq!(last_function(&deep[0]), Some("recurse"));

    let chain = parse_checked(&sections["async"], Runtime::Python);
    assert_eq!(types(&chain), ["ConnectionError"]);
    assert_eq!(values(&chain), [Some("upstream closed")]);
    let names = functions(&chain[0]);
    assert_eq!(names[names.len() - 2..], ["handler", "fetch"]);
    let asyncio: Vec<_> = frames(&chain[0])
        .iter()
        .filter(|f| {
            f.module
                .as_deref()
                .is_some_and(|m| m.starts_with("asyncio."))
        })
        .map(|f| f.in_app)
        .collect();
    // The standard library: in_app unset, as sentry-python leaves it outside the project root.
    assert_all(asyncio, None, "asyncio");
}

#[test]
fn go() {
    // The program panics: stdout holds `debug.Stack()`, stderr the panic.
    let dir = std::env::temp_dir().join(format!("stacktraces-go-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::copy(Path::new(PROGRAMS).join("traces.go"), dir.join("traces.go")).expect("copy");
    let output = run(Command::new("go")
        .args(["run", "traces.go"])
        .env("GOTOOLCHAIN", "local")
        .current_dir(&dir));
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(
        output.status.code(),
        Some(1),
        "go run reports the panic: {output:?}"
    );
    let stack = String::from_utf8(output.stdout).expect("UTF-8");
    let panic = String::from_utf8(output.stderr).expect("UTF-8");
    let source = dir.join("traces.go");
    let source = source.to_str().expect("UTF-8 path");

    let chain = parse_checked(&stack, Runtime::Go);
    assert_eq!(types(&chain), [""]);
    assert_eq!(values(&chain), [None]);
    assert_eq!(functions(&chain[0]), ["main", "report", "Stack"]);
    let stack_frames = frames(&chain[0]);
    assert_eq!(stack_frames[2].module.as_deref(), Some("runtime/debug"));
    assert_eq!(stack_frames[2].in_app, Some(false));
    assert_all(in_app_of(&chain[0], "main"), Some(true), "the program's");

    let chain = parse_checked(&panic, Runtime::Go);
    assert_eq!(types(&chain), ["panic", "panic"]);
    assert_eq!(
        values(&chain),
        [
            Some("config broken: strconv.Atoi: parsing \"80x\": invalid syntax"),
            Some("startup failed")
        ]
    );
    assert_eq!(
        functions(&chain[0]),
        ["main", "start", "loadConfig", "parsePort"]
    );
    assert_eq!(last_function(&chain[1]), Some("start.func1"));
    let raising = frames(&chain[1]).last().expect("frame");
    assert_eq!(raising.abs_path.as_deref(), Some(source));
    assert_eq!(raising.lineno, Some(28));
    assert_all(in_app_of(&chain[1], "main"), Some(true), "the program's");
    // sentry-go sends no frame of the `runtime` package: `panic(...)` is runtime.gopanic.
    assert!(frames(&chain[1])
        .iter()
        .all(|f| f.function.as_deref() != Some("panic") && f.module.as_deref() != Some("runtime")));
}

#[test]
fn node() {
    let output = stdout(Command::new("node").arg("traces.js").current_dir(PROGRAMS));
    let sections = sections(&output);
    // Node names the script by its real path.
    let script = std::fs::canonicalize(Path::new(PROGRAMS).join("traces.js")).expect("script");
    let script = script.to_str().expect("UTF-8 path");

    let chain = parse_checked(&sections["chain"], Runtime::Node);
    assert_eq!(types(&chain), ["TypeError", "Error"]);
    assert_eq!(
        values(&chain),
        [
            Some("Cannot read properties of undefined (reading 'port')"),
            Some("config broken")
        ]
    );
    assert_eq!(last_function(&chain[0]), Some("readPort"));
    assert_eq!(last_function(&chain[1]), Some("loadConfig"));
    // `... 6 lines matching cause stack trace ...` filled in from the cause.
    let cause = functions(&chain[0]);
    assert_eq!(
        functions(&chain[1]),
        [&cause[..cause.len() - 2], &["loadConfig"]].concat()
    );
    assert_all(in_app_of(&chain[1], script), Some(true), "the program's");
    assert_all(in_app_of(&chain[1], "node:"), Some(false), "node:");

    let deep = parse_checked(&sections["deep"], Runtime::Node);
    assert_eq!(types(&deep), ["RangeError"]);
    // @sentry/node's newest 50 (STACKTRACE_FRAME_LIMIT), unmarked.
    assert_eq!(frames(&deep[0]).len(), 50);
    assert_eq!(
        deep[0].stacktrace.as_ref().and_then(|s| s.frames_omitted),
        None
    );
    assert_eq!(last_function(&deep[0]), Some("recurse"));

    let chain = parse_checked(&sections["async"], Runtime::Node);
    assert_eq!(types(&chain), ["TypeError"]);
    assert_eq!(values(&chain), [Some("upstream closed")]);
    assert_eq!(functions(&chain[0]), ["main", "handler", "fetchData"]);
    let frame = frames(&chain[0]).last().expect("frame");
    let place = (frame.abs_path.as_deref(), frame.lineno, frame.colno);
    assert_eq!(place, (Some(script), Some(24), Some(9)));
}

#[test]
fn include_marks_the_app() {
    let text = "java.lang.IllegalStateException: x\n\
                \tat com.acme.lib.Pool.get(Pool.java:3)\n\
                \tat java.lang.Thread.run(Thread.java:1583)\n";
    let mut chain = parse(text, Some(Runtime::Jvm)).expect("java");
    apply_in_app(&mut chain, &["java.lang.Thread".to_owned()]);
    let in_app: Vec<_> = frames(&chain[0]).iter().map(|f| f.in_app).collect();
    assert_eq!(in_app, [Some(true), Some(false)]);
}
