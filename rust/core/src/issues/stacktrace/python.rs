//! CPython's tracebacks (`traceback.format_exception`, which OpenTelemetry Python writes as
//! `exception.stacktrace`): `Traceback (most recent call last):`, frames oldest first
//! (`  File "app.py", line 3, in handler`, the source line under it, and from 3.11 on a line of
//! `^^^^`/`~~~^^^` under that), then `ValueError: message` (and the exception's `__notes__`, a
//! line each). Chained exceptions come root cause first, each followed by the line that links it
//! to the next. An exception group (3.11+, `ExceptionGroup`, asyncio's `TaskGroup`) prints its
//! own traceback as `  + Exception Group Traceback (most recent call last):` and `  | ` lines,
//! then each sub-exception (with its own chain, maybe a group itself) in a box opened by
//! `  +-+---------------- 1 ----------------` or `    +---------------- 2 ----------------`,
//! each level of nesting two columns further right; past the 15th sub-exception a box says
//! `and N more exceptions`.
//!
//! The exceptions are what sentry-python (2.x, `sentry_sdk/utils.py`) sends for the same
//! exception:
//! - the type is the class's `__qualname__`, its module `__module__` but for `builtins`
//!   (`get_type_name`, `get_type_module`): see [`split_type`];
//! - the value is `str()` of the exception and its notes (`get_error_message`), which is what
//!   CPython prints; for an exception group its `message`, without CPython's
//!   ` (2 sub-exceptions)`; for a SyntaxError `msg (file.py, line 3)`;
//! - a plain chain is root cause first, without exception ids (`walk_exception_chain`); an
//!   exception group as `exceptions_from_error` walks it (the group, then its cause or context,
//!   then each sub-exception with theirs), reversed, each mechanism numbered (`exception_id`,
//!   `parent_id`, `source`, `is_exception_group`; see [`super::mechanism_keys`]);
//! - each frame as `serialize_frame` and `set_in_app_in_frames` make it: see [`frames`].

use sentry_types::protocol::v7::Exception;

use super::{
    mechanism_keys, message, number, set_errno, set_mechanism_data, Frames, Lines, Order,
    MAX_EXCEPTIONS,
};

mod frames;
use frames::{describe_frames, frame};

/// The lines that end one exception of a chain and announce the next.
const LINKS: [(&str, Link); 2] = [
    (
        "The above exception was the direct cause of the following exception:",
        Link::Cause,
    ),
    (
        "During handling of the above exception, another exception occurred:",
        Link::Context,
    ),
];

/// The exception classes of `builtins` (CPython 3.8 to 3.13): the only ones CPython names
/// without a module besides `__main__`'s.
const BUILTIN_TYPES: [&str; 70] = [
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "BaseExceptionGroup",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "BytesWarning",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "DeprecationWarning",
    "EOFError",
    "EncodingWarning",
    "EnvironmentError",
    "Exception",
    "ExceptionGroup",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "FutureWarning",
    "GeneratorExit",
    "IOError",
    "ImportError",
    "ImportWarning",
    "IndentationError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "NotADirectoryError",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PendingDeprecationWarning",
    "PermissionError",
    "ProcessLookupError",
    "PythonFinalizationError",
    "RecursionError",
    "ReferenceError",
    "ResourceWarning",
    "RuntimeError",
    "RuntimeWarning",
    "StopAsyncIteration",
    "StopIteration",
    "SyntaxError",
    "SyntaxWarning",
    "SystemError",
    "SystemExit",
    "TabError",
    "TimeoutError",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "UnicodeWarning",
    "UserWarning",
    "ValueError",
    "Warning",
    "ZeroDivisionError",
];

/// How an exception of a chain leads to the next one printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// `raise ... from ...`: the next one's `__cause__`.
    Cause,
    /// Raised while handling it: the next one's `__context__`.
    Context,
}

impl Link {
    /// sentry-python's `mechanism.source` of the earlier exception.
    fn source(self) -> &'static str {
        match self {
            Link::Cause => "__cause__",
            Link::Context => "__context__",
        }
    }
}

/// One exception as read.
struct Node<'a> {
    frames: Frames,
    header: Lines<'a>,
    /// `File "x.py", line 3` without a function: a SyntaxError's own location, not a frame.
    location: Option<(&'a str, u64)>,
    /// Printed as an exception group.
    group: bool,
    /// Its sub-exceptions, each the last exception of its box's chain, in order.
    children: Vec<usize>,
    /// The exception printed before it in its chain, and how they are linked.
    previous: Option<(usize, Link)>,
    /// Whether the next indented line is the source line of the frame read last.
    source_next: bool,
}

impl Node<'_> {
    fn new() -> Self {
        Node {
            frames: Frames::new(Order::OldestFirst),
            header: Lines::default(),
            location: None,
            group: false,
            children: Vec::new(),
            previous: None,
            source_next: false,
        }
    }
}

/// A chain being read: the top level's, or one sub-exception's box.
struct Level {
    /// The nesting of its lines (see [`Line::Content`]); the top level's is 0.
    depth: usize,
    /// The exception being read.
    current: Option<usize>,
    /// The exception read last, and the link announced after it.
    last: Option<usize>,
    link: Option<Link>,
    /// The group whose sub-exception this chain is.
    parent: Option<usize>,
    /// A box that only says `and N more exceptions`.
    skipped: bool,
}

impl Level {
    fn new(depth: usize, parent: Option<usize>, skipped: bool) -> Self {
        Level {
            depth,
            current: None,
            last: None,
            link: None,
            parent,
            skipped,
        }
    }
}

