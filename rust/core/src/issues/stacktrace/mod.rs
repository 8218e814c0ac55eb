//! Stack traces as OpenTelemetry carries them (`exception.stacktrace`: the runtime's own text)
//! parsed into Sentry's exceptions and frames. One module per runtime's format; each answers
//! `None` for text it does not recognise, and then the event keeps the text raw.
//!
//! Every parser reads the lines once and bounds what it keeps ([`MAX_FRAMES`] per exception,
//! [`MAX_EXCEPTIONS`]), so a huge or hostile attribute costs little; text cut short yields
//! what was read.
//!
//! Each parser aims at the event the runtime's own Sentry SDK sends for the same exception, field
//! for field where Sentry titles and groups by it (the type and its module, the chain and its
//! mechanisms, each frame's function, module, file, line, source line and `in_app`): each module
//! names the SDK source its rules come from.

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};

use sentry_types::protocol::v7::{CError, Exception, Frame, Mechanism, Stacktrace};

use crate::cut::cut_in_place;

mod dotnet;
mod go;
mod jvm;
mod node;
mod php;
mod python;
mod ruby;

pub use python::split_type as split_python_type;

/// The most frames kept of one exception; more are dropped from the middle. Relay keeps as many
/// of a stack trace (relay-event-normalization `trimming.rs`, `enforce_frame_hard_limit`, 250
/// since relay#3905), the oldest [`KEPT_OLDEST`] and the newest 200, so the frames Sentry stores
/// are the same whether Relay or this module drops them.
pub const MAX_FRAMES: usize = 250;
/// The oldest frames kept when frames are dropped (the rest of [`MAX_FRAMES`] are the newest), as
/// Relay keeps them.
const KEPT_OLDEST: usize = 50;
/// The most exceptions kept of one chain or exception group: the raised one and its nearest
/// causes (for a group, the first of them in its SDK's order: see [`raised_index`]).
pub const MAX_EXCEPTIONS: usize = 16;

/// The keys of `mechanism.data` that stand for the mechanism fields sentry-types' `Mechanism`
/// lacks (`exception_id`, `parent_id`, `is_exception_group`, `source`): the event's writer
/// moves them to the mechanism's top level, where Sentry reads them (its exception-group
/// grouping, `filter_exceptions_for_exception_groups`, and the UI's tree of exceptions).
pub mod mechanism_keys {
    /// The exception's number in its SDK's walk of the tree (u64; 0 for the raised one).
    pub const EXCEPTION_ID: &str = "exception_id";
    /// The `exception_id` of the exception it belongs to (u64; never on the raised one).
    pub const PARENT_ID: &str = "parent_id";
    /// Whether the exception is an exception group (bool, only `true` is set).
    pub const IS_EXCEPTION_GROUP: &str = "is_exception_group";
    /// How it hangs off its parent (string): `__cause__`, `__context__`, `exceptions[2]`...
    pub const SOURCE: &str = "source";
}
/// Longest function, module, package or file name of a frame, in bytes (Relay cuts them at
/// 256 characters).
pub const MAX_FRAME_TEXT: usize = 512;
/// Longest exception message kept, in bytes (Relay's limit for `exception.value` is 8,192).
pub const MAX_MESSAGE: usize = 8192;

/// The runtimes whose stack-trace text is read. Named after `telemetry.sdk.language`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// Java, Kotlin, Scala and the other JVM languages.
    Jvm,
    Python,
    Go,
    Node,
    DotNet,
    Ruby,
    Php,
}

impl Runtime {
    /// Every runtime, the one whose text has the most specific signature first: a text that
    /// one parser only half recognises is tried first by the parser that recognises it well.
    pub const ALL: [Runtime; 7] = [
        Runtime::Python,
        Runtime::Go,
        Runtime::Php,
        Runtime::Ruby,
        Runtime::Jvm,
        Runtime::DotNet,
        Runtime::Node,
    ];

