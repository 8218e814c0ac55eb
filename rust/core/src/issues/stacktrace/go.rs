//! Go's goroutine dumps: a panic (`panic: message`, then `goroutine 1 [running]:` and frames
//! as pairs of lines, `pkg.function(args)` and `\t/path/file.go:12 +0x1d`, newest first) or
//! `runtime/debug.Stack()` (the goroutine without a panic line). Only the first goroutine is
//! the exception's. A panic raised while another was being recovered prints both,
//! `panic: first [recovered]` then `\tpanic: second`: a chain, whose older panics' frames are
//! those below the `panic(...)` frame that raised them.
//!
//! Frames are what sentry-go (v0.50, `stacktrace.go`) sends: module the package (up to the
//! first dot after the last slash, `splitQualifiedFunctionName`), function the rest, a closure
//! named after the function before it losing that prefix (`cleanupFunctionNamePrefix`), and
//! without the frames sentry-go skips (`shouldSkipFrame`): the `runtime` and `testing`
//! packages' (the `panic(...)` frame is `runtime.gopanic`), and, as sentry-go skips its own,
//! the OpenTelemetry SDK's, which record the stack (`go.opentelemetry.io/otel/sdk/trace`:
//! `recordStackTrace`, `(*recordingSpan).RecordError` and `.End`). `in_app` is false, as in
//! `setInAppFrame`, for GOROOT's files and packages named `vendor` or `third_party`, and, where
//! sentry-go would say true, for the standard library's packages when `-trimpath` leaves
//! GOROOT out of the path and for modules' files (`/pkg/mod/`, or `module@v1.2.3/` with
//! `-trimpath`): sentry-go calls those in-app only because it cannot tell them from the
//! application's.

use sentry_types::protocol::v7::{Exception, Frame};

use super::{exception, message, number, set_path, Frames, Lines, Order, MAX_EXCEPTIONS};

/// A panic's header: `panic: message [recovered]`, or Go's fatal errors.
struct Header<'a> {
    ty: &'static str,
    lines: Lines<'a>,
}

#[derive(PartialEq)]
enum State {
    Headers,
    Frames,
    Done,
}

pub(super) fn parse(text: &str) -> Option<Vec<Exception>> {
    let mut headers: Vec<Header> = Vec::new();
    // One per header, newest first: the panic printed last has every frame.
    let mut buffers = vec![Frames::new(Order::NewestFirst)];
    let mut pending: Option<Frame> = None;
    let mut state = State::Headers;
    for line in text.lines() {
        match state {
            State::Headers => state = read_header(&mut headers, line),
            State::Frames => {
                state = read_frame(&mut buffers, &mut pending, headers.len(), line);
            }
            State::Done => break,
        }
    }
    if let Some(frame) = pending {
        push_frame(&mut buffers, frame, headers.len());
    }
    if state == State::Headers {
        return None;
    }
    Some(into_chain(headers, buffers))
}

/// The panic lines before the goroutine; `Frames` once the goroutine line is read.
fn read_header<'a>(headers: &mut Vec<Header<'a>>, line: &'a str) -> State {
    if is_goroutine(line) {
        return State::Frames;
    }
    let trimmed = line.trim_start();
    if let Some((ty, first)) = header(trimmed) {
        if headers.len() < MAX_EXCEPTIONS {
            let first = strip_recovered(first);
            headers.push(Header {
                ty,
                lines: Lines::from_iter([first]),
            });
        }
    } else if let (Some(current), Some(more)) = (headers.last_mut(), line.strip_prefix('\t')) {
        // Go indents a message's further lines with a tab.
        current.lines.push(more);
    }
    State::Headers
}

fn header(line: &str) -> Option<(&'static str, &str)> {
    if let Some(rest) = line.strip_prefix("panic: ") {
        return Some(("panic", rest));
    }
    let rest = line.strip_prefix("fatal error: ")?;
    Some(("fatal error", rest))
}

fn strip_recovered(message: &str) -> &str {
    [" [recovered, repanicked]", " [recovered]"]
        .iter()
        .find_map(|suffix| message.strip_suffix(suffix))
        .unwrap_or(message)
}

/// `goroutine 1 [running]:` (also `goroutine 7 gp=0x... m=0 mp=0x... [running]:`).
fn is_goroutine(line: &str) -> bool {
    line.strip_prefix("goroutine ")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()) && rest.contains(" ["))
}