/// A line of an exception group's output, its margin read.
#[derive(Debug, PartialEq)]
enum Line<'a> {
    /// A line of the traceback at nesting `depth` (0 outside any group; a group's own lines are
    /// one deeper than the chain it is in at the top, the same inside a box), the margin off.
    Content { depth: usize, text: &'a str },
    /// `+-+---------------- 1 ----------------`: the first box of the group whose lines are at
    /// `depth`.
    FirstBox { depth: usize },
    /// `+---------------- 2 ----------------` (or `...`): the next box of that group.
    NextBox { depth: usize, more: bool },
    /// `+------------------------------------`: the end of the boxes at `depth`.
    Close { depth: usize },
}

/// Reads an exception group's margins: `textwrap.indent` of `  ` per level and `| ` (`+ ` for
/// the top-level group's first line), and the boxes' rules (CPython's `traceback.py`,
/// `_ExceptionPrintContext.emit` and `TracebackException.format`).
fn classify(raw: &str) -> Line<'_> {
    let rest = raw.trim_start_matches(' ');
    let spaces = raw.len() - rest.len();
    let plain = Line::Content {
        depth: 0,
        text: raw,
    };
    if !spaces.is_multiple_of(2) || spaces == 0 {
        return plain;
    }
    let level = spaces / 2;
    if let Some(rule) = rest.strip_prefix("+-+") {
        if box_title(rule).is_some() {
            return Line::FirstBox { depth: level };
        }
    }
    if let Some(rule) = rest.strip_prefix('+') {
        if rule.len() >= 8 && rule.bytes().all(|b| b == b'-') {
            return Line::Close { depth: level };
        }
        if let Some(title) = box_title(rule) {
            return Line::NextBox {
                depth: level - 1,
                more: title == "...",
            };
        }
    }
    let text = ["| ", "+ "]
        .iter()
        .find_map(|margin| rest.strip_prefix(margin))
        .or_else(|| (rest == "|" || rest == "+").then_some(""));
    match text {
        Some(text) => Line::Content { depth: level, text },
        None => plain,
    }
}

/// The title of a box's rule, `---------------- 3 ----------------`: a number or `...`.
fn box_title(rule: &str) -> Option<&str> {
    let title = rule.trim_matches('-');
    let inner = title.strip_prefix(' ')?.strip_suffix(' ')?;
    let numbered = !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit());
    (rule.starts_with('-') && rule.ends_with('-') && (numbered || inner == "...")).then_some(inner)
}

/// The exceptions read so far and the chains being read, one level per box.
struct Reader<'a> {
    nodes: Vec<Node<'a>>,
    levels: Vec<Level>,
    recognised: bool,
}

pub(super) fn parse(text: &str) -> Option<Vec<Exception>> {
    let mut reader = Reader {
        nodes: Vec::new(),
        levels: vec![Level::new(0, None, false)],
        recognised: false,
    };
    let mut in_group = false;
    for raw in text.lines() {
        if !in_group {
            in_group = starts_group(raw);
        }
        if !in_group {
            reader.content(raw);
            continue;
        }
        match classify(raw) {
            Line::Content { depth, text } => {
                // A blank line says nothing of where it is.
                if text.trim().is_empty() && depth == 0 {
                    continue;
                }
                reader.close_deeper_than(chain_depth(depth));
                reader.content(text);
            }
            Line::FirstBox { depth } => reader.first_box(depth),
            Line::NextBox { depth, more } => reader.next_box(depth, more),
            Line::Close { depth } => reader.close_deeper_than(depth.saturating_sub(1)),
        }
    }
    reader.close_deeper_than(0);
    reader.finish_current();
    let raised = reader.levels.first().and_then(|top| top.last)?;
    if !reader.recognised {
        return None;
    }
    let mut exceptions = build(reader.nodes, raised);
    describe_frames(&mut exceptions);
    Some(exceptions)
}

/// The level a line at `depth` belongs to: the top-level group's own lines (depth 1) end the
/// top level's chain; inside a box, a group's lines are its chain's.
fn chain_depth(depth: usize) -> usize {
    if depth <= 1 {
        0
    } else {
        depth
    }
}

/// Whether the line is the first of an exception group's output at the top level.
fn starts_group(raw: &str) -> bool {
    match classify(raw) {
        Line::Content { depth: 1, text } => {
            let header = text
                .split_once(": ")
                .is_some_and(|(name, value)| is_header(name) && group_message(value).is_some());
            text.starts_with("Exception Group Traceback") || header
        }
        Line::FirstBox { depth: 1 } => true,
        _ => false,
    }
}

impl<'a> Reader<'a> {
    fn level(&mut self) -> &mut Level {
        // The top level is never closed.
        let last = self.levels.len() - 1;
        &mut self.levels[last]
    }

    /// The exception being read, started when there is none.
    fn current(&mut self) -> usize {
        if let Some(current) = self.level().current {
            return current;
        }
        self.nodes.push(Node::new());
        let index = self.nodes.len() - 1;
        self.level().current = Some(index);
        index
    }

    /// Ends the exception being read: the chain's last, linked to the one before it.
    fn finish_current(&mut self) {
        let level = self.level();
        let Some(current) = level.current.take() else {
            return;
        };
        let previous = level.last.replace(current);
        let link = level.link.take().unwrap_or(Link::Context);
        self.nodes[current].previous = previous.map(|p| (p, link));
    }

