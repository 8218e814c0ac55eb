//! Ruby's `Exception#full_message` (what OpenTelemetry Ruby records):
//! `app.rb:3:in 'Foo#bar': message (RuntimeError)`, then `\tfrom app.rb:7:in '<main>'`
//! lines, newest first; each cause follows the same way. Before Ruby 3.4 labels are quoted
//! `` `bar' `` and carry no class. Also `backtrace.join("\n")`: the lines without header.

use sentry_types::protocol::v7::{Exception, Frame};

use super::{has_frames, number, push_frame, root_cause_first, set_path, Read, MAX_EXCEPTIONS};

/// Gems, RubyGems itself, the standard library and the VM's own code.
const NOT_IN_APP: [&str; 3] = ["/gems/", "/rubygems/", "/lib/ruby/"];

pub(super) fn parse(text: &str) -> Option<Vec<Exception>> {
    // Newest first: the raised exception, then its causes.
    let mut chain: Vec<Read> = Vec::new();
    for line in text.lines() {
        let indented = line.starts_with(char::is_whitespace);
        let trimmed = line.trim();
        let location = trimmed.strip_prefix("from ").unwrap_or(trimmed);
        match frame(location) {
            Some((frame, Some(header))) if !indented => {
                if chain.len() == MAX_EXCEPTIONS {
                    break;
                }
                let mut read = header_read(header);
                read.frames.push(frame);
                chain.push(read);
            }
            Some((frame, _)) => push_frame(&mut chain, frame),
            None => read_other(&mut chain, line),
        }
    }
    has_frames(&chain).then(|| root_cause_first(chain))
}

/// From `message (RuntimeError)`, the rest of a header line after its location. The type
/// ends the message's first line.
fn header_read(header: &str) -> Read<'_> {
    let typed = header
        .strip_suffix(')')
        .and_then(|h| h.rsplit_once(" ("))
        .filter(|(_, ty)| !ty.is_empty() && !ty.contains(' '));
    let (ty, first) = match typed {
        Some((first, ty)) => (ty, first),
        None => ("", header),
    };
    let message = (!first.is_empty()).then_some(first).into_iter().collect();
    Read::new(ty, message)
}

/// A message's further lines: those right after its header.
fn read_other<'a>(chain: &mut [Read<'a>], line: &'a str) {
    if let Some(current) = chain.last_mut() {
        // The header's line holds the first frame: the message follows it.
        let framed = current.frames.len() != 1;
        current.continue_message(line, framed);
    }
}

/// `path:12:in 'Foo#bar'`, maybe followed by `: header` (the first line of an exception).
fn frame(text: &str) -> Option<(Frame, Option<&str>)> {
    let (place, label) = text.split_once(":in ")?;
    let (path, line) = place.rsplit_once(':')?;
    let quoted = label.strip_prefix(['\'', '`'])?;
    let (label, rest) = quoted.split_once('\'')?;
    let header = match rest {
        "" => None,
        _ => Some(rest.strip_prefix(": ")?),
    };
    let (module, function) = split_label(label);
    let mut frame = Frame {
        function: Some(function.to_owned()),
        module: module.map(str::to_owned),
        lineno: Some(number(line)?),
        in_app: Some(
            !path.starts_with("<internal:") && !NOT_IN_APP.iter().any(|d| path.contains(d)),
        ),
        ..Default::default()
    };
    set_path(&mut frame, path);
    Some((frame, header))
}