    /// The runtime of an SDK `telemetry.sdk.language`; `None` for one without a parser.
    pub fn of_language(language: &str) -> Option<Runtime> {
        match language {
            "java" => Some(Runtime::Jvm),
            "python" => Some(Runtime::Python),
            "go" => Some(Runtime::Go),
            "nodejs" | "webjs" => Some(Runtime::Node),
            "dotnet" => Some(Runtime::DotNet),
            "ruby" => Some(Runtime::Ruby),
            "php" => Some(Runtime::Php),
            _ => None,
        }
    }

    fn parser(self) -> fn(&str) -> Option<Vec<Exception>> {
        match self {
            Runtime::Jvm => jvm::parse,
            Runtime::Python => python::parse,
            Runtime::Go => go::parse,
            Runtime::Node => node::parse,
            Runtime::DotNet => dotnet::parse,
            Runtime::Ruby => ruby::parse,
            Runtime::Php => php::parse,
        }
    }
}

/// The exceptions of a stack trace's text, oldest first as Sentry wants them: the root cause
/// first, the exception that was raised (or thrown) last. Each has its frames oldest first
/// (the outermost call first, the frame that raised last), with `in_app` set by the
/// runtime's default rule ([`apply_in_app`] may override it). `None` when no parser recognises
/// the text. `runtime` is tried first; without it (or when it does not recognise the text)
/// every parser is tried in turn.
pub fn parse(text: &str, runtime: Option<Runtime>) -> Option<Vec<Exception>> {
    let hinted = runtime.and_then(|r| (r.parser())(text));
    hinted.or_else(|| {
        Runtime::ALL
            .iter()
            .filter(|&&r| Some(r) != runtime)
            .find_map(|r| (r.parser())(text))
    })
}

/// The index in `exceptions` (as [`parse`] returns them) of the exception that was raised: the
/// one OpenTelemetry's `exception.type` and `exception.message` describe, which Sentry titles
/// the issue by unless its exception-group rule picks another. Every parser puts it last, as
/// the SDKs do: a chain is sent root cause first, and an exception group as sentry-python sends
/// it (`exceptions_from_error` walks the group first, then its cause, then its sub-exceptions,
/// and the list is reversed), so the group is last too. 0 for an empty list.
pub fn raised_index(exceptions: &[Exception]) -> usize {
    exceptions.len().saturating_sub(1)
}

/// Marks the frames of the user's own code: with a non-empty `include` (module, qualified
/// function or path prefixes), a frame is in the app iff its module, its function when it has
/// no module (Node, PHP: the function is the qualified name there), its `abs_path` or its
/// `filename` starts with one of them. An empty `include` keeps the parsers' defaults.
pub fn apply_in_app(exceptions: &mut [Exception], include: &[String]) {
    if include.is_empty() {
        return;
    }
    let frames = exceptions
        .iter_mut()
        .filter_map(|e| e.stacktrace.as_mut())
        .flat_map(|s| s.frames.iter_mut());
    for frame in frames {
        let qualified = match &frame.module {
            Some(module) => Some(module),
            None => frame.function.as_ref(),
        };
        let mut names = [qualified, frame.abs_path.as_ref(), frame.filename.as_ref()]
            .into_iter()
            .flatten();
        let in_app = names.any(|name| include.iter().any(|p| name.starts_with(p.as_str())));
        frame.in_app = Some(in_app);
    }
}

/// The order in which a runtime prints frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Java, Go, Node, .NET, Ruby, PHP: the frame that raised first.
    NewestFirst,
    /// Python: the outermost call first.
    OldestFirst,
}

/// The frames of one exception as they are read, holding at most [`MAX_FRAMES`]: the first
/// ones read fill `head`, the latest ones a ring `tail`, so the middle of a deep recursion is
/// what is dropped, whatever the order the runtime prints in. Both hold runs of one frame
/// repeated, so a recursion printed once and repeated N times costs one frame, not N: frames
/// are copied only when the exception is built. Every frame's texts are cut to
/// [`MAX_FRAME_TEXT`] as it comes in.
#[derive(Debug)]
struct Frames {
    order: Order,
    /// The oldest frames kept when frames are dropped, and the newest.
    oldest: usize,
    newest: usize,
    /// Runs of frames, first read first: (frame, times), every `times` at least 1.
    head: Vec<(Frame, usize)>,
    /// The frames `head` stands for.
    head_len: usize,
    /// Runs as `head`'s, of the frames read after the head was full.
    tail: VecDeque<(Frame, usize)>,
    tail_len: usize,
    dropped: usize,
}