    /// Ends the exception being read if it has its header: a traceback or a frame starts the
    /// next one.
    fn finish_if_complete(&mut self) {
        if let Some(current) = self.level().current {
            if !self.nodes[current].header.is_empty() {
                self.finish_current();
            }
        }
    }

    /// Closes the boxes nested deeper than `depth`: each one's chain becomes a sub-exception
    /// of its group.
    fn close_deeper_than(&mut self, depth: usize) {
        while self.levels.len() > 1 && self.level().depth > depth {
            self.finish_current();
            if let Some(level) = self.levels.pop() {
                if let (Some(last), Some(parent)) = (level.last, level.parent) {
                    self.nodes[parent].children.push(last);
                }
            }
        }
    }

    /// The group of the level whose lines are at `depth`: the exception read last there.
    fn group_at(&mut self, depth: usize) -> usize {
        self.close_deeper_than(chain_depth(depth));
        self.finish_current();
        let group = match self.level().last {
            Some(group) => group,
            None => {
                let group = self.current();
                self.finish_current();
                group
            }
        };
        self.nodes[group].group = true;
        group
    }

    fn first_box(&mut self, depth: usize) {
        let group = self.group_at(depth);
        self.levels.push(Level::new(depth + 1, Some(group), false));
    }

    fn next_box(&mut self, depth: usize, more: bool) {
        // The box before it is the latest at `depth + 1`: its group is the one to go on with.
        let previous = self
            .levels
            .iter()
            .rev()
            .find(|level| level.depth == depth + 1)
            .and_then(|level| level.parent);
        let group = match previous {
            Some(group) => {
                self.close_deeper_than(depth);
                group
            }
            None => self.group_at(depth),
        };
        self.levels.push(Level::new(depth + 1, Some(group), more));
    }

    /// A line of the current level, its margin off.
    fn content(&mut self, line: &'a str) {
        if self.level().skipped {
            return;
        }
        let trimmed = line.trim_start();
        if trimmed.ends_with("Traceback (most recent call last):") {
            self.recognised = true;
            self.finish_if_complete();
            let current = self.current();
            self.nodes[current].group |= trimmed.starts_with("Exception Group");
        } else if let Some((_, link)) = LINKS.iter().find(|(text, _)| *text == trimmed) {
            self.finish_current();
            self.level().link = Some(*link);
        } else if let Some((path, lineno, function)) =
            trimmed.strip_prefix("File \"").and_then(frame_line)
        {
            self.recognised = true;
            self.finish_if_complete();
            let current = self.current();
            let node = &mut self.nodes[current];
            match function {
                Some(function) => {
                    node.frames.push(frame(path, lineno, function));
                    node.source_next = true;
                }
                None => {
                    node.location = Some((path, lineno));
                    node.source_next = false;
                }
            }
        } else if let Some(times) = repeated(trimmed) {
            if let Some(current) = self.level().current {
                let node = &mut self.nodes[current];
                node.frames.repeat_last(times);
                node.source_next = false;
            }
        } else if line.starts_with(char::is_whitespace) || line.is_empty() {
            self.source_line(trimmed);
        } else {
            let current = self.level().current;
            let reading = current.is_some_and(|c| !self.nodes[c].header.is_empty());
            if reading || is_header(line) {
                let current = self.current();
                let node = &mut self.nodes[current];
                node.header.push(line);
                node.source_next = false;
            }
        }
    }

    /// An indented line: the first under a frame is its source line (a line CPython 3.13 adds
    /// for a statement of several lines, and the carets, are not).
    fn source_line(&mut self, trimmed: &str) {
        let Some(current) = self.level().current else {
            return;
        };
        let node = &mut self.nodes[current];
        if !node.source_next || trimmed.is_empty() || is_carets(trimmed) {
            return;
        }
        node.source_next = false;
        // sentry-python reads the line from the file (`linecache`) and keeps its indentation;
        // CPython prints it stripped, and Sentry's grouping joins its whitespace
        // (`get_contextline_component`), so both hash alike.
        if let Some(frame) = node.frames.last_mut() {
            let mut line = trimmed.trim_end().to_owned();
            super::cut_in_place(&mut line, super::MAX_FRAME_TEXT);
            frame.context_line = Some(line);
        }
    }
}

/// `^^^^`, `~~~~^^^^~~~`: the carets CPython 3.11+ prints under a source line.
fn is_carets(line: &str) -> bool {
    line.bytes().all(|b| matches!(b, b'^' | b'~' | b' '))
}

/// The exceptions in sentry-python's order, the raised one last: a plain chain root cause
/// first (its newest [`MAX_EXCEPTIONS`]); an exception group as `exceptions_from_error` walks
/// it, numbered, the first [`MAX_EXCEPTIONS`] of the walk.
fn build(nodes: Vec<Node>, raised: usize) -> Vec<Exception> {
    match nodes[raised].group {
        true => build_group(nodes, raised),
        false => build_chain(nodes, raised),
    }
}

/// A plain chain, root cause first.
fn build_chain(mut nodes: Vec<Node>, raised: usize) -> Vec<Exception> {
    let mut chain = Vec::new();
    let mut at = Some(raised);
    while let Some(index) = at {
        if chain.len() == MAX_EXCEPTIONS {
            break;
        }
        chain.push(index);
        at = nodes[index].previous.map(|(p, _)| p);
    }
    chain
        .into_iter()
        .rev()
        .map(|index| {
            let mut exception = build_one(&mut nodes[index]);
            mark_group(&mut exception, nodes[index].group);
            exception
        })
        .collect()
}

