//! Calls the `extern "C"` functions as a C caller would.

use super::*;
use std::path::Path;
use std::ptr;
use std::sync::LazyLock;

use sentry_exporter_core::testdata;

/// The config the Go component sends, for a management API that does not listen.
static CONFIG: LazyLock<String> =
    LazyLock::new(|| testdata::config("http://127.0.0.1:1", "secret-token").to_string());

/// The config with `url`, and `set` applied to it.
fn config_with(url: &str, set: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut config = testdata::config(url, "secret-token");
    set(&mut config);
    config.to_string()
}

/// The lines an exporter logged: (level, text).
type Lines = std::sync::Mutex<Vec<(u32, String)>>;

/// A log callback that appends to the [`Lines`] its context points at, each field as
/// ` key=value` after the text.
unsafe extern "C" fn record(
    context: usize,
    level: SentryLogLevel,
    message: *const u8,
    len: usize,
    fields: *const SentryLogField,
    fields_len: usize,
) {
    let mut text = String::from_utf8_lossy(std::slice::from_raw_parts(message, len)).into_owned();
    if fields_len > 0 {
        for field in std::slice::from_raw_parts(fields, fields_len) {
            let key = std::slice::from_raw_parts(field.key, field.key_len);
            let key = String::from_utf8_lossy(key);
            match field.kind {
                SentryLogFieldKind::String => {
                    let value = std::slice::from_raw_parts(field.text, field.text_len);
                    text += &format!(" {key}={}", String::from_utf8_lossy(value));
                }
                SentryLogFieldKind::U64 => text += &format!(" {key}={}", field.number),
            }
        }
    }
    let lines = &*(context as *const Lines);
    lines.lock().unwrap().push((level as u32, text));
}

/// An exporter made from `json` whose log lines land in the returned list (which must outlive
/// it).
fn logging_exporter(json: &str) -> (*mut SentryCore, std::sync::Arc<Lines>) {
    let lines = std::sync::Arc::new(Lines::default());
    let mut out = ptr::null_mut();
    let result = unsafe {
        sentry_exporter_new(
            json.as_ptr(),
            json.len(),
            Some(record),
            std::sync::Arc::as_ptr(&lines) as usize,
            ptr::null_mut(),
            0,
            ptr::null_mut(),
            &mut out,
        )
    };
    assert_eq!(result, SentryResult::Ok);
    (out, lines)
}

fn new_exporter(json: &str) -> Result<*mut SentryCore, (SentryResult, String)> {
    let mut buf = [0u8; 256];
    let mut len = 0usize;
    let mut out = ptr::null_mut();
    let result = unsafe {
        sentry_exporter_new(
            json.as_ptr(),
            json.len(),
            None,
            0,
            buf.as_mut_ptr(),
            buf.len(),
            &mut len,
            &mut out,
        )
    };
    match result {
        SentryResult::Ok => Ok(out),
        other => Err((other, String::from_utf8_lossy(&buf[..len]).into_owned())),
    }
}

/// The end of one export, as its `done` callback got it: the result and the outcome's address.
type Ended = (SentryResult, usize);

/// The `done` of the tests' exports: `token` is a boxed sender of [`Ended`].
unsafe extern "C" fn send_ended(
    token: usize,
    result: SentryResult,
    outcome: *mut SentryExportOutcome,
) {
    let sender = Box::from_raw(token as *mut std::sync::mpsc::Sender<Ended>);
    let _ = sender.send((result, outcome as usize));
}