impl Frames {
    /// Frames kept as Relay keeps them: the oldest [`KEPT_OLDEST`], the newest up to
    /// [`MAX_FRAMES`].
    fn new(order: Order) -> Frames {
        Frames {
            order,
            oldest: KEPT_OLDEST,
            newest: MAX_FRAMES - KEPT_OLDEST,
            head: Vec::new(),
            head_len: 0,
            tail: VecDeque::new(),
            tail_len: 0,
            dropped: 0,
        }
    }

    fn head_capacity(&self) -> usize {
        match self.order {
            Order::NewestFirst => self.newest,
            Order::OldestFirst => self.oldest,
        }
    }

    fn tail_capacity(&self) -> usize {
        match self.order {
            Order::NewestFirst => self.oldest,
            Order::OldestFirst => self.newest,
        }
    }

    /// The frame read last, to add what the lines after it say (Python's source line).
    fn last_mut(&mut self) -> Option<&mut Frame> {
        if let Some((frame, _)) = self.tail.back_mut() {
            return Some(frame);
        }
        if self.tail_len > 0 || self.dropped > 0 {
            return None;
        }
        self.head.last_mut().map(|(frame, _)| frame)
    }

    fn len(&self) -> usize {
        self.head_len + self.tail_len
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&mut self, mut frame: Frame) {
        cut_texts(&mut frame);
        self.push_run(frame, 1);
    }

    /// `frame` `times` times: what fits as a run of the head, the rest as one of the tail.
    fn push_run(&mut self, frame: Frame, times: usize) {
        let in_head = times.min(self.head_capacity() - self.head_len);
        let in_tail = times - in_head;
        if in_head > 0 {
            let copy = (in_tail > 0).then(|| frame.clone());
            self.head.push((frame, in_head));
            self.head_len += in_head;
            if let Some(frame) = copy {
                self.push_tail(frame, in_tail);
            }
        } else if in_tail > 0 {
            self.push_tail(frame, in_tail);
        }
    }

    fn push_tail(&mut self, frame: Frame, times: usize) {
        self.tail.push_back((frame, times));
        self.tail_len = self.tail_len.saturating_add(times);
        self.drop_oldest_of_tail();
    }

    /// The frame read last, again `times` times (a recursion the runtime printed once).
    fn repeat_last(&mut self, times: usize) {
        if let Some((_, run)) = self.tail.back_mut() {
            *run = run.saturating_add(times);
            self.tail_len = self.tail_len.saturating_add(times);
            self.drop_oldest_of_tail();
            return;
        }
        let room = self.head_capacity() - self.head_len;
        let Some((last, run)) = self.head.last_mut() else {
            return;
        };
        let in_head = times.min(room);
        *run += in_head;
        self.head_len += in_head;
        if times > in_head {
            let last = last.clone();
            self.push_tail(last, times - in_head);
        }
    }

    /// Forgets the oldest frames of the tail beyond its share of [`MAX_FRAMES`], counting them.
    fn drop_oldest_of_tail(&mut self) {
        let capacity = self.tail_capacity();
        while self.tail_len > capacity {
            let Some((_, run)) = self.tail.front_mut() else {
                return;
            };
            let excess = (self.tail_len - capacity).min(*run);
            *run -= excess;
            self.tail_len -= excess;
            self.dropped = self.dropped.saturating_add(excess);
            if *run == 0 {
                self.tail.pop_front();
            }
        }
    }