/// An exception group, walked as `exceptions_from_error` walks it, numbered.
fn build_group(mut nodes: Vec<Node>, raised: usize) -> Vec<Exception> {
    // (node, its parent's exception_id, its source): the group first, then its cause or
    // context (its parent_id 0, as sentry-python passes none), then its sub-exceptions.
    let mut stack: Vec<(usize, Option<u64>, Option<String>)> = vec![(raised, None, None)];
    let mut walked = Vec::new();
    let mut seen = vec![false; nodes.len()];
    while let Some((index, parent, source)) = stack.pop() {
        if walked.len() == MAX_EXCEPTIONS {
            break;
        }
        if std::mem::replace(&mut seen[index], true) {
            continue;
        }
        let id = walked.len() as u64;
        walked.push((index, id, parent, source));
        let node = &nodes[index];
        for (i, &child) in node.children.iter().enumerate().rev() {
            stack.push((child, Some(id), Some(format!("exceptions[{i}]"))));
        }
        if let Some((previous, link)) = node.previous {
            stack.push((previous, Some(0), Some(link.source().to_owned())));
        }
    }
    walked
        .into_iter()
        .rev()
        .map(|(index, id, parent, source)| {
            let mut exception = build_one(&mut nodes[index]);
            set_mechanism_data(&mut exception, mechanism_keys::EXCEPTION_ID, id.into());
            if let Some(parent) = parent {
                set_mechanism_data(&mut exception, mechanism_keys::PARENT_ID, parent.into());
                if let Some(mechanism) = exception.mechanism.as_mut() {
                    mechanism.ty = "chained".to_owned();
                }
            }
            if let Some(source) = source {
                set_mechanism_data(&mut exception, mechanism_keys::SOURCE, source.into());
            }
            mark_group(&mut exception, nodes[index].group);
            exception
        })
        .collect()
}

/// Marks an exception group as sentry-python marks it (only `true` is written).
fn mark_group(exception: &mut Exception, group: bool) {
    if group {
        set_mechanism_data(exception, mechanism_keys::IS_EXCEPTION_GROUP, true.into());
    }
}

/// One exception: its header's type and value, its frames.
fn build_one(node: &mut Node) -> Exception {
    let first = node.header.first().copied().unwrap_or_default();
    let (name, first_line) = match first.split_once(": ") {
        Some((name, rest)) => (name, Some(rest)),
        None => (first.trim_end(), None),
    };
    let lines: Lines = first_line
        .into_iter()
        .chain(node.header.iter().skip(1).copied())
        .collect();
    let mut value = message(&lines);
    if node.group {
        value = value.map(without_count);
    }
    if let (Some((path, lineno)), Some(v)) = (node.location, value.as_mut()) {
        // `str()` of a SyntaxError: `msg (file.py, line 3)`, the file's base name.
        let file = path.rsplit('/').next().unwrap_or(path);
        *v = format!("{v} ({file}, line {lineno})");
    }
    let (module, ty) = split_type(name);
    let frames = std::mem::replace(&mut node.frames, Frames::new(Order::OldestFirst));
    let mut exception = Exception {
        ty: ty.to_owned(),
        module: module.map(str::to_owned),
        value,
        stacktrace: frames.into_stacktrace(),
        ..Default::default()
    };
    if let Some(errno) = exception.value.as_deref().and_then(errno) {
        set_errno(&mut exception, errno);
    }
    exception
}

/// A group's value without CPython's count: the first line that ends with it (its notes, if
/// any, follow) loses it.
fn without_count(value: String) -> String {
    let mut lines: Vec<&str> = value.split('\n').collect();
    let Some(at) = lines.iter().position(|l| group_message(l).is_some()) else {
        return value;
    };
    lines[at] = group_message(lines[at]).unwrap_or(lines[at]);
    lines.join("\n")
}

/// `outer (2 sub-exceptions)`: the group's `message`, what sentry-python sends as its value.
fn group_message(text: &str) -> Option<&str> {
    let (message, count) = text.rsplit_once(" (")?;
    let count = count
        .strip_suffix(" sub-exceptions)")
        .or_else(|| count.strip_suffix(" sub-exception)"))?;
    count.bytes().all(|b| b.is_ascii_digit()).then_some(message)
}

/// `[Errno 2] No such file or directory: 'x'`: the `errno` of an `OSError`.
fn errno(value: &str) -> Option<i32> {
    let rest = value.strip_prefix("[Errno ")?;
    rest.split_once(']')?.0.parse().ok()
}