/// Starts an export of `request` and waits for its end: the start's result when it did not
/// start, else the one `done` got.
fn export(
    exporter: *const SentryCore,
    signal: u32,
    request: &[u8],
) -> Result<*mut SentryExportOutcome, SentryResult> {
    let (sender, ended) = std::sync::mpsc::channel::<Ended>();
    let token = Box::into_raw(Box::new(sender)) as usize;
    let started = unsafe {
        sentry_exporter_export(
            exporter,
            signal,
            request.as_ptr(),
            request.len(),
            2_000,
            Some(send_ended),
            token,
        )
    };
    if started != SentryResult::Ok {
        drop(unsafe { Box::from_raw(token as *mut std::sync::mpsc::Sender<Ended>) });
        return Err(started);
    }
    match ended.recv_timeout(std::time::Duration::from_secs(10)) {
        Ok((SentryResult::Ok, outcome)) => Ok(outcome as *mut SentryExportOutcome),
        Ok((other, outcome)) => {
            assert_eq!(outcome, 0, "no outcome is given with {other:?}");
            Err(other)
        }
        Err(e) => panic!("done was not called: {e}"),
    }
}

#[test]
fn validate_names_the_field_and_fits_the_buffer() {
    let json = &config_with("http://x", |c| c["org_slug"] = "Bad Org".into());
    let mut buf = [0u8; 8];
    let mut len = 99usize;
    let result = unsafe {
        sentry_config_validate(
            json.as_ptr(),
            json.len(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut len,
        )
    };
    assert_eq!(result, SentryResult::InvalidConfig);
    assert_eq!(len, 8);
    assert_eq!(&buf[..len], b"org_slug");

    let result = unsafe {
        sentry_config_validate(
            CONFIG.as_ptr(),
            CONFIG.len(),
            ptr::null_mut(),
            0,
            ptr::null_mut(),
        )
    };
    assert_eq!(result, SentryResult::Ok);
}

#[test]
fn null_arguments_are_refused() {
    unsafe {
        assert_eq!(
            sentry_config_validate(ptr::null(), 3, ptr::null_mut(), 0, ptr::null_mut()),
            SentryResult::NullArgument
        );
        assert_eq!(
            sentry_exporter_new(
                CONFIG.as_ptr(),
                CONFIG.len(),
                None,
                0,
                ptr::null_mut(),
                0,
                ptr::null_mut(),
                ptr::null_mut()
            ),
            SentryResult::NullArgument
        );
        assert_eq!(
            sentry_exporter_start(ptr::null()),
            SentryResult::NullArgument
        );
        assert_eq!(
            sentry_exporter_shutdown(ptr::null()),
            SentryResult::NullArgument
        );
        assert_eq!(
            sentry_exporter_export(ptr::null(), 0, ptr::null(), 0, 0, Some(send_ended), 0),
            SentryResult::NullArgument
        );
        sentry_exporter_free(ptr::null_mut());
        sentry_export_outcome_free(ptr::null_mut());
    }
}

#[test]
fn bad_config_gives_a_message_without_the_token() {
    let json = &config_with("sentry.io", |_| {});
    let (result, message) = new_exporter(json).unwrap_err();
    assert_eq!(result, SentryResult::InvalidConfig);
    assert!(
        message.starts_with("invalid configuration: url:"),
        "{message}"
    );
    assert!(!message.contains("secret-token"));
}

#[test]
fn lifecycle_is_safe_in_any_order() {
    let exporter = new_exporter(&CONFIG).unwrap();
    unsafe {
        assert_eq!(
            export(exporter, 0, &[]).unwrap_err(),
            SentryResult::NotStarted
        );
        assert_eq!(sentry_exporter_start(exporter), SentryResult::Ok);
        assert_eq!(sentry_exporter_start(exporter), SentryResult::Ok);

        let outcome = export(exporter, 0, &[]).unwrap();
        assert_eq!((*outcome).items_sent, 0);
        assert_eq!((*outcome).retry_request.len, 0);
        sentry_export_outcome_free(outcome);

        assert_eq!(
            export(exporter, 7, &[]).unwrap_err(),
            SentryResult::InvalidSignal
        );
        assert_eq!(
            export(exporter, 1, &[0x0a, 0x05]).unwrap_err(),
            SentryResult::InvalidRequest
        );

        assert_eq!(sentry_exporter_shutdown(exporter), SentryResult::Ok);
        assert_eq!(sentry_exporter_shutdown(exporter), SentryResult::Ok);
        assert_eq!(
            export(exporter, 0, &[]).unwrap_err(),
            SentryResult::ShutDown
        );
        assert_eq!(sentry_exporter_start(exporter), SentryResult::ShutDown);
        sentry_exporter_free(exporter);
    }
}

#[test]
fn free_without_start_or_shutdown_is_fine() {
    let exporter = new_exporter(&CONFIG).unwrap();
    unsafe { sentry_exporter_free(exporter) };
}

#[test]
fn unreachable_sentry_hands_the_data_back_for_retry() {
    use sentry_exporter_core::testdata::{traces_request, Resource};
    let request = traces_request(&[Resource::service("api", 1)]);
    let request = &request[..];
    let exporter = new_exporter(&CONFIG).unwrap();
    unsafe {
        assert_eq!(sentry_exporter_start(exporter), SentryResult::Ok);
        let outcome = export(exporter, 0, request).unwrap();
        let o = &*outcome;
        assert_eq!(
            (o.items_sent, o.items_dropped, o.items_retryable),
            (0, 0, 1)
        );
        assert_eq!(
            std::slice::from_raw_parts(o.retry_request.ptr, o.retry_request.len),
            request
        );
        let message =
            std::str::from_utf8(std::slice::from_raw_parts(o.message.ptr, o.message.len)).unwrap();
        assert!(
            message.contains("project api: looking up the project failed"),
            "{message}"
        );
        sentry_export_outcome_free(outcome);
        sentry_exporter_free(exporter);
    }
}

#[test]
fn logs_reach_the_callback_with_their_level() {
    let json = &config_with("https://127.0.0.1:1", |c| {
        c["http"]["tls"]["insecure_skip_verify"] = true.into()
    });
    let (out, lines) = logging_exporter(json);
    unsafe { sentry_exporter_free(out) };
    let seen = lines.lock().unwrap();
    assert!(seen
        .iter()
        .any(|(level, text)| *level == SentryLogLevel::Warn as u32
            && text.contains("insecure_skip_verify")));
}

#[test]
fn log_fields_reach_the_callback() {
    let (exporter, lines) = logging_exporter(&CONFIG);
    let logger = unsafe { &*exporter }.core.logger().clone();
    logger.log_with(
        Level::Warn,
        "project p: 3 spans dropped",
        &[
            Field::str("project", "p"),
            Field::str("reason", "secret-token refused"),
            Field::u64("count", 3),
        ],
    );
    unsafe { sentry_exporter_free(exporter) };
    let seen = lines.lock().unwrap();
    assert!(
        seen.iter()
            .any(|(level, text)| *level == SentryLogLevel::Warn as u32
                && text.starts_with("project p: 3 spans dropped project=p reason=")
                && text.ends_with(" count=3")
                && !text.contains("secret-token")),
        "{seen:?}"
    );
}

/// The exporter's telemetry, as `sentry_exporter_telemetry` writes it.
fn telemetry(exporter: *const SentryCore) -> serde_json::Value {
    let mut json = SentryBytes {
        ptr: ptr::null(),
        len: 0,
    };
    unsafe {
        assert_eq!(
            sentry_exporter_telemetry(exporter, &mut json),
            SentryResult::Ok
        );
        let parsed = serde_json::from_slice(std::slice::from_raw_parts(json.ptr, json.len));
        sentry_bytes_free(json);
        parsed.unwrap()
    }
}

#[test]
fn telemetry_is_json_listing_every_metric() {
    let exporter = new_exporter(&CONFIG).unwrap();
    let parsed = telemetry(exporter);
    unsafe {
        let names: Vec<&str> = parsed["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"items_dropped") && names.contains(&"projects_cached"),
            "{names:?}"
        );
        assert_eq!(
            sentry_exporter_telemetry(exporter, ptr::null_mut()),
            SentryResult::NullArgument
        );
        let mut unused = SentryBytes {
            ptr: ptr::null(),
            len: 0,
        };
        assert_eq!(
            sentry_exporter_telemetry(ptr::null(), &mut unused),
            SentryResult::NullArgument
        );
        sentry_exporter_free(exporter);
    }
}

/// The traces items the exporter counted as dropped for `reason` (its telemetry).
fn dropped(exporter: *const SentryCore, reason: &str) -> u64 {
    let parsed = telemetry(exporter);
    let metrics = parsed["metrics"].as_array().unwrap();
    let items_dropped = metrics
        .iter()
        .find(|m| m["name"] == "items_dropped")
        .unwrap();
    let attributes = serde_json::json!({"signal": "traces", "reason": reason});
    let points = items_dropped["points"].as_array().unwrap().iter();
    points
        .filter(|p| p["attributes"] == attributes)
        .map(|p| p["value"].as_u64().unwrap())
        .sum()
}

/// The health problem as text; `None` when the exporter reports none.
fn health(exporter: *const SentryCore) -> Option<String> {
    let mut problem = SentryBytes {
        ptr: ptr::null(),
        len: 99,
    };
    unsafe {
        assert_eq!(
            sentry_exporter_health(exporter, &mut problem),
            SentryResult::Ok
        );
        if problem.len == 0 {
            assert!(problem.ptr.is_null(), "no problem is NULL bytes");
            return None;
        }
        let text = std::str::from_utf8(std::slice::from_raw_parts(problem.ptr, problem.len))
            .expect("UTF-8")
            .to_owned();
        sentry_bytes_free(problem);
        Some(text)
    }
}

#[test]
fn health_names_the_problem_once_sentry_cannot_be_used() {
    // CONFIG's management API does not listen: the start's preload fails.
    let exporter = new_exporter(&CONFIG).unwrap();
    assert_eq!(health(exporter), None, "nothing is known before start");
    unsafe { assert_eq!(sentry_exporter_start(exporter), SentryResult::Ok) };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let problem = loop {
        if let Some(problem) = health(exporter) {
            break problem;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no health problem reported"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(problem.starts_with("Sentry management API"), "{problem}");
    assert!(!problem.contains("secret-token"), "{problem}");
    unsafe {
        let mut unused = SentryBytes {
            ptr: ptr::null(),
            len: 7,
        };
        assert_eq!(
            sentry_exporter_health(ptr::null(), &mut unused),
            SentryResult::NullArgument
        );
        assert_eq!(unused.len, 7, "nothing is written on failure");
        assert_eq!(
            sentry_exporter_health(exporter, ptr::null_mut()),
            SentryResult::NullArgument
        );
        // Still answers once shut down, until freed.
        assert_eq!(sentry_exporter_shutdown(exporter), SentryResult::Ok);
        assert!(health(exporter).is_some());
        sentry_exporter_free(exporter);
    }
}

/// The request that makes a core built with `fault-injection` panic in `Core::export`, outside
/// the per-project work, where only the C boundary catches the panic. It is no OTLP protobuf
/// message (field 12 with the invalid wire type 6).
const FAULT_INJECTION_PANIC_REQUEST: &[u8] = b"fault-injection-panic";

/// A panic inside the core's export reaches the boundary of `sentry_exporter_export`: its
/// `done` gets `PANIC` and no outcome, logs the panic's message, and the exporter keeps working (its locks tolerate
/// poisoning, the export in flight is no longer counted, so shutdown keeps its bound).
#[cfg(feature = "fault-injection")]
#[test]
fn a_panic_in_the_core_is_caught_at_the_c_boundary_and_the_exporter_stays_usable() {
    let (exporter, lines) = logging_exporter(&CONFIG);
    unsafe { assert_eq!(sentry_exporter_start(exporter), SentryResult::Ok) };

    for signal in [SentrySignal::Traces, SentrySignal::Logs] {
        let result = export(exporter, signal as u32, FAULT_INJECTION_PANIC_REQUEST);
        assert_eq!(result, Err(SentryResult::Panic), "{signal:?}");
        // Usable at once: an export, the counters, the health.
        let outcome = export(exporter, signal as u32, &[]).expect("an export after the panic");
        unsafe { sentry_export_outcome_free(outcome) };
    }
    let panics: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|(level, text)| {
            *level == SentryLogLevel::Error as u32 && text.contains("injected panic")
        })
        .map(|(_, text)| text.clone())
        .collect();
    assert_eq!(
        panics.len(),
        2,
        "one error line per caught panic: {panics:?}"
    );
    assert!(
        panics[0].starts_with("sentry_exporter_export: the core panicked (caught at the C boundary): injected panic (fault-injection)"),
        "{}",
        panics[0]
    );
    let mut json = SentryBytes {
        ptr: ptr::null(),
        len: 0,
    };
    unsafe {
        assert_eq!(
            sentry_exporter_telemetry(exporter, &mut json),
            SentryResult::Ok
        );
        sentry_bytes_free(json);
    }
    let _ = health(exporter);

    // Shutdown does not wait for the panicked exports as if they were still in flight.
    let started = std::time::Instant::now();
    unsafe { assert_eq!(sentry_exporter_shutdown(exporter), SentryResult::Ok) };
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        started.elapsed()
    );
    // Later calls are refused cleanly.
    assert_eq!(
        export(exporter, 0, FAULT_INJECTION_PANIC_REQUEST).unwrap_err(),
        SentryResult::ShutDown
    );
    unsafe { sentry_exporter_free(exporter) };
}

/// Without `fault-injection` (the release library) the same bytes are an ordinary bad request.
#[cfg(not(feature = "fault-injection"))]
#[test]
fn the_fault_injection_request_is_an_invalid_request_without_the_feature() {
    let exporter = new_exporter(&CONFIG).unwrap();
    unsafe {
        assert_eq!(sentry_exporter_start(exporter), SentryResult::Ok);
        assert_eq!(
            export(exporter, 0, FAULT_INJECTION_PANIC_REQUEST).unwrap_err(),
            SentryResult::InvalidRequest
        );
        sentry_exporter_free(exporter);
    }
}

#[test]
fn a_panic_becomes_an_error_code() {
    assert_eq!(
        guard::<SentryResult>(|| panic!("injected")),
        SentryResult::Panic
    );
    assert_eq!(guard(|| SentryResult::Ok), SentryResult::Ok);
    // The `_free` functions return nothing, panic or not.
    guard::<()>(|| panic!("injected"));
}

/// What `ffi_boundary!` does with each kind of argument, on a stand-in entry point.
#[test]
fn the_boundary_checks_each_argument_before_the_body() {
    unsafe fn entry(
        exporter: *const SentryCore,
        request: *const u8,
        request_len: usize,
        out: *mut u64,
    ) -> SentryResult {
        ffi_boundary! { entry:
            exporter exporter;
            bytes request, request_len;
            non_null out;
            => {
                let _: &SentryCore = exporter;
                if request == b"panic" {
                    panic!("asked to");
                }
                *out = request.len() as u64;
                SentryResult::Ok
            }
        }
    }
    /// The name, whether the exporter is given, the bytes, whether the output is given, the
    /// result and the output wanted.
    struct Case(
        &'static str,
        bool,
        (*const u8, usize),
        bool,
        SentryResult,
        u64,
    );
    let abc = b"abc".as_ptr();
    #[rustfmt::skip]
    let table = [
        Case("all given", true, (abc, 3), true, SentryResult::Ok, 3),
        Case("no bytes need no pointer", true, (ptr::null(), 0), true, SentryResult::Ok, 0),
        Case("NULL exporter", false, (abc, 3), true, SentryResult::NullArgument, 99),
        Case("NULL bytes", true, (ptr::null(), 3), true, SentryResult::NullArgument, 99),
        Case("NULL output", true, (abc, 3), false, SentryResult::NullArgument, 99),
        Case("a panic in the body", true, (b"panic".as_ptr(), 5), true, SentryResult::Panic, 99),
    ];
    let exporter = new_exporter(&CONFIG).unwrap();
    for Case(name, with_exporter, (request, request_len), with_out, want, want_out) in table {
        let mut out = 99u64;
        let got = unsafe {
            entry(
                if with_exporter { exporter } else { ptr::null() },
                request,
                request_len,
                if with_out { &mut out } else { ptr::null_mut() },
            )
        };
        assert_eq!((got, out), (want, want_out), "{name}");
    }
    unsafe { sentry_exporter_free(exporter) };
}

#[test]
fn a_panic_caught_with_an_exporter_is_logged_with_its_message() {
    let (out, lines) = logging_exporter(&CONFIG);
    let exporter = unsafe { &*out };
    assert_eq!(
        guard_logged(exporter, "sentry_x", || SentryResult::ShutDown),
        SentryResult::ShutDown
    );
    assert_eq!(
        guard_logged::<SentryResult>(exporter, "sentry_x", || panic!("injected {}", 42)),
        SentryResult::Panic
    );
    assert_eq!(
        guard_logged::<SentryResult>(exporter, "sentry_y", || std::panic::panic_any(7u8)),
        SentryResult::Panic
    );
    unsafe { sentry_exporter_free(out) };
    let seen = lines.lock().unwrap();
    let errors: Vec<&str> = seen
        .iter()
        .filter(|(level, _)| *level == SentryLogLevel::Error as u32)
        .map(|(_, text)| text.as_str())
        .collect();
    assert_eq!(
        errors,
        [
            "sentry_x: the core panicked (caught at the C boundary): injected 42",
            "sentry_y: the core panicked (caught at the C boundary): a panic without a message",
        ]
    );
}

#[test]
fn write_message_cuts_at_a_character_boundary() {
    let mut buf = [0u8; 4];
    let mut len = 0;
    unsafe { write_message("abcé", buf.as_mut_ptr(), buf.len(), &mut len) };
    assert_eq!(&buf[..len], b"abc");
}

/// The header cbindgen generates from this crate now.
fn generated_header() -> Vec<u8> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen")
        .write(&mut generated);
    generated
}

