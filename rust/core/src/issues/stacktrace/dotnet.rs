//! .NET's `Exception.ToString()`: the outer exception's header, then each inner exception's
//! as ` ---> System.Y: message`; then the frames of the innermost first
//! (`   at Ns.Class.Method(String s) in /src/File.cs:line 42`, newest first), each inner
//! block closed by `   --- End of inner exception stack trace ---`, and the outer ones'
//! frames after it. An `AggregateException`'s further inner exceptions are not read.

use sentry_types::protocol::v7::{Exception, Frame};

use super::{number, root_cause_first, set_path, Lines, Read, MAX_EXCEPTIONS};

/// Namespaces of the runtime and of Microsoft's libraries.
const NOT_IN_APP: [&str; 2] = ["System.", "Microsoft."];

pub(super) fn parse(text: &str) -> Option<Vec<Exception>> {
    // Outermost (the thrown one) first; `headers` counts those not kept too.
    let mut chain: Vec<Read> = Vec::new();
    let mut headers = 0usize;
    // Frame blocks are printed innermost first; `block` counts the blocks ended.
    let mut block = 0usize;
    let mut any_frame = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(frame) = trimmed.strip_prefix("at ").and_then(frame) {
            any_frame = true;
            if headers == 0 {
                headers = 1;
                chain.push(Read::new("", Lines::default()));
            }
            let owner = headers.checked_sub(block + 1);
            if let Some(read) = owner.and_then(|i| chain.get_mut(i)) {
                read.frames.push(frame);
            }
        } else if trimmed.starts_with("--- End of inner exception stack trace") {
            block += 1;
        } else if trimmed.starts_with("---> (Inner Exception #") {
            break;
        } else if let Some(header) = trimmed.strip_prefix("---> ") {
            headers += 1;
            if chain.len() < MAX_EXCEPTIONS {
                chain.push(Read::from_header(header));
            }
        } else if !trimmed.starts_with("--- ") {
            read_other(&mut chain, &mut headers, line, any_frame);
        }
    }
    any_frame.then(|| root_cause_first(chain))
}

/// The first header, or a message's further lines (those before the first frame).
fn read_other<'a>(chain: &mut Vec<Read<'a>>, headers: &mut usize, line: &'a str, framed: bool) {
    match chain.last_mut() {
        None => {
            if let Some(read) = Read::first(line.trim(), is_type_name, Read::from_header) {
                *headers = 1;
                chain.push(read);
            }
        }
        // The frames follow every header, so any frame ends the messages.
        Some(current) => current.continue_message(line, framed),
    }
}

/// `System.InvalidOperationException`, `Acme.Outer+NestedException`, generic ones.
fn is_type_name(ty: &str) -> bool {
    ty.contains('.')
        && !ty.starts_with('.')
        && ty
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '+' | '`'))
}

/// After `at `: `Ns.Class.Method(String s, Int32 n) in /src/File.cs:line 42`, the location
/// missing without symbols.
fn frame(text: &str) -> Option<Frame> {
    let (call, location) = match text.rsplit_once(") in ") {
        Some((call, location)) => (call, Some(location)),
        None => (text.rsplit_once(')')?.0, None),
    };
    let (name, args) = call.split_once('(')?;
    if name.is_empty() || name.contains(' ') || !are_parameters(args) {
        return None;
    }
    let (module, function) = split_method(name);
    let mut frame = Frame {
        function: Some(function.to_owned()),
        module: module.map(str::to_owned),
        in_app: Some(
            module.is_some_and(|m| m != "System" && !NOT_IN_APP.iter().any(|p| m.starts_with(p))),
        ),
        ..Default::default()
    };
    if let Some((path, line)) = location.and_then(|l| l.rsplit_once(":line ")) {
        set_path(&mut frame, path);
        frame.lineno = number(line.trim());
    }
    Some(frame)
}

/// .NET prints each parameter as `Type name`; a JVM frame's `(File.java:3)` is not that.
fn are_parameters(args: &str) -> bool {
    let args = args.trim();
    args.is_empty()
        || (!matches!(args, "Native Method" | "Unknown Source")
            && args.split(", ").all(|p| p.trim().contains(' ')))
}