/// A Python exception's type as CPython prints it (`traceback.TracebackException`: the
/// `__qualname__`, after `__module__.` unless the module is `builtins` or `__main__`) as
/// sentry-python sends it: `(module, qualname)`. The module is the dotted prefix before the
/// class: the longest run of trailing components that start with an upper-case letter (past a
/// leading `_`) is the qualified name, so nested classes stay whole
/// (`shop.models.Order.DoesNotExist` is `Order.DoesNotExist` of `shop.models`), at least one
/// component is left for the module (`PIL.UnidentifiedImageError`), and without an upper-case
/// component the last one is the class (`socket.gaierror`). A name without a module is a
/// builtin's or, CPython leaving `__main__` out, the main script's. The same text in
/// OpenTelemetry's `exception.type` (`module.qualname`, `__main__` included) splits right.
pub fn split_type(name: &str) -> (Option<&str>, &str) {
    if !name.contains('.') {
        let module = (!BUILTIN_TYPES.contains(&name) && !name.is_empty()).then_some("__main__");
        return (module, name);
    }
    let is_class = |component: &str| {
        component
            .trim_start_matches('_')
            .starts_with(|c: char| c.is_uppercase())
    };
    let components: Vec<&str> = name.split('.').collect();
    let classes = components
        .iter()
        .rev()
        .take_while(|c| is_class(c))
        .count()
        .clamp(1, components.len() - 1);
    let module_len: usize = components[..components.len() - classes]
        .iter()
        .map(|c| c.len() + 1)
        .sum();
    (Some(&name[..module_len - 1]), &name[module_len..])
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

/// `app.py", line 3, in handler` (after `File "`): the path, the line and the function;
/// without `, in ...` the location of a SyntaxError.
fn frame_line(text: &str) -> Option<(&str, u64, Option<&str>)> {
    let (path, rest) = text.split_once("\", line ")?;
    let (line, function) = match rest.split_once(", in ") {
        Some((line, function)) => (line, Some(function.trim_end())),
        None => (rest.trim_end(), None),
    };
    Some((path, number(line)?, function))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{functions, types};
    use super::*;
    use serde_json::Value;

    /// (function, module, filename, abs_path, lineno, context_line, in_app) of each frame.
    type Row<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<u64>,
        Option<&'a str>,
        Option<bool>,
    );

    fn rows(e: &Exception) -> Vec<Row<'_>> {
        super::super::testing::frames(e)
            .iter()
            .map(|f| {
                (
                    f.function.as_deref().unwrap_or_default(),
                    f.module.as_deref(),
                    f.filename.as_deref(),
                    f.abs_path.as_deref(),
                    f.lineno,
                    f.context_line.as_deref(),
                    f.in_app,
                )
            })
            .collect()
    }

    /// (exception_id, parent_id, source, is_exception_group, mechanism type) of an exception.
    fn ids(e: &Exception) -> (Option<u64>, Option<u64>, Option<&str>, bool, Option<&str>) {
        let Some(m) = &e.mechanism else {
            return (None, None, None, false, None);
        };
        let get = |key: &str| m.data.get(key);
        (
            get(mechanism_keys::EXCEPTION_ID).and_then(Value::as_u64),
            get(mechanism_keys::PARENT_ID).and_then(Value::as_u64),
            get(mechanism_keys::SOURCE).and_then(Value::as_str),
            get(mechanism_keys::IS_EXCEPTION_GROUP) == Some(&Value::Bool(true)),
            (!m.ty.is_empty()).then_some(m.ty.as_str()),
        )
    }

    /// CPython 3.12's output for a script `/tmp/ref/client.py` that imports `shop_errors.py`
    /// beside it and a package from a `site-packages`.
    const CHAIN: &str = r#"Traceback (most recent call last):
  File "/tmp/ref/shop_errors.py", line 11, in charge
    read_card(cards)
  File "/tmp/ref/shop_errors.py", line 6, in read_card
    return cards["visa"]
           ~~~~~^^^^^^^^
KeyError: 'visa'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/tmp/ref/client.py", line 27, in chain
    fakepkg.api.call(lambda: shop_errors.charge({}))
  File "/tmp/ref/lib/python3.12/site-packages/fakepkg/api.py", line 2, in call
    return fn()
           ^^^^
  File "/tmp/ref/client.py", line 27, in <lambda>
    fakepkg.api.call(lambda: shop_errors.charge({}))
                             ^^^^^^^^^^^^^^^^^^^^^^
  File "/tmp/ref/shop_errors.py", line 13, in charge
    raise PaymentDeclined("card declined") from e
shop_errors.PaymentDeclined: card declined

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/tmp/ref/client.py", line 30, in chain
    {}["x"]
    ~~^^^^^
KeyError: 'x'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/tmp/ref/client.py", line 33, in chain
    raise LocalError("while handling")