    /// The kept frames, the outermost call first.
    fn oldest_first(&self) -> Box<dyn Iterator<Item = &Frame> + '_> {
        match self.order {
            Order::NewestFirst => {
                Box::new(expand(self.tail.iter().rev()).chain(expand(self.head.iter().rev())))
            }
            Order::OldestFirst => {
                Box::new(expand(self.head.iter()).chain(expand(self.tail.iter())))
            }
        }
    }

    /// The runs of frames, the outermost call first, moved out.
    fn into_runs(self) -> Box<dyn Iterator<Item = (Frame, usize)>> {
        match self.order {
            Order::NewestFirst => Box::new(
                self.tail
                    .into_iter()
                    .rev()
                    .chain(self.head.into_iter().rev()),
            ),
            Order::OldestFirst => Box::new(self.head.into_iter().chain(self.tail)),
        }
    }

    fn into_stacktrace(self) -> Option<Stacktrace> {
        if self.is_empty() {
            return None;
        }
        // Sentry's indices into the whole list, oldest first: the gap is after the oldest kept.
        let frames_omitted = (self.dropped > 0).then(|| {
            let end = self.oldest.saturating_add(self.dropped);
            (self.oldest as u64, end as u64)
        });
        let mut frames = Vec::with_capacity(self.len());
        // A frame read once is moved, not copied: only a run's repeats are clones.
        for (frame, times) in self.into_runs() {
            frames.extend(std::iter::repeat_n(frame, times));
        }
        Some(Stacktrace {
            frames,
            frames_omitted,
            ..Default::default()
        })
    }

    /// Only the newest `limit` frames, the older ones dropped without a mark: what an SDK that
    /// caps the frames it sends (sentry-java's 100, @sentry/node's 50) sends of a deeper stack.
    fn keep_newest(&mut self, limit: usize) {
        let Some(mut older) = self.len().checked_sub(limit).filter(|&n| n > 0) else {
            return;
        };
        // Oldest first into the tail, which holds `limit`: its oldest runs are cut, moved.
        let mut kept = Frames {
            oldest: 0,
            newest: limit,
            ..Frames::new(Order::OldestFirst)
        };
        let frames = std::mem::replace(self, Frames::new(Order::OldestFirst));
        for (frame, times) in frames.into_runs() {
            let cut = older.min(times);
            older -= cut;
            if times > cut {
                kept.push_run(frame, times - cut);
            }
        }
        *self = kept;
    }
}

/// Runs of frames as the frames they stand for.
fn expand<'a>(runs: impl Iterator<Item = &'a (Frame, usize)>) -> impl Iterator<Item = &'a Frame> {
    runs.flat_map(|(frame, times)| std::iter::repeat_n(frame, *times))
}

/// A frame's names cut to [`MAX_FRAME_TEXT`], their spare capacity given back.
fn cut_texts(frame: &mut Frame) {
    let texts = [
        &mut frame.function,
        &mut frame.module,
        &mut frame.filename,
        &mut frame.abs_path,
        &mut frame.package,
    ];
    for text in texts.into_iter().flatten() {
        cut_in_place(text, MAX_FRAME_TEXT);
    }
}

/// An exception of type `ty` (empty when the text does not say) with its frames.
fn exception(ty: &str, value: Option<String>, frames: Frames) -> Exception {
    Exception {
        ty: ty.to_owned(),
        value,
        stacktrace: frames.into_stacktrace(),
        ..Default::default()
    }
}

/// An exception of a chain printed root cause first (Python, PHP), read and not built yet:
/// such a chain keeps only its newest [`MAX_EXCEPTIONS`], so its exceptions are built (their
/// frames copied out) once the whole chain is read, and those forgotten cost nothing.
struct Unbuilt<'a> {
    ty: &'a str,
    module: Option<&'a str>,
    message: Lines<'a>,
    frames: Frames,
}

impl Unbuilt<'_> {
    fn build(self) -> Exception {
        let mut built = exception(self.ty, message(&self.message), self.frames);
        built.module = self.module.map(str::to_owned);
        built
    }
}

/// Adds the next newer exception of a chain printed root cause first, forgetting the oldest
/// beyond [`MAX_EXCEPTIONS`]: the raised exception is the one to keep.
fn push_newer<'a>(
    chain: &mut VecDeque<Unbuilt<'a>>,
    ty: &'a str,
    module: Option<&'a str>,
    message: Lines<'a>,
    frames: Frames,
) {
    if chain.len() == MAX_EXCEPTIONS {
        chain.pop_front();
    }
    chain.push_back(Unbuilt {
        ty,
        module,
        message,
        frames,
    });
}

/// The exceptions of a chain read root cause first, built.
fn build_chain(chain: VecDeque<Unbuilt>) -> Vec<Exception> {
    chain.into_iter().map(Unbuilt::build).collect()
}