/// `Ns.Class.Method` into namespace-and-class and method. Compiler-made types are named
/// after the method they came from: `Ns.Class.<Run>d__5.MoveNext` (async) and
/// `Ns.Class.<>c.<Run>b__1_0` (lambda) are `Run` of `Ns.Class`.
fn split_method(name: &str) -> (Option<&str>, &str) {
    if let Some((module, generated)) = name.split_once(".<") {
        let method = generated
            .rsplit('<')
            .find_map(|part| {
                part.split_once('>')
                    .map(|(m, _)| m)
                    .filter(|m| !m.is_empty())
            })
            .unwrap_or(generated);
        return (Some(module), method);
    }
    // Constructors keep their dot: `Ns.Class..ctor`.
    let split = match name.strip_suffix(".ctor").or(name.strip_suffix(".cctor")) {
        Some(class) if class.ends_with('.') => Some(class.len() - 1),
        _ => name.rfind('.'),
    };
    match split.and_then(|at| Some((name.get(..at)?, name.get(at + 1..)?))) {
        Some((module, method)) => (Some(module), method),
        None => (None, name),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{functions, rows, types, Path};
    use super::*;

    const INNER: &str = "\
System.InvalidOperationException: Checkout failed
for order 42
 ---> System.ArgumentException: Value does not fall within the expected range. (Parameter 'port')
 ---> System.FormatException: The input string '80x' was not in a correct format.
   at System.Number.ThrowFormatException[TChar](ReadOnlySpan`1 value)
   at Acme.Config.ParsePort(String text) in /src/Acme/Config.cs:line 12
   --- End of inner exception stack trace ---
   at Acme.Config..ctor(String path) in /src/Acme/Config.cs:line 30
   --- End of inner exception stack trace ---
   at Acme.Checkout.<>c__DisplayClass2_0.<Run>b__0() in C:\\src\\Acme\\Checkout.cs:line 50
   at Acme.Checkout.<RunAsync>d__3.MoveNext() in C:\\src\\Acme\\Checkout.cs:line 41
--- End of stack trace from previous location ---
   at Microsoft.AspNetCore.Mvc.Infrastructure.ActionMethodExecutor.Execute(ActionContext context, Object controller)
   at Program.<Main>$(String[] args)
";

    #[test]
    fn inner_exceptions_root_cause_first() {
        let chain = parse(INNER).expect("dotnet");
        assert_eq!(
            types(&chain),
            [
                "System.FormatException",
                "System.ArgumentException",
                "System.InvalidOperationException"
            ]
        );
        assert_eq!(
            chain[2].value.as_deref(),
            Some("Checkout failed\nfor order 42")
        );
        assert_eq!(
            rows(&chain[0], Path::Absolute),
            [
                (
                    "ParsePort",
                    Some("Acme.Config"),
                    Some("/src/Acme/Config.cs"),
                    Some(12),
                    Some(true)
                ),
                (
                    "ThrowFormatException[TChar]",
                    Some("System.Number"),
                    None,
                    None,
                    Some(false)
                ),
            ]
        );
        assert_eq!(functions(&chain[1]), [".ctor"]);
        assert_eq!(rows(&chain[1], Path::Absolute)[0].1, Some("Acme.Config"));
        let outer = rows(&chain[2], Path::Absolute);
        assert_eq!(functions(&chain[2]), ["Main", "Execute", "RunAsync", "Run"]);
        assert_eq!(outer[0].1, Some("Program"));
        assert_eq!(outer[1].4, Some(false));
        assert_eq!(
            outer[2],
            (
                "RunAsync",
                Some("Acme.Checkout"),
                Some("C:\\src\\Acme\\Checkout.cs"),
                Some(41),
                Some(true)
            )
        );
    }

    #[test]
    fn plain_frames_and_aggregates() {
        let text = "   at Acme.Jobs.Run() in /src/Jobs.cs:line 5\n   at Acme.Program.Main()\n";
        let chain = parse(text).expect("dotnet");
        assert_eq!(chain[0].ty, "");
        assert_eq!(functions(&chain[0]), ["Main", "Run"]);

        let aggregate = "System.AggregateException: One or more errors occurred. (a) (b)\n\
                         \x20---> System.Exception: a\n\
                         \x20  at Acme.A.Run() in /src/A.cs:line 1\n\
                         \x20  --- End of inner exception stack trace ---\n\
                         \x20  at Acme.A.Wait()\n\
                         \x20---> (Inner Exception #1) System.Exception: b\n\
                         \x20  at Acme.B.Run()<---\n";
        let chain = parse(aggregate).expect("dotnet");
        assert_eq!(chain.len(), 2);
        assert_eq!(functions(&chain[0]), ["Run"]);
        assert_eq!(functions(&chain[1]), ["Wait"]);
    }

    #[test]
    fn truncated_and_foreign_text() {
        let cut = &INNER[..INNER.find("Acme.Config..ct").expect("cut") + 15];
        let chain = parse(cut).expect("dotnet");
        assert_eq!(chain.len(), 3);
        assert_eq!(
            functions(&chain[0]),
            ["ParsePort", "ThrowFormatException[TChar]"]
        );
        assert_eq!(chain[1].stacktrace, None);
        for text in [
            "System.Exception: no frames",
            "java.lang.Error: x\n\tat a.B.c(B.java:1)\n\tat a.B.d(Native Method)",
            "TypeError: x\n    at f (/app/a.js:1:2)",
        ] {
            assert!(parse(text).is_none(), "{text}");
        }
    }
}
