//! The stack-trace parsers against hostile text of about 4 MiB: CPU time and peak heap of one
//! parse, for every seed of the fuzz corpus (`rust/fuzz/corpus/stacktrace`, one real trace per
//! runtime and shape) made hostile in three ways, and for the shapes reported against earlier
//! parsers. Prints one table; a row over the targets (100 ms of CPU, heap 4x the input) is
//! marked `OVER`, and the run exits 1 when any is.
//!
//!   cargo bench -p sentry-exporter-core --bench hostile
//!
//! Each text is parsed by its runtime's parser (the target applies), and with no hint: every
//! parser tried in turn, the worst case of an exception whose SDK language is not known.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use nix::time::{clock_gettime, ClockId};
use sentry_exporter_core::issues::stacktrace::{parse, Runtime};

const SIZE: usize = 4 << 20;
const MAX_CPU: Duration = Duration::from_millis(100);
/// Peak heap of one parse, as a multiple of its input.
const MAX_HEAP_RATIO: usize = 4;
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/stacktrace");

/// The system allocator, keeping the peak of live bytes since the last [`Peak::reset`].
struct Peak;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; only counters are added.
unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Peak = Peak;

impl Peak {
    fn reset() -> usize {
        let live = LIVE.load(Ordering::Relaxed);
        PEAK.store(live, Ordering::Relaxed);
        live
    }

    fn above(base: usize) -> usize {
        PEAK.load(Ordering::Relaxed).saturating_sub(base)
    }
}

fn thread_cpu() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map(Duration::from)
        .unwrap_or_default()
}

/// CPU time and peak heap of one parse.
fn measure(text: &str, hint: Option<Runtime>) -> (Duration, usize) {
    let base = Peak::reset();
    let start = thread_cpu();
    black_box(parse(black_box(text), hint));
    (thread_cpu() - start, Peak::above(base))
}

fn runtime_of(seed: &str) -> Option<Runtime> {
    let language = match seed.split('-').next()? {
        "java" => "java",
        "node" => "nodejs",
        other => other,
    };
    Runtime::of_language(language)
}

/// The seed again and again.
fn whole(seed: &str) -> String {
    seed.repeat(SIZE / seed.len().max(1) + 1)
}

/// Every line of the seed repeated (a `[Previous line repeated …]`, a `... N more`, a frame, a
/// header: each many times over).
fn lines(seed: &str) -> String {
    let lines: Vec<&str> = seed.lines().collect();
    let times = SIZE / seed.len().max(1) + 1;
    let mut out = String::with_capacity(SIZE + seed.len() * 2);
    for line in lines {
        for _ in 0..times {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Every line of the seed made wide: a run of the character after its indentation,
/// inserted there (paths, names, messages of a MiB).
fn wide(seed: &str) -> String {
    let count = seed.lines().count().max(1);
    let run = SIZE / count;
    let mut out = String::with_capacity(SIZE + seed.len() * 2);
    for line in seed.lines() {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        match body.chars().next() {
            Some(c) if c.is_alphanumeric() => {
                out.push_str(indent);
                out.extend(std::iter::repeat_n(c, run / c.len_utf8()));
                out.push_str(body);
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// The shapes reported against the parsers before they were made linear.
fn reported() -> Vec<(String, Option<Runtime>, String)> {
    let path = "/srv/".to_owned() + &"p".repeat(1 << 20) + ".py";
    let mut python = format!(
        "Traceback (most recent call last):\n  File \"{path}\", line 2, in recurse\n    recurse()\n"
    );
    while python.len() < SIZE {
        python.push_str("  [Previous line repeated 999 more times]\n");
    }
    python.push_str("RecursionError: maximum recursion depth exceeded\n");
    let mut jvm = "java.lang.IllegalStateException: boom\n".to_owned();
    for i in 0..250 {
        jvm.push_str(&format!("\tat com.acme.Core.call{i}(Core.java:{i})\n"));
    }
    jvm.push_str("Caused by: java.io.IOException: closed\n\tat com.acme.Io.read(Io.java:1)\n");
    while jvm.len() < SIZE {
        jvm.push_str("\t... 249 more\n");
    }
    vec![
        (
            "python 1 MiB path, repeat lines".into(),
            Some(Runtime::Python),
            python,
        ),
        ("jvm `... N more` lines".into(), Some(Runtime::Jvm), jvm),
    ]
}

fn main() {
    let mut seeds: Vec<_> = std::fs::read_dir(CORPUS)
        .expect("the fuzz corpus of stacktrace")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    seeds.sort();
    let mut cases = reported();
    for path in seeds {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let seed = String::from_utf8_lossy(&std::fs::read(&path).expect("a seed")).into_owned();
        let hint = runtime_of(name);
        cases.push((format!("{name}, whole"), hint, whole(&seed)));
        cases.push((format!("{name}, lines"), hint, lines(&seed)));
        cases.push((format!("{name}, wide"), hint, wide(&seed)));
    }
    println!("| hostile text | input | its parser: CPU | peak heap | | every parser: CPU |");
    println!("| --- | ---: | ---: | ---: | --- | ---: |");
    let mut over = 0;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mib = |bytes: usize| bytes as f64 / (1 << 20) as f64;
    for (name, hint, text) in &cases {
        let (cpu, heap) = measure(text, *hint);
        let (every, _) = measure(text, None);
        let bad = cpu > MAX_CPU || heap > MAX_HEAP_RATIO * text.len();
        over += usize::from(bad);
        let verdict = if bad { "OVER" } else { "ok" };
        println!(
            "| {name} | {:.1} MiB | {:.1} ms | {:.1} MiB | {verdict} | {:.1} ms |",
            mib(text.len()),
            ms(cpu),
            mib(heap),
            ms(every),
        );
    }
    println!(
        "\ntargets: CPU under {} ms, peak heap under {MAX_HEAP_RATIO}x the input; {over} over",
        MAX_CPU.as_millis()
    );
    if over > 0 {
        std::process::exit(1);
    }
}