/// One exception of a chain printed newest first (JVM, .NET, Node, Ruby) while it is read:
/// its type (empty when the text does not say), its message's lines and its frames.
struct Read<'a> {
    ty: &'a str,
    message: Lines<'a>,
    frames: Frames,
}

impl<'a> Read<'a> {
    fn new(ty: &'a str, message: Lines<'a>) -> Read<'a> {
        Read {
            ty,
            message,
            frames: Frames::new(Order::NewestFirst),
        }
    }

    /// From a header `pkg.SomeException: message`, or the type alone.
    fn from_header(header: &'a str) -> Read<'a> {
        match header.split_once(": ") {
            Some((ty, first)) => Read::new(ty, Lines::from_iter([first])),
            None => Read::new(header.trim_end(), Lines::default()),
        }
    }

    /// The first exception of a chain, from a line read before any: `read` of the header when
    /// the type it names passes `is_type` (a log line may precede the trace).
    fn first(
        header: &'a str,
        is_type: fn(&str) -> bool,
        read: fn(&'a str) -> Read<'a>,
    ) -> Option<Read<'a>> {
        let ty = header
            .split_once(": ")
            .map_or(header.trim_end(), |(ty, _)| ty);
        is_type(ty).then(|| read(header.trim()))
    }

    /// Adds `line`, neither a frame nor a header, to the message while the exception is in
    /// it: it has a type and its frames have not begun (`framed`, each runtime's own rule).
    fn continue_message(&mut self, line: &'a str, framed: bool) {
        if !self.ty.is_empty() && !framed {
            self.message.push(line);
        }
    }

    fn into_exception(self) -> Exception {
        exception(self.ty, message(&self.message), self.frames)
    }
}

/// Adds a frame to the exception read last; frames before any header start an exception
/// whose type the text does not say.
fn push_frame(chain: &mut Vec<Read>, frame: Frame) {
    if chain.is_empty() {
        chain.push(Read::new("", Lines::default()));
    }
    if let Some(current) = chain.last_mut() {
        current.frames.push(frame);
    }
}

/// Whether any exception of the chain has a frame: text without one is not a stack trace.
fn has_frames(chain: &[Read]) -> bool {
    chain.iter().any(|read| !read.frames.is_empty())
}

/// A chain read newest first as Sentry wants it: the root cause first.
fn root_cause_first(chain: Vec<Read>) -> Vec<Exception> {
    chain.into_iter().rev().map(Read::into_exception).collect()
}

/// A mechanism of type `ty` (empty when the parser cannot say: the event's builder names it).
fn mechanism(ty: &str) -> Mechanism {
    Mechanism {
        ty: ty.to_owned(),
        ..Default::default()
    }
}

/// The mechanism's entry `key` of [`mechanism_keys`], the mechanism made when missing.
fn set_mechanism_data(exception: &mut Exception, key: &str, value: serde_json::Value) {
    let mechanism = exception.mechanism.get_or_insert_with(|| mechanism(""));
    mechanism.data.insert(key.to_owned(), value);
}

/// `errno` of the mechanism's meta, as sentry-python sets it for an exception with an `errno`
/// (`single_exception_from_error_tuple`); Python prints it as `[Errno 2] No such file...`.
fn set_errno(exception: &mut Exception, errno: i32) {
    let mechanism = exception.mechanism.get_or_insert_with(|| mechanism(""));
    mechanism.meta.errno = Some(CError {
        number: errno,
        name: None,
    });
}

/// Sets `filename`, and `abs_path` too when `path` is absolute (Unix, Windows or UNC).
fn set_path(frame: &mut Frame, path: &str) {
    frame.filename = Some(path.to_owned());
    if is_absolute(path) {
        frame.abs_path = Some(path.to_owned());
    }
}

/// Whether a path is absolute: Unix, Windows (`C:\\`, `C:/`) or UNC.
fn is_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    let windows_drive = bytes.len() > 2
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes[2], b'\\' | b'/');
    path.starts_with('/') || path.starts_with('\\') || windows_drive
}

/// A line or column number; `None` for anything but digits.
fn number(text: &str) -> Option<u64> {
    text.parse().ok()
}