LocalError: while handling
"#;

    /// `LocalError` is printed without a module: the script's, so `client.py`, which raised
    /// it, is `__main__`, as in sentry-python's event.
    #[test]
    fn a_chain_as_sentry_python_sends_it() {
        let chain = parse(CHAIN).expect("python");
        assert_eq!(
            types(&chain),
            ["KeyError", "PaymentDeclined", "KeyError", "LocalError"]
        );
        let modules: Vec<_> = chain.iter().map(|e| e.module.as_deref()).collect();
        assert_eq!(modules, [None, Some("shop_errors"), None, Some("__main__")]);
        let values: Vec<_> = chain.iter().map(|e| e.value.as_deref()).collect();
        assert_eq!(
            values,
            [
                Some("'visa'"),
                Some("card declined"),
                Some("'x'"),
                Some("while handling")
            ]
        );
        // A plain chain: no exception ids (sentry-python's `walk_exception_chain`).
        assert!(chain.iter().all(|e| e.mechanism.is_none()));
        assert_eq!(super::super::raised_index(&chain), 3);
        let client = Some("/tmp/ref/client.py");
        let errors = Some("/tmp/ref/shop_errors.py");
        let api = Some("/tmp/ref/lib/python3.12/site-packages/fakepkg/api.py");
        assert_eq!(
            rows(&chain[1]),
            [
                (
                    "chain",
                    Some("__main__"),
                    Some("client.py"),
                    client,
                    Some(27),
                    Some("fakepkg.api.call(lambda: shop_errors.charge({}))"),
                    Some(true)
                ),
                (
                    "call",
                    Some("fakepkg.api"),
                    Some("fakepkg/api.py"),
                    api,
                    Some(2),
                    Some("return fn()"),
                    Some(false)
                ),
                (
                    "<lambda>",
                    Some("__main__"),
                    Some("client.py"),
                    client,
                    Some(27),
                    Some("fakepkg.api.call(lambda: shop_errors.charge({}))"),
                    Some(true)
                ),
                (
                    "charge",
                    Some("shop_errors"),
                    Some("shop_errors.py"),
                    errors,
                    Some(13),
                    Some("raise PaymentDeclined(\"card declined\") from e"),
                    Some(true)
                ),
            ]
        );
        assert_eq!(
            rows(&chain[0])[1].5,
            Some("return cards[\"visa\"]"),
            "the carets are not the source line"
        );
    }

    #[test]
    fn the_script_is_main_when_its_module_level_frame_is_there() {
        let text = "Traceback (most recent call last):\n\
                    \x20 File \"/srv/app/main.py\", line 40, in <module>\n\
                    \x20   run()\n\
                    \x20 File \"/srv/app/main.py\", line 30, in run\n\
                    \x20   orders.find(1)\n\
                    \x20 File \"/srv/app/shop/orders.py\", line 7, in find\n\
                    \x20   raise Order.DoesNotExist(f\"order {order_id}\")\n\
                    \x20 File \"/usr/lib/python3.12/json/__init__.py\", line 1, in dumps\n\
                    \x20 File \"<frozen importlib._bootstrap>\", line 488, in _call_with_frames_removed\n\
                    \x20 File \"/usr/local/lib/python3.12/site-packages/requests/__init__.py\", line 9, in get\n\
                    shop.models.Order.DoesNotExist: order 1\n";
        let chain = parse(text).expect("python");
        assert_eq!(chain[0].ty, "Order.DoesNotExist");
        assert_eq!(chain[0].module.as_deref(), Some("shop.models"));
        let described: Vec<_> = rows(&chain[0])
            .into_iter()
            .map(|r| (r.1, r.2, r.6))
            .collect();
        assert_eq!(
            described,
            [
                (Some("__main__"), Some("main.py"), Some(true)),
                (Some("__main__"), Some("main.py"), Some(true)),
                (Some("shop.orders"), Some("shop/orders.py"), Some(true)),
                (Some("json"), Some("__init__.py"), None),
                (
                    Some("importlib._bootstrap"),
                    Some("<frozen importlib._bootstrap>"),
                    Some(true)
                ),
                (Some("requests"), Some("__init__.py"), Some(false)),
            ]
        );
        // No source line printed: none sent.
        assert_eq!(rows(&chain[0])[3].5, None);
    }

    #[test]
    fn types_split_as_sentry_python_names_them() {
        let cases = [
            ("ValueError", None, "ValueError"),
            ("PaymentDeclined", Some("__main__"), "PaymentDeclined"),
            (
                "__main__.PaymentDeclined",
                Some("__main__"),
                "PaymentDeclined",
            ),
            ("__main__.Outer.Inner", Some("__main__"), "Outer.Inner"),
            (
                "shop_errors.PaymentDeclined",
                Some("shop_errors"),
                "PaymentDeclined",
            ),
            (
                "shop.models.Order.DoesNotExist",
                Some("shop.models"),
                "Order.DoesNotExist",
            ),
            (
                "json.decoder.JSONDecodeError",
                Some("json.decoder"),
                "JSONDecodeError",
            ),
            ("socket.gaierror", Some("socket"), "gaierror"),
            (
                "grpc._channel._InactiveRpcError",
                Some("grpc._channel"),
                "_InactiveRpcError",
            ),
            (
                "PIL.UnidentifiedImageError",
                Some("PIL"),
                "UnidentifiedImageError",
            ),
        ];
        for (text, module, ty) in cases {
            assert_eq!(split_type(text), (module, ty), "{text}");
        }
    }

    /// CPython 3.12: a group with a context, a sub-exception with a cause, a nested group.
    const GROUP: &str = r#"Traceback (most recent call last):
  File "/tmp/ref/client.py", line 63, in group
    raise RuntimeError("context of group")
RuntimeError: context of group

During handling of the above exception, another exception occurred:

  + Exception Group Traceback (most recent call last):
  |   File "/tmp/ref/client.py", line 65, in group
  |     raise ExceptionGroup("outer", errors)
  | ExceptionGroup: outer (2 sub-exceptions)
  +-+---------------- 1 ----------------
    | Traceback (most recent call last):
    |   File "/tmp/ref/client.py", line 50, in sub1
    |     {}["k"]
    |     ~~^^^^^
    | KeyError: 'k'
    | 
    | The above exception was the direct cause of the following exception:
    | 
    | Traceback (most recent call last):
    |   File "/tmp/ref/client.py", line 58, in group
    |     f()
    |   File "/tmp/ref/client.py", line 52, in sub1
    |     raise ValueError("bad value") from e
    | ValueError: bad value
    +---------------- 2 ----------------
    | Exception Group Traceback (most recent call last):
    |   File "/tmp/ref/client.py", line 58, in group
    |     f()
    |   File "/tmp/ref/client.py", line 54, in sub2
    |     raise ExceptionGroup("inner", [TypeError("t1"), OSError(2, "nofile")])
    | ExceptionGroup: inner (2 sub-exceptions)
    +-+---------------- 1 ----------------
      | TypeError: t1
      +---------------- 2 ----------------
      | FileNotFoundError: [Errno 2] nofile
      +------------------------------------