/// One line of the first goroutine: a function, or the location of the function before it.
fn read_frame(
    buffers: &mut Vec<Frames>,
    pending: &mut Option<Frame>,
    panics: usize,
    line: &str,
) -> State {
    if let Some(location) = line.strip_prefix('\t') {
        if let Some(mut frame) = pending.take() {
            set_location(&mut frame, location);
            push_frame(buffers, frame, panics);
        }
        return State::Frames;
    }
    if let Some(frame) = pending.take() {
        push_frame(buffers, frame, panics);
    }
    // The next goroutine, or the one that created this goroutine: the stack is complete.
    if line.is_empty() || line.starts_with("created by ") || is_goroutine(line) {
        return State::Done;
    }
    *pending = function(line);
    State::Frames
}

/// Adds a frame to every panic's stack; a `panic(...)` frame starts the next older panic's.
fn push_frame(buffers: &mut Vec<Frames>, frame: Frame, panics: usize) {
    let raises = frame.module.is_none() && frame.function.as_deref() == Some("panic");
    if !raises && !skipped(&frame) {
        // Copied to every stack but the last, moved there (most often the only one).
        if let Some((last, others)) = buffers.split_last_mut() {
            for buffer in others {
                buffer.push(frame.clone());
            }
            last.push(frame);
        }
    } else if raises && buffers.len() < panics {
        buffers.push(Frames::new(Order::NewestFirst));
    }
}

/// The frames sentry-go leaves out (`shouldSkipFrame`), and the OpenTelemetry SDK's own.
fn skipped(frame: &Frame) -> bool {
    let module = frame.module.as_deref().unwrap_or_default();
    matches!(module, "runtime" | "testing") || module.starts_with("go.opentelemetry.io/otel/sdk")
}

/// A closure's name less its enclosing function's, when that is the frame before it (oldest
/// first): sentry-go's `cleanupFunctionNamePrefix` for Go 1.21's qualified closure names.
fn cleanup_function_names(exception: &mut Exception) {
    let Some(stacktrace) = exception.stacktrace.as_mut() else {
        return;
    };
    let frames = &mut stacktrace.frames;
    for i in (1..frames.len()).rev() {
        let Some(parent) = frames[i - 1].function.as_deref() else {
            continue;
        };
        let prefix = frames[i]
            .function
            .as_deref()
            .and_then(|name| name.strip_prefix(parent)?.strip_prefix('.'))
            .map(|_| parent.len() + 1);
        if let (Some(len), Some(name)) = (prefix, frames[i].function.as_mut()) {
            name.drain(..len);
        }
    }
}

/// The headers oldest first, each with its frames; `debug.Stack()` has no header, and the
/// event builder names it.
fn into_chain(headers: Vec<Header>, buffers: Vec<Frames>) -> Vec<Exception> {
    let mut chain: Vec<Exception> = if headers.is_empty() {
        buffers
            .into_iter()
            .take(1)
            .map(|frames| exception("", None, frames))
            .collect()
    } else {
        let missing = headers.len().saturating_sub(buffers.len());
        let frames = (0..missing)
            .map(|_| Frames::new(Order::NewestFirst))
            .chain(buffers.into_iter().rev());
        headers
            .into_iter()
            .zip(frames)
            .map(|(header, frames)| exception(header.ty, message(&header.lines), frames))
            .collect()
    };
    chain.iter_mut().for_each(cleanup_function_names);
    chain
}

/// `main.(*Server).handle(0xc000010000, {0x4b1c60?, 0x1?})`: package `main`, function
/// `(*Server).handle`. The package ends at the first dot after its last slash.
fn function(line: &str) -> Option<Frame> {
    let name = match line.strip_suffix(')') {
        Some(call) => call.rsplit_once('(')?.0,
        None => line,
    };
    if name.is_empty() || name.contains(' ') {
        return None;
    }
    let base = name.rfind('/').map_or(0, |slash| slash + 1);
    let split = name.get(base..)?.find('.').map(|dot| base + dot);
    let (package, function) = match split {
        Some(dot) => (name.get(..dot), name.get(dot + 1..)?),
        None => (None, name),
    };
    Some(Frame {
        function: Some(function.to_owned()),
        module: package.map(str::to_owned),
        in_app: Some(package.is_some_and(is_app_package)),
        ..Default::default()
    })
}

/// Not the standard library (the main package, or a path whose first segment is a domain),
/// nor a package sentry-go calls vendored (`vendor`, `third_party` in its path).
fn is_app_package(package: &str) -> bool {
    let first = package.split('/').next().unwrap_or(package);
    let vendored = package.contains("vendor") || package.contains("third_party");
    (package == "main" || first.contains('.')) && !vendored
}