/// A message of several lines, as the runtime printed it, cut to [`MAX_MESSAGE`]; `None` when
/// empty.
fn message(lines: &[&str]) -> Option<String> {
    let mut text = lines.join("\n");
    cut_in_place(&mut text, MAX_MESSAGE);
    (!text.is_empty()).then_some(text)
}

/// The lines of an exception's message (or header) as they are read: kept until they hold
/// [`MAX_MESSAGE`] bytes, the rest skipped, so a message of a million lines costs no more
/// than one of a hundred.
#[derive(Debug, Default)]
struct Lines<'a> {
    lines: Vec<&'a str>,
    bytes: usize,
}

impl<'a> Lines<'a> {
    fn push(&mut self, line: &'a str) {
        if self.bytes < MAX_MESSAGE {
            self.bytes = self.bytes.saturating_add(line.len() + 1);
            self.lines.push(line);
        }
    }
}

impl<'a> FromIterator<&'a str> for Lines<'a> {
    fn from_iter<I: IntoIterator<Item = &'a str>>(lines: I) -> Self {
        let mut kept = Lines::default();
        for line in lines {
            kept.push(line);
        }
        kept
    }
}

impl<'a> Deref for Lines<'a> {
    type Target = [&'a str];

    fn deref(&self) -> &Self::Target {
        &self.lines
    }
}

impl DerefMut for Lines<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.lines
    }
}

/// Reading the parsers' exceptions back, for their tests.
#[cfg(test)]
mod testing {
    use sentry_types::protocol::v7::{Exception, Frame};