/// The checked-in header must be what cbindgen generates now.
/// `UPDATE_HEADER=1 cargo test -p sentry-exporter-ffi header` rewrites it.
#[test]
fn header_is_current() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header = crate_dir.join("../../include/sentry_exporter.h");
    let generated = generated_header();
    if std::env::var_os("UPDATE_HEADER").is_some() {
        std::fs::write(&header, &generated).expect("write header");
    }
    let checked_in = std::fs::read(&header).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/sentry_exporter.h is stale: run `make header` and commit it"
    );
}

/// The signals of the header's `enum SentrySignal`, in lowercase (`traces`, ...): every variant,
/// however many there are.
fn header_signals(header: &str) -> Vec<String> {
    let start = header
        .find("enum SentrySignal\n")
        .expect("the header declares enum SentrySignal");
    let body = &header[start..];
    let body = &body[body.find('{').expect("the enum's body") + 1..];
    let body = &body[..body.find('}').expect("the end of the enum's body")];
    body.lines()
        .filter_map(|line| line.trim().strip_prefix("SENTRY_SIGNAL_"))
        .map(|variant| {
            let name = variant.split([' ', '=', ',']).next().unwrap_or_default();
            name.to_lowercase().replace('_', " ")
        })
        .collect()
}

/// Each function of the header that takes a `signal`, with its doc comment: (name, doc).
fn calls_taking_a_signal(header: &str) -> Vec<(String, String)> {
    let mut calls = Vec::new();
    let mut rest = header;
    while let Some(at) = rest.find("uint32_t signal") {
        let before = &rest[..at];
        let doc_end = before
            .rfind("*/")
            .expect("every function has a doc comment");
        let doc_start = before[..doc_end]
            .rfind("/*")
            .expect("the doc comment's start");
        let declaration = &before[doc_end + 2..];
        let name = declaration[..declaration.find('(').expect("a function")]
            .split_whitespace()
            .last()
            .unwrap_or_default();
        calls.push((name.to_owned(), before[doc_start..doc_end].to_owned()));
        rest = &rest[at + "uint32_t signal".len()..];
    }
    calls
}