/// A file of the module cache as `-trimpath` names it: `github.com/lib/pq@v1.10.9/conn.go`.
fn is_versioned_module(path: &str) -> bool {
    path.match_indices("@v")
        .any(|(at, _)| path[at + 2..].starts_with(|c: char| c.is_ascii_digit()))
}

/// `/path/file.go:12 +0x1d`; modules' and GOROOT's files are not the app.
fn set_location(frame: &mut Frame, location: &str) {
    let location = location.split(" +0x").next().unwrap_or(location);
    let Some((path, line)) = location.rsplit_once(':') else {
        return;
    };
    set_path(frame, path);
    frame.lineno = number(line);
    let library = ["/pkg/mod/", "/vendor/", "$GOROOT/", "/usr/local/go/src/"];
    if library.iter().any(|dir| path.contains(dir)) || is_versioned_module(path) {
        frame.in_app = Some(false);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{functions, rows, Path};
    use super::*;

    const REPANIC: &str = "\
panic: config broken: strconv.Atoi: parsing \"80x\": invalid syntax [recovered]
\tpanic: startup failed

goroutine 1 [running]:
main.start.func1()
\t/app/main.go:28 +0x4b
panic({0x4b1c60?, 0x24c58bca8000?})
\t/usr/local/go/src/runtime/panic.go:860 +0x13a
github.com/acme/cfg.(*Loader).Parse(0xc000010000, {0x4c7acb?, 0x3})
\t/app/cfg/loader.go:16 +0x73
main.loadConfig(...)
\t/app/main.go:22
main.start()
\t/app/main.go:31 +0x3d
main.main()
\t/app/main.go:40 +0x14

goroutine 6 [chan receive]:
main.worker()
\t/app/main.go:50 +0x10
exit status 2
";

    #[test]
    fn repanic_is_a_chain_and_only_the_first_goroutine_counts() {
        let chain = parse(REPANIC).expect("go");
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].ty, "panic");
        assert_eq!(
            chain[0].value.as_deref(),
            Some("config broken: strconv.Atoi: parsing \"80x\": invalid syntax")
        );
        assert_eq!(chain[1].value.as_deref(), Some("startup failed"));
        assert_eq!(
            functions(&chain[0]),
            ["main", "start", "loadConfig", "(*Loader).Parse"]
        );
        assert_eq!(
            functions(&chain[1]),
            [
                "main",
                "start",
                "loadConfig",
                "(*Loader).Parse",
                "start.func1"
            ]
        );
        let rows = rows(&chain[1], Path::Absolute);
        assert_eq!(
            rows[3],
            (
                "(*Loader).Parse",
                Some("github.com/acme/cfg"),
                Some("/app/cfg/loader.go"),
                Some(16),
                Some(true)
            )
        );
        assert_eq!(
            rows[2],
            (
                "loadConfig",
                Some("main"),
                Some("/app/main.go"),
                Some(22),
                Some(true)
            )
        );
        // runtime.gopanic's `panic(...)` frame is left out, as sentry-go leaves `runtime` out.
        assert_eq!(rows[4].0, "start.func1");
    }

    #[test]
    fn debug_stack_has_no_header() {
        let text = "goroutine 1 [running]:\n\
                    runtime/debug.Stack()\n\
                    \t/usr/local/go/src/runtime/debug/stack.go:26 +0x5e\n\
                    net/http.(*conn).serve(0xc0001)\n\
                    \t/usr/lib/go/src/net/http/server.go:2009 +0x5e\n\
                    github.com/lib/pq.(*conn).query(0x1)\n\
                    \t/root/go/pkg/mod/github.com/lib/pq@v1.10.9/conn.go:9 +0x1\n\
                    created by net/http.(*Server).Serve in goroutine 1\n\
                    \t/usr/lib/go/src/net/http/server.go:3000 +0x1\n";
        let chain = parse(text).expect("go");
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].ty, "");
        assert_eq!(chain[0].value, None);
        let rows = rows(&chain[0], Path::Absolute);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].0, "(*conn).query");
        assert_eq!(rows[0].4, Some(false));
        assert_eq!(rows[1].1, Some("net/http"));
        assert_eq!(rows[1].4, Some(false));
        assert_eq!(
            rows[2],
            (
                "Stack",
                Some("runtime/debug"),
                Some("/usr/local/go/src/runtime/debug/stack.go"),
                Some(26),
                Some(false)
            )
        );
    }

    #[test]
    fn multi_line_fatal_and_truncated() {
        let text = "panic: first line\n\tsecond line\n\n[signal SIGSEGV: segmentation violation]\n\ngoroutine 1 gp=0xc000002380 m=0 mp=0x5c4b40 [running]:\nmain.main()\n\t/app/main.go:5 +0x1\n";
        let chain = parse(text).expect("go");
        assert_eq!(chain[0].value.as_deref(), Some("first line\nsecond line"));
        assert_eq!(functions(&chain[0]), ["main"]);

        let fatal = parse("fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [chan receive]:\nmain.main()\n\t/app/main.go:5 +0x1d\n").expect("go");
        assert_eq!(fatal[0].ty, "fatal error");

        let cut = &REPANIC[..REPANIC.find("main.loadCon").expect("cut") + 12];
        let chain = parse(cut).expect("go");
        assert_eq!(
            functions(&chain[1]),
            ["loadCon", "(*Loader).Parse", "start.func1"]
        );
        assert_eq!(functions(&chain[0]), ["loadCon", "(*Loader).Parse"]);
    }

    /// OpenTelemetry Go's `RecordError` (`recordStackTrace`: `runtime.Stack`) in a `-trimpath`
    /// build, and its `End` recording a panic.
    #[test]
    fn the_sdks_recording_frames_and_module_frames() {
        let text = "goroutine 7 [running]:\n\
                    go.opentelemetry.io/otel/sdk/trace.recordStackTrace()\n\
                    \tgo.opentelemetry.io/otel/sdk@v1.47.0/trace/span.go:527 +0x4c\n\
                    go.opentelemetry.io/otel/sdk/trace.(*recordingSpan).End(0xc000222000, {0x0, 0x0, 0x0})\n\
                    \tgo.opentelemetry.io/otel/sdk@v1.47.0/trace/span.go:435 +0x9a5\n\
                    panic({0x8b2e40?, 0xc0001a4010?})\n\
                    \truntime/panic.go:792 +0x132\n\
                    example.com/shop/orders.(*Service).Place.func1(...)\n\
                    \texample.com/shop/orders/service.go:41\n\
                    example.com/shop/orders.(*Service).Place(0xc000010000, {0x9c1f70, 0xc000118000})\n\
                    \texample.com/shop/orders/service.go:44 +0x1d\n\
                    github.com/go-chi/chi/v5.(*Mux).routeHTTP(0xc0000a4000, {0x9c0b10, 0xc0000ce000}, 0xc0000b2000)\n\
                    \tgithub.com/go-chi/chi/v5@v5.2.1/mux.go:459 +0x2c3\n\
                    net/http.HandlerFunc.ServeHTTP(0xc000090060?, {0x9c0b10?, 0xc0000ce000?}, 0x0?)\n\
                    \tnet/http/server.go:2294 +0x29\n\
                    github.com/acme/vendor/lib.Do(...)\n\
                    \t/src/lib/do.go:3\n\
                    runtime.goexit({})\n\
                    \truntime/asm_amd64.s:1700 +0x1\n\
                    created by net/http.(*Server).Serve in goroutine 1\n\
                    \tnet/http/server.go:3454 +0x485\n";
        let chain = parse(text).expect("go");
        let rows = rows(&chain[0], Path::Filename);
        let summary: Vec<_> = rows.iter().map(|r| (r.0, r.1, r.4)).collect();
        assert_eq!(
            summary,
            [
                ("Do", Some("github.com/acme/vendor/lib"), Some(false)),
                ("HandlerFunc.ServeHTTP", Some("net/http"), Some(false)),
                (
                    "(*Mux).routeHTTP",
                    Some("github.com/go-chi/chi/v5"),
                    Some(false)
                ),
                (
                    "(*Service).Place",
                    Some("example.com/shop/orders"),
                    Some(true)
                ),
                // `(*Service).Place.func1` less the function before it.
                ("func1", Some("example.com/shop/orders"), Some(true)),
            ]
        );
        assert_eq!(rows[4].2, Some("example.com/shop/orders/service.go"));
        assert_eq!(
            chain[0]
                .stacktrace
                .as_ref()
                .map(|s| s.frames[4].abs_path.is_none()),
            Some(true)
        );
    }

    #[test]
    fn foreign_text_is_not_go() {
        for text in [
            "panic: no goroutine follows",
            "Traceback (most recent call last):\n",
            "goroutine x [running]:",
        ] {
            assert!(parse(text).is_none(), "{text}");
        }
    }
}