    /// (function, module, path, lineno, in_app) of a frame; a missing function is empty.
    pub(super) type Row<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        Option<u64>,
        Option<bool>,
    );

    /// Which of a frame's paths a [`Row`] shows.
    #[derive(Clone, Copy)]
    pub(super) enum Path {
        /// `abs_path`, set for absolute paths only.
        Absolute,
        /// `filename`, set for every path.
        Filename,
    }

    /// The types of a chain's exceptions.
    pub(super) fn types(chain: &[Exception]) -> Vec<&str> {
        chain.iter().map(|e| e.ty.as_str()).collect()
    }

    /// The frames of an exception, oldest first; none without a stack trace.
    pub(super) fn frames(e: &Exception) -> &[Frame] {
        e.stacktrace.as_ref().map_or(&[][..], |s| &s.frames[..])
    }

    pub(super) fn rows(e: &Exception, path: Path) -> Vec<Row<'_>> {
        frames(e)
            .iter()
            .map(|f| {
                let path = match path {
                    Path::Absolute => &f.abs_path,
                    Path::Filename => &f.filename,
                };
                (
                    f.function.as_deref().unwrap_or_default(),
                    f.module.as_deref(),
                    path.as_deref(),
                    f.lineno,
                    f.in_app,
                )
            })
            .collect()
    }

    /// The functions of an exception's frames, oldest first; a missing one is empty.
    pub(super) fn functions(e: &Exception) -> Vec<&str> {
        frames(e)
            .iter()
            .map(|f| f.function.as_deref().unwrap_or_default())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(function: &str, module: &str, path: &str) -> Frame {
        let mut frame = Frame {
            function: (!function.is_empty()).then(|| function.to_owned()),
            module: (!module.is_empty()).then(|| module.to_owned()),
            ..Default::default()
        };
        set_path(&mut frame, path);
        frame
    }

    fn functions(frames: &Frames) -> Vec<String> {
        frames
            .oldest_first()
            .filter_map(|f| f.function.clone())
            .collect()
    }

    #[test]
    fn frames_drop_the_middle_in_both_orders() {
        for order in [Order::NewestFirst, Order::OldestFirst] {
            let mut frames = Frames::new(order);
            for i in 0..1000 {
                frames.push(frame(&i.to_string(), "", ""));
            }
            let names = functions(&frames);
            assert_eq!(names.len(), MAX_FRAMES);
            let (oldest, newest) = match order {
                Order::NewestFirst => ("999", "0"),
                Order::OldestFirst => ("0", "999"),
            };
            assert_eq!(names.first().map(String::as_str), Some(oldest), "{order:?}");
            assert_eq!(names.last().map(String::as_str), Some(newest), "{order:?}");
            // Relay's 50 oldest and 200 newest.
            let kept_oldest = match order {
                Order::NewestFirst => "950",
                Order::OldestFirst => "49",
            };
            assert_eq!(names[KEPT_OLDEST - 1], kept_oldest, "{order:?}");
            let stacktrace = frames.into_stacktrace().expect("frames");
            assert_eq!(stacktrace.frames_omitted, Some((50, 800)));
        }
    }

    #[test]
    fn repeated_frames_are_bounded_and_counted() {
        let mut frames = Frames::new(Order::OldestFirst);
        frames.push(frame("main", "", ""));
        frames.push(frame("recurse", "", ""));
        frames.repeat_last(usize::MAX - 2);
        assert_eq!(frames.len(), MAX_FRAMES);
        assert_eq!(functions(&frames)[0], "main");
        assert_eq!(functions(&frames)[MAX_FRAMES - 1], "recurse");
        // Runs: the repeats are counted, not copied.
        assert_eq!((frames.head.len(), frames.tail.len()), (2, 1));
        let stacktrace = frames.into_stacktrace().expect("frames");
        // usize::MAX read, 250 kept: the others dropped after the oldest 50.
        assert_eq!(stacktrace.frames_omitted, Some((50, u64::MAX - 200)));
    }

    #[test]
    fn runs_fill_the_head_then_the_tail_in_both_orders() {
        for order in [Order::NewestFirst, Order::OldestFirst] {
            let mut frames = Frames::new(order);
            frames.push(frame("first", "", ""));
            frames.repeat_last(300);
            frames.push(frame("last", "", ""));
            let names = functions(&frames);
            assert_eq!(names.len(), MAX_FRAMES, "{order:?}");
            let read_first = names.iter().filter(|n| *n == "first").count();
            assert_eq!(read_first, MAX_FRAMES - 1, "{order:?}");
            let (oldest, newest) = match order {
                Order::NewestFirst => ("last", "first"),
                Order::OldestFirst => ("first", "last"),
            };
            assert_eq!(names.first().map(String::as_str), Some(oldest), "{order:?}");
            assert_eq!(names.last().map(String::as_str), Some(newest), "{order:?}");
            assert_eq!(frames.dropped, 301 + 1 - MAX_FRAMES, "{order:?}");
        }
    }

    #[test]
    fn the_newest_only_without_a_mark() {
        for order in [Order::NewestFirst, Order::OldestFirst] {
            let mut frames = Frames::new(order);
            for i in 0..300 {
                frames.push(frame(&i.to_string(), "", ""));
            }
            frames.keep_newest(100);
            let names = functions(&frames);
            let newest = match order {
                Order::NewestFirst => ["99", "0"],
                Order::OldestFirst => ["200", "299"],
            };
            assert_eq!([names[0].as_str(), names[99].as_str()], newest, "{order:?}");
            assert_eq!(names.len(), 100);
            let stacktrace = frames.into_stacktrace().expect("frames");
            assert_eq!(stacktrace.frames_omitted, None);
        }
        let mut few = Frames::new(Order::NewestFirst);
        few.push(frame("only", "", ""));
        few.keep_newest(100);
        assert_eq!(functions(&few), ["only"]);
    }

    #[test]
    fn the_raised_exception_is_last() {
        assert_eq!(raised_index(&[]), 0);
        let three = vec![Exception::default(); 3];
        assert_eq!(raised_index(&three), 2);
        let java = "java.lang.Error: x\n\tat a.B.c(B.java:1)\nCaused by: java.io.IOException: y\n\t... 1 more\n";
        let chain = parse(java, Some(Runtime::Jvm)).expect("java");
        assert_eq!(chain[raised_index(&chain)].ty, "Error");
    }

    #[test]
    fn message_lines_are_kept_only_up_to_the_bound() {
        let line = "x".repeat(99);
        let lines: Lines = std::iter::repeat_n(line.as_str(), 1_000_000).collect();
        assert_eq!(lines.len(), MAX_MESSAGE / 100 + 1);
        let text = message(&lines).expect("a message");
        assert_eq!(text.len(), MAX_MESSAGE);
    }

    #[test]
    fn frame_texts_are_cut_as_they_come_in() {
        let mut frames = Frames::new(Order::OldestFirst);
        let long = "é".repeat(MAX_FRAME_TEXT);
        frames.push(frame(&long, &long, &format!("/{long}")));
        let kept = frames.oldest_first().last().expect("a frame");
        for text in [&kept.function, &kept.module, &kept.filename, &kept.abs_path] {
            let text = text.as_deref().expect("a text");
            assert!(text.len() <= MAX_FRAME_TEXT && text.len() > MAX_FRAME_TEXT - 4);
        }
    }

    #[test]
    fn push_newer_keeps_the_raised_exception() {
        let mut chain = VecDeque::new();
        let types: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        for ty in &types {
            let frames = Frames::new(Order::NewestFirst);
            push_newer(&mut chain, ty, None, Lines::default(), frames);
        }
        let chain = build_chain(chain);
        assert_eq!(chain.len(), MAX_EXCEPTIONS);
        assert_eq!(chain.first().map(|e| e.ty.as_str()), Some("24"));
        assert_eq!(chain.last().map(|e| e.ty.as_str()), Some("39"));
    }

    #[test]
    fn paths() {
        let cases = [
            ("/app/x.py", Some("/app/x.py")),
            ("C:\\app\\x.cs", Some("C:\\app\\x.cs")),
            ("\\\\host\\x.cs", Some("\\\\host\\x.cs")),
            ("x.py", None),
            ("<string>", None),
            ("é", None),
        ];
        for (path, abs) in cases {
            let frame = frame("", "", path);
            assert_eq!(frame.filename.as_deref(), Some(path));
            assert_eq!(frame.abs_path.as_deref(), abs, "{path}");
        }
    }

    #[test]
    fn include_overrides_the_defaults() {
        let mut java = frame("run", "com.acme.Job", "Job.java");
        java.in_app = Some(false);
        let mut node = frame("Router.handle", "", "/srv/app/router.js");
        node.in_app = Some(false);
        let stdlib = frame("run", "java.lang.Thread", "Thread.java");
        let php = frame("Acme\\Mailer->send", "", "");
        let frames = vec![java, node, stdlib, php];
        let mut exceptions = vec![Exception {
            stacktrace: Some(Stacktrace {
                frames,
                ..Default::default()
            }),
            ..Default::default()
        }];
        let keep = exceptions.clone();
        apply_in_app(&mut exceptions, &[]);
        assert_eq!(exceptions, keep);
        let include = ["com.acme".to_owned(), "/srv/app/".into(), "Acme\\".into()];
        apply_in_app(&mut exceptions, &include);
        let in_app: Vec<_> = exceptions[0]
            .stacktrace
            .as_ref()
            .expect("frames")
            .frames
            .iter()
            .map(|f| f.in_app)
            .collect();
        assert_eq!(in_app, [Some(true), Some(true), Some(false), Some(true)]);
    }

    #[test]
    fn every_runtime_rejects_plain_text() {
        for text in [
            "",
            "\n\n",
            "hello world",
            "Error: something failed",
            "at at at",
        ] {
            assert_eq!(parse(text, None), None, "{text:?}");
            for runtime in Runtime::ALL {
                assert_eq!(parse(text, Some(runtime)), None, "{runtime:?} {text:?}");
            }
        }
    }

    #[test]
    fn the_hint_goes_first_and_the_others_follow() {
        let java = "java.lang.IllegalStateException: boom\n\tat com.acme.A.run(A.java:3)\n";
        for hint in [
            None,
            Some(Runtime::Jvm),
            Some(Runtime::Python),
            Some(Runtime::Node),
        ] {
            let parsed = parse(java, hint).expect("java text");
            assert_eq!(parsed[0].ty, "IllegalStateException", "{hint:?}");
            assert_eq!(parsed[0].module.as_deref(), Some("java.lang"), "{hint:?}");
        }
        assert_eq!(Runtime::of_language("nodejs"), Some(Runtime::Node));
        assert_eq!(Runtime::of_language("erlang"), None);
    }
}
