//! A Python frame as sentry-python makes it (`serialize_frame`, `filename_for_module`,
//! `set_in_app_in_frames`), from what a traceback prints of it: its path, line and function.

use std::collections::VecDeque;

use sentry_types::protocol::v7::{Exception, Frame};

/// A frame as read: its path and function (`co_name`, what sentry-python sends as the
/// function too); module, file name and `in_app` follow once every path is known.
pub(super) fn frame(path: &str, lineno: u64, function: &str) -> Frame {
    Frame {
        function: Some(function.to_owned()),
        lineno: Some(lineno),
        abs_path: Some(path.to_owned()),
        ..Default::default()
    }
}

/// Where a file is, for its module and `in_app`.
#[derive(Debug, PartialEq)]
enum Place<'a> {
    /// Under `site-packages` or `dist-packages`: the path after it names the module.
    Package(&'a str),
    /// In the standard library (`.../lib/python3.12/`): the path after it names the module.
    Stdlib(&'a str),
    /// `<frozen runpy>`: a frozen module of the standard library.
    Frozen(&'a str),
    /// `<string>`, `<stdin>`: code without a file.
    Pseudo,
    /// Anything else: the application's.
    App,
}

fn place(path: &str) -> Place<'_> {
    if let Some(name) = path
        .strip_prefix("<frozen ")
        .and_then(|p| p.strip_suffix('>'))
    {
        return Place::Frozen(name);
    }
    if path.starts_with('<') && path.ends_with('>') {
        return Place::Pseudo;
    }
    for dir in ["site-packages", "dist-packages"] {
        if let Some(at) = find_dir(path, dir) {
            return Place::Package(&path[at + dir.len() + 1..]);
        }
    }
    // `/usr/lib/python3.12/json/decoder.py`, `C:\Python312\Lib\json\decoder.py`.
    let mut start = 0;
    while let Some(at) = path[start..].find("python3.").map(|at| at + start) {
        let before = path[..at].trim_end_matches(['/', '\\']);
        let after = &path[at..];
        let version_end = after.find(['/', '\\']);
        if before.ends_with("lib") {
            if let Some(end) = version_end {
                return Place::Stdlib(&after[end + 1..]);
            }
        }
        start = at + 1;
    }
    if let Some(at) = find_dir(path, "Lib") {
        return Place::Stdlib(&path[at + 4..]);
    }
    Place::App
}

/// Where `/dir/` (or `\dir\`) starts in `path`, at its name. Checked after each separator:
/// no substring searcher is set up for every frame's path.
fn find_dir(path: &str, dir: &str) -> Option<usize> {
    let bytes = path.as_bytes();
    let is_separator = |b: &u8| matches!(b, b'/' | b'\\');
    let names = bytes.iter().enumerate().filter(|(_, b)| is_separator(b));
    names.map(|(at, _)| at + 1).find(|&at| {
        bytes[at..].starts_with(dir.as_bytes())
            && bytes.get(at + dir.len()).is_some_and(is_separator)
    })
}

/// The dotted module of a file's path relative to its import root (`requests/api.py`:
/// `requests.api`; a package's `__init__.py`: the package); `None` when a component is not
/// a name Python imports.
fn dotted(relative: &str) -> Option<String> {
    let stem = relative
        .strip_suffix(".py")
        .or_else(|| relative.strip_suffix(".pyc"))?;
    let stem = stem
        .strip_suffix("/__init__")
        .or_else(|| stem.strip_suffix("\\__init__"))
        .unwrap_or(stem);
    let parts: Vec<&str> = stem.split(['/', '\\']).collect();
    let valid = |p: &&str| {
        !p.is_empty()
            && !p.starts_with(|c: char| c.is_ascii_digit())
            && p.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    parts.iter().all(valid).then(|| parts.join("."))
}

/// The file name sentry-python sends (`filename_for_module`): the base name for a module
/// without a dot, else the path from the directory above its top package.
fn filename_for(module: &str, relative: &str) -> String {
    if module.contains('.') {
        relative.to_owned()
    } else {
        base_name(relative).to_owned()
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The directory of a path, with its separator (empty for a bare file name).
fn dir_of(path: &str) -> &str {
    path.rfind(['/', '\\']).map_or("", |at| &path[..=at])
}

/// Sets each frame's `module`, `filename` and `in_app` as sentry-python's `serialize_frame`
/// and `set_in_app_in_frames` do, from the path alone (sentry-python reads `__name__` from the
/// frame's globals and `sys.modules`, which the text does not hold):
/// - a file under `site-packages` or `dist-packages`: the module its path there names
///   (`.../site-packages/requests/api.py`: `requests.api`, file `requests/api.py`), `in_app`
///   false (`_is_external_source`);
/// - the standard library's: the same from the path after `lib/python3.x/`, `in_app` unset
///   (outside the project's root, the SDK's default `os.getcwd()`);
/// - `<frozen importlib._bootstrap>`: module `importlib._bootstrap`, the text as the file, and
///   `in_app` true: sentry-python's `abs_path` is `os.path.abspath` of it, under the working
///   directory, so in the project root (`_is_in_project_root`);
/// - the application's files (`in_app` true, as under the project's root): the script run as
///   `python client.py` is `__main__` (file: its base name), known from its module-level frame
///   (`<module>`) at the bottom of a traceback or under `runpy`'s, or as the file that raised an
///   exception whose class CPython names without a module; every other file's module is
///   its path from the application's root, taken as the directory of its shallowest file
///   (the script's directory is `sys.path[0]`): `shop_errors.py` beside the script is
///   `shop_errors`, `shop/orders.py` is `shop.orders`. A script whose module-level frame is
///   not in the trace (an exception caught inside a function) is named like an imported file:
///   `client`, where sentry-python says `__main__`.
pub(super) fn describe_frames(exceptions: &mut [Exception]) {
    let (root, mains) = layout(exceptions);
    // The latest files described: a trace has few, and a recursion one file many times over.
    let mut described: VecDeque<(String, Described)> = VecDeque::new();
    for exception in exceptions.iter_mut() {
        let Some(stacktrace) = exception.stacktrace.as_mut() else {
            continue;
        };
        for frame in &mut stacktrace.frames {
            let Some(path) = frame.abs_path.as_deref() else {
                continue;
            };
            let known = described.iter().find(|(p, _)| p == path);
            let (module, filename, in_app) = match known {
                Some((_, known)) => known.clone(),
                None => {
                    let new = describe(path, &root, &mains);
                    if described.len() == DESCRIBED_FILES {
                        described.pop_front();
                    }
                    described.push_back((path.to_owned(), new.clone()));
                    new
                }
            };
            frame.module = module;
            frame.filename = filename;
            frame.in_app = in_app;
        }
    }
}

/// The application's root (the directory of its shallowest file) and the scripts run as
/// `__main__`, as `describe_frames` tells them.
fn layout(exceptions: &[Exception]) -> (String, Vec<String>) {
    let stacks = exceptions
        .iter()
        .filter_map(|e| e.stacktrace.as_ref())
        .map(|s| &s.frames);
    let mut mains: Vec<String> = Vec::new();
    let mut root: Option<&str> = None;
    for stack in stacks {
        // A recursion repeats its frame: each path's first frame of a run says it all.
        let mut previous: Option<&str> = None;
        for (i, frame) in stack.iter().enumerate() {
            let path = frame.abs_path.as_deref().unwrap_or_default();
            let repeated = previous == Some(path);
            let runpy = previous.is_some_and(|p| p == "<frozen runpy>" || p.ends_with("runpy.py"));
            previous = Some(path);
            if repeated || place(path) != Place::App {
                continue;
            }
            if frame.function.as_deref() == Some("<module>") && (i == 0 || runpy) {
                add_main(&mut mains, path);
            }
            let dir = dir_of(path);
            let depth = |d: &str| d.bytes().filter(|&b| b == b'/' || b == b'\\').count();
            if root.is_none_or(|r| depth(dir) < depth(r)) {
                root = Some(dir);
            }
        }
    }
    // An exception class printed without a module is `__main__`'s (or a builtin's): the file
    // that raised it is the script, unless a module raised a class of the script's (which it
    // would have to import from `__main__`).
    for exception in exceptions {
        let raiser = exception
            .stacktrace
            .as_ref()
            .and_then(|s| s.frames.last())
            .and_then(|f| f.abs_path.as_deref());
        if let (Some("__main__"), Some(path)) = (exception.module.as_deref(), raiser) {
            if place(path) == Place::App {
                add_main(&mut mains, path);
            }
        }
    }
    (root.unwrap_or_default().to_owned(), mains)
}

/// The files whose description is kept for their next frames.
const DESCRIBED_FILES: usize = 16;
/// The scripts known to run as `__main__`: one, or a few.
const MAINS: usize = 4;

fn add_main(mains: &mut Vec<String>, path: &str) {
    if mains.len() < MAINS && !mains.iter().any(|m| m == path) {
        mains.push(path.to_owned());
    }
}

/// (module, file name, in_app) of a path: see [`describe_frames`].
type Described = (Option<String>, Option<String>, Option<bool>);

/// The [`Described`] of a path.
fn describe(
    path: &str,
    root: &str,
    mains: &[String],
) -> (Option<String>, Option<String>, Option<bool>) {
    let library = |relative: &str, in_app: Option<bool>| match dotted(relative) {
        Some(module) => {
            let filename = filename_for(&module, relative);
            (Some(module), Some(filename), in_app)
        }
        None => (None, Some(base_name(relative).to_owned()), in_app),
    };
    match place(path) {
        Place::Package(relative) => library(relative, Some(false)),
        Place::Stdlib(relative) => library(relative, None),
        Place::Frozen(name) => (Some(name.to_owned()), Some(path.to_owned()), Some(true)),
        Place::Pseudo => {
            let module = (path == "<stdin>").then(|| "__main__".to_owned());
            (module, Some(path.to_owned()), Some(true))
        }
        Place::App if mains.iter().any(|m| m == path) => (
            Some("__main__".to_owned()),
            Some(base_name(path).to_owned()),
            Some(true),
        ),
        Place::App => {
            let relative = path.strip_prefix(root).unwrap_or_else(|| base_name(path));
            match dotted(relative).or_else(|| dotted(base_name(path))) {
                Some(module) => {
                    let relative = if module.contains('.') {
                        relative
                    } else {
                        base_name(path)
                    };
                    (
                        Some(module.clone()),
                        Some(filename_for(&module, relative)),
                        Some(true),
                    )
                }
                None => (None, Some(base_name(path).to_owned()), Some(true)),
            }
        }
    }
}