/// Whether `text` holds `word` (any case) not inside a longer word.
fn names(text: &str, word: &str) -> bool {
    let text = text.to_lowercase();
    text.match_indices(word).any(|(at, _)| {
        let alphanumeric = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        !alphanumeric(text[..at].chars().next_back())
            && !alphanumeric(text[at + word.len()..].chars().next())
    })
}

/// A signal added to `SentrySignal` must be named in the doc of every call that takes a
/// `signal` (as in the header C callers read), and each such call in the enum's doc: the doc of
/// `sentry_exporter_export` said "traces or logs" long after it took metrics too.
#[test]
fn every_signal_is_named_in_the_doc_of_each_call_taking_one() {
    let header = String::from_utf8(generated_header()).expect("the header is UTF-8");
    let signals = header_signals(&header);
    assert!(
        signals.len() >= 3 && signals.contains(&"metrics".to_owned()),
        "the test did not read the signals of enum SentrySignal: {signals:?}"
    );
    let calls = calls_taking_a_signal(&header);
    let called: Vec<&str> = calls.iter().map(|(name, _)| name.as_str()).collect();
    assert!(
        called.contains(&"sentry_exporter_export") && called.contains(&"sentry_exporter_route"),
        "the test did not find the calls taking a signal: {called:?}"
    );
    let enum_doc = {
        let at = header.find("enum SentrySignal\n").unwrap();
        let doc_start = header[..at]
            .rfind("/*")
            .expect("enum SentrySignal has a doc comment");
        &header[doc_start..at]
    };
    for (call, doc) in &calls {
        for signal in &signals {
            assert!(
                names(doc, signal),
                "the doc of {call} does not name the signal {signal:?} (a variant of \
                 SentrySignal): say what it does with it, in rust/ffi/src/lib.rs, and run \
                 `make header`; the doc is:\n{doc}"
            );
        }
        assert!(
            enum_doc.contains(call.as_str()),
            "the doc of SentrySignal does not name {call}, which takes a signal:\n{enum_doc}"
        );
    }
}