"#;

    #[test]
    fn an_exception_group_as_sentry_python_walks_it() {
        let tree = parse(GROUP).expect("python");
        // sentry-python 2.75's list for the same exception (`exceptions_from_error`, reversed).
        assert_eq!(
            types(&tree),
            [
                "FileNotFoundError",
                "TypeError",
                "ExceptionGroup",
                "KeyError",
                "ValueError",
                "RuntimeError",
                "ExceptionGroup"
            ]
        );
        let all: Vec<_> = tree.iter().map(ids).collect();
        assert_eq!(
            all,
            [
                (
                    Some(6),
                    Some(4),
                    Some("exceptions[1]"),
                    false,
                    Some("chained")
                ),
                (
                    Some(5),
                    Some(4),
                    Some("exceptions[0]"),
                    false,
                    Some("chained")
                ),
                (
                    Some(4),
                    Some(0),
                    Some("exceptions[1]"),
                    true,
                    Some("chained")
                ),
                (Some(3), Some(0), Some("__cause__"), false, Some("chained")),
                (
                    Some(2),
                    Some(0),
                    Some("exceptions[0]"),
                    false,
                    Some("chained")
                ),
                (
                    Some(1),
                    Some(0),
                    Some("__context__"),
                    false,
                    Some("chained")
                ),
                (Some(0), None, None, true, None),
            ]
        );
        let values: Vec<_> = tree.iter().map(|e| e.value.as_deref()).collect();
        assert_eq!(
            values,
            [
                Some("[Errno 2] nofile"),
                Some("t1"),
                Some("inner"),
                Some("'k'"),
                Some("bad value"),
                Some("context of group"),
                Some("outer")
            ]
        );
        let errno = tree[0]
            .mechanism
            .as_ref()
            .and_then(|m| m.meta.errno.as_ref());
        assert_eq!(errno.map(|e| e.number), Some(2));
        assert_eq!(functions(&tree[4]), ["group", "sub1"]);
        assert_eq!(functions(&tree[2]), ["group", "sub2"]);
        assert_eq!(functions(&tree[6]), ["group"]);
        assert!(tree[1].stacktrace.is_none(), "never raised: no traceback");
        assert_eq!(
            rows(&tree[3])[0].5,
            Some("{}[\"k\"]"),
            "source lines inside a box"
        );
        assert_eq!(super::super::raised_index(&tree), 6);
    }

    #[test]
    fn a_task_group_and_more_exceptions_than_printed() {
        let text = "  + Exception Group Traceback (most recent call last):\n\
                    \x20 |   File \"/tmp/ref/client.py\", line 74, in task_group\n\
                    \x20 |     async with asyncio.TaskGroup() as tg:\n\
                    \x20 |   File \"/usr/lib/python3.12/asyncio/taskgroups.py\", line 145, in __aexit__\n\
                    \x20 |     raise me from None\n\
                    \x20 | ExceptionGroup: unhandled errors in a TaskGroup (17 sub-exceptions)\n\
                    \x20 +-+---------------- 1 ----------------\n\
                    \x20   | Traceback (most recent call last):\n\
                    \x20   |   File \"/tmp/ref/client.py\", line 72, in fail\n\
                    \x20   |     raise ConnectionError(f\"upstream {n}\")\n\
                    \x20   | ConnectionError: upstream 1\n\
                    \x20   +---------------- 2 ----------------\n\
                    \x20   | ConnectionError: upstream 2\n\
                    \x20   +---------------- ... ----------------\n\
                    \x20   | and 15 more exceptions\n\
                    \x20   +------------------------------------\n";
        let tree = parse(text).expect("python");
        assert_eq!(
            types(&tree),
            ["ConnectionError", "ConnectionError", "ExceptionGroup"]
        );
        assert_eq!(
            tree[2].value.as_deref(),
            Some("unhandled errors in a TaskGroup")
        );
        assert_eq!(tree[1].value.as_deref(), Some("upstream 1"));
        let frames = rows(&tree[2]);
        assert_eq!(frames[1].1, Some("asyncio.taskgroups"));
        assert_eq!(frames[1].2, Some("asyncio/taskgroups.py"));
        assert_eq!(frames[1].6, None, "the standard library: in_app unset");
        let parents: Vec<_> = tree.iter().map(|e| ids(e).1).collect();
        assert_eq!(parents, [Some(0), Some(0), None]);
    }

    #[test]
    fn a_group_inside_a_plain_chain_keeps_its_sub_exceptions_out() {
        let text = "  + Exception Group Traceback (most recent call last):\n\
                    \x20 |   File \"/app/x.py\", line 98, in run\n\
                    \x20 | ExceptionGroup: eg (2 sub-exceptions)\n\
                    \x20 +-+---------------- 1 ----------------\n\
                    \x20   | ValueError: a\n\
                    \x20   +---------------- 2 ----------------\n\
                    \x20   | TypeError: b\n\
                    \x20   +------------------------------------\n\
                    \n\
                    The above exception was the direct cause of the following exception:\n\
                    \n\
                    Traceback (most recent call last):\n\
                    \x20 File \"/app/x.py\", line 100, in run\n\
                    \x20   raise RuntimeError(\"wrapped\") from g\n\
                    RuntimeError: wrapped\n";
        let chain = parse(text).expect("python");
        // sentry-python walks `__cause__` only: the group without its sub-exceptions, and no ids.
        assert_eq!(types(&chain), ["ExceptionGroup", "RuntimeError"]);
        assert_eq!(ids(&chain[0]), (None, None, None, true, None));
        assert_eq!(chain[1].mechanism, None);
        assert_eq!(chain[0].value.as_deref(), Some("eg"));
    }

    #[test]
    fn nested_groups_deeper_than_printed_and_bounded() {
        let mut text = String::new();
        for depth in 0..30 {
            let pad = "  ".repeat(depth);
            let margin = if depth == 0 { "+" } else { "|" };
            text.push_str(&format!(
                "{pad}  {margin} Exception Group Traceback (most recent call last):\n"
            ));
            text.push_str(&format!(
                "{pad}  |   File \"/app/g.py\", line {depth}, in level\n"
            ));
            text.push_str(&format!(
                "{pad}  | ExceptionGroup: level {depth} (1 sub-exception)\n"
            ));
            text.push_str(&format!("{pad}  +-+---------------- 1 ----------------\n"));
        }
        text.push_str(&format!("{}  | ValueError: leaf\n", "  ".repeat(30)));
        let tree = parse(&text).expect("python");
        assert_eq!(tree.len(), MAX_EXCEPTIONS);
        assert_eq!(
            tree.last().map(|e| e.value.as_deref()),
            Some(Some("level 0"))
        );
        assert_eq!(
            tree[0].value.as_deref(),
            Some(&*format!("level {}", MAX_EXCEPTIONS - 1))
        );
        let parents: Vec<_> = tree.iter().rev().map(|e| ids(e).1).collect();
        let expected: Vec<_> = (0..MAX_EXCEPTIONS as u64)
            .map(|i| i.checked_sub(1))
            .collect();
        assert_eq!(parents, expected);
    }

    #[test]
    fn notes_syntax_errors_and_python_3_13_lines() {
        let notes = "Traceback (most recent call last):\n\
                     \x20 File \"/app/x.py\", line 3, in f\n\
                     \x20   return f(\n\
                     \x20       x,\n\
                     \x20   )\n\
                     ValueError: with notes\nnote one\nnote two\n";
        let chain = parse(notes).expect("python");
        assert_eq!(
            chain[0].value.as_deref(),
            Some("with notes\nnote one\nnote two")
        );
        assert_eq!(rows(&chain[0])[0].5, Some("return f("));

        let syntax = "Traceback (most recent call last):\n\
                      \x20 File \"/app/main.py\", line 3, in <module>\n\
                      \x20   import broken\n\
                      \x20 File \"/app/broken.py\", line 1\n\
                      \x20   def f(\n\
                      \x20        ^\n\
                      SyntaxError: '(' was never closed\n";
        let chain = parse(syntax).expect("python");
        assert_eq!(chain[0].ty, "SyntaxError");
        assert_eq!(
            chain[0].value.as_deref(),
            Some("'(' was never closed (broken.py, line 1)")
        );
        // The SyntaxError's location is not a frame.
        assert_eq!(functions(&chain[0]), ["<module>"]);
    }

    #[test]
    fn repeated_recursion_is_bounded_as_relay_keeps_it() {
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
        let stacktrace = chain[0].stacktrace.as_ref().expect("frames");
        assert_eq!(stacktrace.frames_omitted, Some((50, 50 + 998 - 250)));
        assert_eq!(
            stacktrace
                .frames
                .last()
                .and_then(|f| f.context_line.as_deref()),
            Some("return recurse(n + 1)")
        );
    }

    #[test]
    fn truncated_and_foreign_text() {
        let cut = &CHAIN[..CHAIN.find("line 27, in ch").expect("cut") + 14];
        let chain = parse(cut).expect("python");
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0].ty, "KeyError");
        assert_eq!(chain[1].ty, "");
        assert_eq!(functions(&chain[1]), ["ch"]);
        let cut = &GROUP[..GROUP.find("| TypeError").expect("cut")];
        let tree = parse(cut).expect("python");
        assert_eq!(tree.last().map(|e| e.ty.as_str()), Some("ExceptionGroup"));
        for text in [
            "ValueError: no traceback",
            "java.lang.Error: x\n\tat a.B.c(B.java:1)",
            "File \"x.py\", line many",
            "  +-+---------------- 1 ----------------\n    | ValueError: 1\n",
        ] {
            assert!(parse(text).is_none(), "{text}");
        }
    }

    #[test]
    fn margins() {
        let cases = [
            (
                "  + Exception Group",
                Line::Content {
                    depth: 1,
                    text: "Exception Group",
                },
            ),
            (
                "    | x",
                Line::Content {
                    depth: 2,
                    text: "x",
                },
            ),
            ("    |", Line::Content { depth: 2, text: "" }),
            (
                "  +-+---------------- 1 ----------------",
                Line::FirstBox { depth: 1 },
            ),
            (
                "    +---------------- 12 ----------------",
                Line::NextBox {
                    depth: 1,
                    more: false,
                },
            ),
            (
                "    +---------------- ... ----------------",
                Line::NextBox {
                    depth: 1,
                    more: true,
                },
            ),
            (
                "      +------------------------------------",
                Line::Close { depth: 3 },
            ),
            (
                "    x = a | b",
                Line::Content {
                    depth: 0,
                    text: "    x = a | b",
                },
            ),
            (
                "   | odd",
                Line::Content {
                    depth: 0,
                    text: "   | odd",
                },
            ),
        ];
        for (raw, line) in cases {
            assert_eq!(classify(raw), line, "{raw}");
        }
    }
}