/// `Foo::Bar#baz` and `Foo.baz` into module and method, as Sentry's Ruby SDK does; labels
/// such as `block in Foo#bar` or `<main>` stay whole.
fn split_label(label: &str) -> (Option<&str>, &str) {
    let split = label.find(['#', '.']).and_then(|at| {
        let module = label.get(..at)?;
        let is_module = !module.is_empty()
            && module
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == ':');
        is_module.then(|| (module, label.get(at + 1..)))
    });
    match split {
        Some((module, Some(method))) => (Some(module), method),
        _ => (None, label),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{functions, rows, types, Path};
    use super::*;

    const RUBY_34: &str = "\
/app/lib/checkout.rb:12:in 'rescue in Checkout#run': checkout failed (Checkout::Error)
\tfrom /app/lib/checkout.rb:9:in 'Checkout#run'
\tfrom /usr/local/bundle/gems/rack-3.0.8/lib/rack/builder.rb:5:in 'block in Rack::Builder.call'
\tfrom <internal:kernel>:187:in 'Kernel#loop'
\tfrom app.rb:4:in '<main>'
/app/lib/config.rb:3:in 'Config.port': invalid value for Integer(): \"80x\" (ArgumentError)
and a second line
\tfrom /app/lib/checkout.rb:10:in 'Checkout#run'
\tfrom app.rb:4:in '<main>'
";

    #[test]
    fn full_message_with_cause() {
        let chain = parse(RUBY_34).expect("ruby");
        assert_eq!(types(&chain), ["ArgumentError", "Checkout::Error"]);
        assert_eq!(
            chain[0].value.as_deref(),
            Some("invalid value for Integer(): \"80x\"\nand a second line")
        );
        assert_eq!(chain[1].value.as_deref(), Some("checkout failed"));
        assert_eq!(functions(&chain[0]), ["<main>", "run", "port"]);
        assert_eq!(
            rows(&chain[1], Path::Filename),
            [
                ("<main>", None, Some("app.rb"), Some(4), Some(true)),
                (
                    "loop",
                    Some("Kernel"),
                    Some("<internal:kernel>"),
                    Some(187),
                    Some(false)
                ),
                (
                    "block in Rack::Builder.call",
                    None,
                    Some("/usr/local/bundle/gems/rack-3.0.8/lib/rack/builder.rb"),
                    Some(5),
                    Some(false)
                ),
                (
                    "run",
                    Some("Checkout"),
                    Some("/app/lib/checkout.rb"),
                    Some(9),
                    Some(true)
                ),
                (
                    "rescue in Checkout#run",
                    None,
                    Some("/app/lib/checkout.rb"),
                    Some(12),
                    Some(true)
                ),
            ]
        );
    }

    #[test]
    fn old_quotes_and_plain_backtraces() {
        let old = "app.rb:2:in `divide': divided by 0 (ZeroDivisionError)\n\
                   \tfrom app.rb:2:in `/'\n\
                   \tfrom /usr/lib/ruby/3.1.0/set.rb:5:in `each'\n\
                   \tfrom app.rb:6:in `<main>'\n";
        let chain = parse(old).expect("ruby");
        assert_eq!(chain[0].ty, "ZeroDivisionError");
        assert_eq!(chain[0].value.as_deref(), Some("divided by 0"));
        assert_eq!(functions(&chain[0]), ["<main>", "each", "/", "divide"]);
        assert_eq!(rows(&chain[0], Path::Filename)[1].4, Some(false));

        let plain = "/app/a.rb:3:in 'A#b'\n/app/a.rb:7:in '<main>'";
        let chain = parse(plain).expect("ruby");
        assert_eq!(chain[0].ty, "");
        assert_eq!(chain[0].value, None);
        assert_eq!(functions(&chain[0]), ["<main>", "b"]);
    }

    #[test]
    fn truncated_and_foreign_text() {
        let cut = &RUBY_34[..RUBY_34.find("<internal:ke").expect("cut") + 12];
        let chain = parse(cut).expect("ruby");
        assert_eq!(chain.len(), 1);
        assert_eq!(
            functions(&chain[0]),
            [
                "block in Rack::Builder.call",
                "run",
                "rescue in Checkout#run"
            ]
        );
        for text in [
            "RuntimeError: no location",
            "java.lang.Error: x\n\tat a.B.c(B.java:1)",
            "app.rb:x:in 'y'",
        ] {
            assert!(parse(text).is_none(), "{text}");
        }
    }
}