#[test]
fn names_finds_whole_words_only() {
    assert!(names(
        "traces (`ExportTraceServiceRequest`), logs or Metrics",
        "metrics"
    ));
    assert!(!names("`ExportMetricsServiceRequest`", "metrics"));
    assert!(!names("tracesets", "traces"));
}

#[test]
fn the_global_allocator_counts_the_core_heap() {
    let before = sentry_exporter_core::heap::stats();
    let block = std::hint::black_box(vec![1u8; 1 << 20]);
    let during = sentry_exporter_core::heap::stats();
    drop(block);
    assert!(during.allocations > before.allocations);
    assert!(during.allocated_bytes >= before.allocated_bytes + (1 << 20));
    assert!(during.live_bytes >= 1 << 20, "{during:?}");
}

#[test]
fn route_tells_each_resource_its_project_and_counts_the_dropped() {
    use sentry_exporter_core::testdata::{traces_request, Resource};
    // The resources alone, as the host sends them, with their items' counts.
    let request = traces_request(&[
        Resource::service("api", 0),
        Resource::without_service(0),
        Resource::service("web", 0),
        Resource::service("api", 0),
    ]);
    let items: [u64; 4] = [2, 3, 1, 4];
    let exporter = new_exporter(&CONFIG).unwrap();
    let route_counted = |signal: u32, request: &[u8], items: &[u64]| {
        let mut out = ptr::null_mut();
        let result = unsafe {
            sentry_exporter_route(
                exporter,
                signal,
                request.as_ptr(),
                request.len(),
                items.as_ptr(),
                items.len(),
                &mut out,
            )
        };
        (result, out)
    };
    let route = |signal: u32, request: &[u8]| route_counted(signal, request, &items);
    unsafe {
        assert_eq!(route(0, &request).0, SentryResult::NotStarted);
        assert_eq!(sentry_exporter_start(exporter), SentryResult::Ok);
        assert_eq!(
            route_counted(0, &request, &items[..3]).0,
            SentryResult::InvalidRequest,
            "a count missing"
        );
        let (result, routing) = route(0, &request);
        assert_eq!(result, SentryResult::Ok);
        let r = &*routing;
        let resources = std::slice::from_raw_parts(r.resource_projects, r.resources_len);
        assert_eq!(resources, [0, SENTRY_UNROUTED, 1, 0]);
        let projects: Vec<&[u8]> = std::slice::from_raw_parts(r.projects, r.projects_len)
            .iter()
            .map(|p| std::slice::from_raw_parts(p.ptr, p.len))
            .collect();
        assert_eq!(projects, [&b"api"[..], b"web"]);
        // Sentry cannot be reached: neither project is known, both share a queue.
        let own = std::slice::from_raw_parts(r.project_own_queue, r.projects_len);
        assert_eq!(own, [0, 0]);
        sentry_routing_free(routing);
        assert_eq!(dropped(exporter, "missing_attribute"), 3);

        // Queues held from before a restart are kept: web's now.
        let mut kept = SentryBytes {
            ptr: ptr::null(),
            len: 0,
        };
        let held = b"web\nNot A Slug\n";
        let result = sentry_exporter_restore_queues(exporter, held.as_ptr(), held.len(), &mut kept);
        assert_eq!(result, SentryResult::Ok);
        assert_eq!(std::slice::from_raw_parts(kept.ptr, kept.len), b"web");
        sentry_bytes_free(kept);
        let (_, routing) = route(0, &request);
        let r = &*routing;
        let own = std::slice::from_raw_parts(r.project_own_queue, r.projects_len);
        assert_eq!(own, [0, 1]);
        sentry_routing_free(routing);

        let (result, routing) = route_counted(2, &[], &[]);
        assert_eq!(result, SentryResult::Ok);
        let r = &*routing;
        assert_eq!((r.resources_len, r.projects_len), (0, 0));
        assert!(r.resource_projects.is_null() && r.projects.is_null());
        sentry_routing_free(routing);

        assert_eq!(route(7, &request).0, SentryResult::InvalidSignal);
        assert_eq!(route(1, &[0x0a, 0x05]).0, SentryResult::InvalidRequest);
        sentry_routing_free(ptr::null_mut());
        sentry_exporter_free(exporter);
    }
}

#[test]
fn no_export_starts_while_the_cores_heap_is_over_its_limit() {
    use sentry_exporter_core::testdata::{traces_request, Resource};
    let request = traces_request(&[Resource::service("api", 1)]);
    let exporter = new_exporter(&config_with("http://127.0.0.1:1", |c| {
        c["core_memory_limit_mib"] = 64.into()
    }))
    .unwrap();
    unsafe {
        assert_eq!(sentry_exporter_start(exporter), SentryResult::Ok);
        // Held by the core's allocator, as an export's body or owed events would be.
        let held = vec![1u8; 128 << 20];
        assert_eq!(
            export(exporter, 0, &request).unwrap_err(),
            SentryResult::MemoryFull
        );
        drop(held);
        // Sentry does not listen: the export starts, and hands the span back to retry.
        let outcome = export(exporter, 0, &request).unwrap();
        assert_eq!((*outcome).items_retryable, 1);
        sentry_export_outcome_free(outcome);
        sentry_exporter_free(exporter);
    }
}
