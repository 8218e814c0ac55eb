//! C ABI of the sentry exporter core, linked into the Go component as a static
//! library. All `unsafe` code of the project lives here. Every entry point's body is
//! one [`ffi_boundary!`], which checks its pointers for NULL and catches any panic,
//! so none crosses the boundary; outputs come last and are written only on success;
//! whatever Rust hands out is freed by a Rust function.

use std::alloc::{GlobalAlloc, Layout, System};
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::time::Duration;

use sentry_exporter_core::heap;
use sentry_exporter_core::lifecycle::Finished;
use sentry_exporter_core::log::panic_message;
use sentry_exporter_core::slug::Slug;
use sentry_exporter_core::{
    Core, CoreError, ExportOutcome, Field, FieldValue, Level, Logger, Routing, Signal,
};

/// Counts the core's heap use for the `core_heap_bytes` and `core_allocations` metrics.
#[global_allocator]
static HEAP: CountingAllocator = CountingAllocator;

/// The system allocator, reporting what passes through it to [`heap`].
struct CountingAllocator;

// SAFETY: every call is forwarded unchanged to `System`; only counters are added.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            heap::allocated(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            heap::allocated(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        heap::freed(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            heap::freed(layout.size());
            heap::allocated(new_size);
        }
        new
    }
}

/// Result of every call.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentryResult {
    Ok = 0,
    NullArgument = 1,
    InvalidConfig = 2,
    /// The bytes are not an OTLP protobuf request: retrying will not help.
    InvalidRequest = 3,
    NotStarted = 4,
    ShutDown = 5,
    RuntimeFailed = 6,
    /// A bug: Rust panicked; the panic was caught.
    Panic = 7,
    /// The signal number is not a `SentrySignal`.
    InvalidSignal = 8,
    /// The core's heap is over its limit (`core_memory_limit_mib`): the export did not start;
    /// try again later.
    MemoryFull = 9,
}

/// Values of the `signal` argument of `sentry_exporter_export` and `sentry_exporter_route`:
/// the kind of OTLP request they are handed.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentrySignal {
    /// Traces: an `ExportTraceServiceRequest`.
    Traces = 0,
    /// Logs: an `ExportLogsServiceRequest`.
    Logs = 1,
    /// Metrics: an `ExportMetricsServiceRequest` (sent to Sentry as trace metrics).
    Metrics = 2,
}

/// Levels passed to the log callback.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentryLogLevel {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

/// An exporter: config, endpoint cache, and (once started) its own runtime.
pub struct SentryCore {
    core: Core,
}

/// Bytes owned by Rust, valid until the struct holding them is freed.
#[repr(C)]
pub struct SentryBytes {
    pub ptr: *const u8,
    pub len: usize,
}

/// What happened to one batch. Freed with `sentry_export_outcome_free`.
#[repr(C)]
pub struct SentryExportOutcome {
    /// Items accepted by Sentry.
    pub items_sent: u64,
    /// Items dropped for good (routing, refused by Sentry); already logged.
    pub items_dropped: u64,
    /// Items in `retry_request`.
    pub items_retryable: u64,
    /// Delay before retrying, 0 when none is known.
    pub retry_after_ms: u64,
    /// OTLP protobuf request of the same signal with only the items to retry; empty when none.
    pub retry_request: SentryBytes,
    /// UTF-8 summary of what was dropped or must be retried; empty when all was sent.
    pub message: SentryBytes,
}

/// The value of `SentryRouting.resource_projects` for a resource that goes to no project.
pub const SENTRY_UNROUTED: u32 = u32::MAX;

/// Where each resource of one request goes. Freed with `sentry_routing_free`.
#[repr(C)]
pub struct SentryRouting {
    /// For each resource of the request, in order: the index in `projects` of its project, or
    /// `SENTRY_UNROUTED` when it is dropped. `resources_len` entries; NULL when 0.
    pub resource_projects: *const u32,
    pub resources_len: usize,
    /// The projects' slugs (UTF-8), in order of first appearance. `projects_len` entries; NULL
    /// when 0.
    pub projects: *const SentryBytes,
    pub projects_len: usize,
    /// For each project: 1 when its data goes to a queue of its own, 0 when to the queue the
    /// other projects share (projects not known to exist, and those past
    /// `max_project_queues`). `projects_len` entries; NULL when 0.
    pub project_own_queue: *const u8,
}

/// What a [`SentryLogField`] holds.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentryLogFieldKind {
    /// UTF-8 text in `text`, `text_len`.
    String = 0,
    /// A number in `number`.
    U64 = 1,
}

/// One structured field of a log line (`project`, `status`, `reason`, `count`, ...). Borrowed:
/// it and the bytes it points at are valid only during the callback call that received it.
#[repr(C)]
#[derive(Debug)]
pub struct SentryLogField {
    /// UTF-8 key, `key_len` bytes, not NUL-terminated.
    pub key: *const u8,
    pub key_len: usize,
    pub kind: SentryLogFieldKind,
    /// UTF-8 value, `text_len` bytes, not NUL-terminated, when `kind` is STRING; NULL and 0
    /// otherwise.
    pub text: *const u8,
    pub text_len: usize,
    /// The value when `kind` is U64; 0 otherwise.
    pub number: u64,
}

/// Receives the core's log lines: a level, a UTF-8 message (`message_len` bytes, not
/// NUL-terminated) and `fields_len` structured fields at `fields` (NULL when 0), all borrowed
/// for the call only. Called from Rust threads, possibly at the same time from several; never
/// after `sentry_exporter_free` returns.
pub type SentryLogCallback = Option<
    unsafe extern "C" fn(
        context: usize,
        level: SentryLogLevel,
        message: *const u8,
        message_len: usize,
        fields: *const SentryLogField,
        fields_len: usize,
    ),
>;

/// What an entry point returns when an argument is NULL or its body panicked: the result
/// codes for functions that return a [`SentryResult`]; nothing for the `_free` functions
/// (which ignore NULL). rustls-ffi's `NullParameterOrDefault` and `PanicOrDefault`.
trait BoundaryResult {
    fn null_argument() -> Self;
    fn panicked() -> Self;
}

impl BoundaryResult for SentryResult {
    fn null_argument() -> Self {
        SentryResult::NullArgument
    }

    fn panicked() -> Self {
        SentryResult::Panic
    }
}

impl BoundaryResult for () {
    fn null_argument() -> Self {}

    fn panicked() -> Self {}
}

/// The boundary of every `extern "C"` entry point (rustls-ffi's `ffi_panic_boundary!` with
/// its NULL checks): no panic crosses it and no NULL pointer reaches the body.
///
/// ```text
/// ffi_boundary! { sentry_exporter_export:   // the entry point, named in logged panics
///     exporter exporter;                     // optional: `*const SentryCore`, rebound
///                                            // as `&SentryCore`
///     bytes request, request_len;            // any number: `(ptr, len)` rebound as a slice
///                                            // (NULL allowed when `len` is 0)
///     non_null outcome_out;                  // any number: pointers that must not be NULL
///     => { body }
/// }
/// ```
///
/// A NULL argument returns [`BoundaryResult::null_argument`] without running the body. The
/// checks and the body run under [`guard`]; with an exporter, the body runs under
/// [`guard_logged`], so that a panic's message reaches the exporter's logger. The body may
/// `return` early with its own result. Expanded inside an `unsafe extern "C" fn`, whose
/// safety contract covers the pointer reads of the checks.
macro_rules! ffi_boundary {
    (
        $entry:ident:
        $(exporter $exporter:ident;)?
        $(bytes $bytes:ident, $len:ident;)*
        $(non_null $ptr:ident;)*
        => $body:block
    ) => {
        guard(|| {
            $(
                let Some($exporter) = $exporter.as_ref() else {
                    return BoundaryResult::null_argument();
                };
            )?
            $(
                let Some($bytes) = borrow($bytes, $len) else {
                    return BoundaryResult::null_argument();
                };
            )*
            $(
                if $ptr.is_null() {
                    return BoundaryResult::null_argument();
                }
            )*
            ffi_boundary!(@body $entry $(, $exporter)? => $body)
        })
    };
    (@body $entry:ident => $body:block) => {
        $body
    };
    (@body $entry:ident, $exporter:ident => $body:block) => {
        guard_logged($exporter, stringify!($entry), || $body)
    };
}

/// Runs an entry point's body, turning a panic into [`BoundaryResult::panicked`]
/// (`SentryResult::Panic`). Used by [`ffi_boundary!`].
fn guard<R: BoundaryResult>(body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| R::panicked())
}

/// As [`guard`], for the body of an entry point that has an exporter: a caught panic is also
/// logged at error level through the exporter's logger, with its message, so that the host
/// sees more than the bare `SentryResult::Panic`. The exporter stays usable: the core's locks
/// tolerate poisoning and its in-flight count is kept by a drop guard.
fn guard_logged<R: BoundaryResult>(
    exporter: &SentryCore,
    entry: &str,
    body: impl FnOnce() -> R,
) -> R {
    let payload = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => return result,
        Err(payload) => payload,
    };
    log_panic(exporter.core.logger(), entry, payload.as_ref());
    // The payload is dropped here, under the caller's guard.
    R::panicked()
}

/// Logs a panic caught in `entry` at error level, with its message.
fn log_panic(logger: &Logger, entry: &str, payload: &(dyn Any + Send)) {
    // Logging must not let a second panic (say, in formatting) escape either.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let message = panic_message(payload);
        logger.log(
            Level::Error,
            format!("{entry}: the core panicked (caught at the C boundary): {message}"),
        )
    }));
}

/// Borrows `len` values at `ptr`; `len == 0` needs no pointer.
///
/// # Safety
/// `ptr` must point to `len` readable, aligned values that outlive the returned slice.
unsafe fn borrow<'a, T>(ptr: *const T, len: usize) -> Option<&'a [T]> {
    match (ptr.is_null(), len) {
        (_, 0) => Some(&[]),
        (true, _) => None,
        (false, _) => Some(std::slice::from_raw_parts(ptr, len)),
    }
}

/// Copies as much of `message` as fits into the caller's buffer, cut at a
/// character boundary, and stores the copied length.
///
/// # Safety
/// `buf` must be NULL or point to `buf_len` writable bytes; `written` NULL or writable.
unsafe fn write_message(message: &str, buf: *mut u8, buf_len: usize, written: *mut usize) {
    let mut n = if buf.is_null() {
        0
    } else {
        message.len().min(buf_len)
    };
    while !message.is_char_boundary(n) {
        n -= 1;
    }
    if n > 0 {
        std::ptr::copy_nonoverlapping(message.as_ptr(), buf, n);
    }
    if !written.is_null() {
        *written = n;
    }
}

fn bytes_out(bytes: Vec<u8>) -> SentryBytes {
    let len = bytes.len();
    let ptr = Box::into_raw(bytes.into_boxed_slice()) as *const u8;
    SentryBytes { ptr, len }
}

/// # Safety
/// `bytes` must come from [`bytes_out`] and not have been freed.
unsafe fn bytes_free(bytes: &SentryBytes) {
    if !bytes.ptr.is_null() {
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
            bytes.ptr as *mut u8,
            bytes.len,
        )));
    }
}

fn result_of(error: &CoreError) -> SentryResult {
    match error {
        CoreError::Config(_) | CoreError::Client(_) => SentryResult::InvalidConfig,
        CoreError::NotStarted => SentryResult::NotStarted,
        CoreError::ShutDown => SentryResult::ShutDown,
        CoreError::Runtime(_) => SentryResult::RuntimeFailed,
        CoreError::InvalidRequest(_) | CoreError::ItemCounts(_) => SentryResult::InvalidRequest,
        CoreError::MemoryFull(_) => SentryResult::MemoryFull,
    }
}

fn logger(callback: SentryLogCallback, context: usize) -> Logger {
    let Some(callback) = callback else {
        return Logger::discard();
    };
    Logger::with_fields(move |level, message, fields| {
        let level = match level {
            Level::Debug => SentryLogLevel::Debug,
            Level::Info => SentryLogLevel::Info,
            Level::Warn => SentryLogLevel::Warn,
            Level::Error => SentryLogLevel::Error,
        };
        let fields: Vec<SentryLogField> = fields.iter().map(log_field).collect();
        let fields_ptr = match fields.is_empty() {
            true => ptr::null(),
            false => fields.as_ptr(),
        };
        // SAFETY: the host promised a callback valid until sentry_exporter_free; `message` and
        // `fields` (and the bytes they point at) outlive the call.
        unsafe {
            callback(
                context,
                level,
                message.as_ptr(),
                message.len(),
                fields_ptr,
                fields.len(),
            )
        }
    })
}

/// `field` for the log callback, borrowing its bytes.
fn log_field(field: &Field<'_>) -> SentryLogField {
    let (kind, text, text_len, number) = match field.value {
        FieldValue::Str(s) => (SentryLogFieldKind::String, s.as_ptr(), s.len(), 0),
        FieldValue::U64(n) => (SentryLogFieldKind::U64, ptr::null(), 0, n),
    };
    SentryLogField {
        key: field.key.as_ptr(),
        key_len: field.key.len(),
        kind,
        text,
        text_len,
        number,
    }
}

/// Checks a JSON config without building anything. On `INVALID_CONFIG`, the
/// message (naming the field) goes to `error_buf` (not NUL-terminated, cut to
/// `error_buf_len`) and its length to `*error_len`; both may be NULL.
///
/// # Safety
/// `config_json` must point to `config_json_len` readable bytes; `error_buf`
/// to `error_buf_len` writable bytes or NULL; `error_len` writable or NULL.
#[no_mangle]
pub unsafe extern "C" fn sentry_config_validate(
    config_json: *const u8,
    config_json_len: usize,
    error_buf: *mut u8,
    error_buf_len: usize,
    error_len: *mut usize,
) -> SentryResult {
    ffi_boundary! { sentry_config_validate:
        bytes config_json, config_json_len;
        => {
            match sentry_exporter_core::Config::from_json(config_json) {
                Ok(_) => {
                    write_message("", error_buf, error_buf_len, error_len);
                    SentryResult::Ok
                }
                Err(e) => {
                    write_message(&e.to_string(), error_buf, error_buf_len, error_len);
                    SentryResult::InvalidConfig
                }
            }
        }
    }
}

/// Creates an exporter from a JSON config (see `sentry_config_validate` for
/// the error buffer). `log_callback` may be NULL; `log_context` is passed back
/// to it unchanged.
///
/// # Safety
/// As `sentry_config_validate`; `exporter_out` must be writable; the callback
/// must stay callable until `sentry_exporter_free` returns.
#[no_mangle]
pub unsafe extern "C" fn sentry_exporter_new(
    config_json: *const u8,
    config_json_len: usize,
    log_callback: SentryLogCallback,
    log_context: usize,
    error_buf: *mut u8,
    error_buf_len: usize,
    error_len: *mut usize,
    exporter_out: *mut *mut SentryCore,
) -> SentryResult {
    ffi_boundary! { sentry_exporter_new:
        bytes config_json, config_json_len;
        non_null exporter_out;
        => {
            match Core::new(config_json, logger(log_callback, log_context)) {
                Ok(core) => {
                    trim::start();
                    write_message("", error_buf, error_buf_len, error_len);
                    *exporter_out = Box::into_raw(Box::new(SentryCore { core }));
                    SentryResult::Ok
                }
                Err(e) => {
                    write_message(&e.to_string(), error_buf, error_buf_len, error_len);
                    result_of(&e)
                }
            }
        }
    }
}

/// Starts the exporter's runtime. Starting twice is fine.
///
/// # Safety
/// `exporter` must come from `sentry_exporter_new` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn sentry_exporter_start(exporter: *const SentryCore) -> SentryResult {
    ffi_boundary! { sentry_exporter_start:
        exporter exporter;
        => {
            exporter
                .core
                .start()
                .map_or_else(|e| result_of(&e), |_| SentryResult::Ok)
        }
    }
}

/// Receives the end of an export started by `sentry_exporter_export`: the `token` it was
/// given, `result` (`OK`, or what ended the export: `SHUT_DOWN`, `INVALID_REQUEST`, `PANIC`...)
/// and, on `OK`, an outcome the callee owns and frees with `sentry_export_outcome_free` (NULL
/// otherwise). Called from a core thread; it must return quickly (hand the outcome over, do not
/// wait in it).
pub type SentryExportDone = Option<
    unsafe extern "C" fn(token: usize, result: SentryResult, outcome: *mut SentryExportOutcome),
>;

/// Starts exporting one OTLP protobuf request of `signal` (a `SentrySignal`): traces
/// (`ExportTraceServiceRequest`), logs (`ExportLogsServiceRequest`) or metrics
/// (`ExportMetricsServiceRequest`), within `timeout_ms` (0: no timeout), and returns at once:
/// the caller's thread does not wait in the core. On `OK`, `done` is called exactly once with
/// `token`, when the export ends (also when the exporter shuts down first), and never after
/// `sentry_exporter_free` returns; on any other result nothing started and `done` is not called.
/// Safe to call from many threads at once.
///
/// # Safety
/// `exporter` as for `sentry_exporter_start`; `request` must point to `request_len` readable
/// bytes (may be NULL when 0) that stay valid and unchanged until `done` is called.
#[no_mangle]
pub unsafe extern "C" fn sentry_exporter_export(
    exporter: *const SentryCore,
    signal: u32,
    request: *const u8,
    request_len: usize,
    timeout_ms: u64,
    done: SentryExportDone,
    token: usize,
) -> SentryResult {
    ffi_boundary! { sentry_exporter_export:
        exporter exporter;
        bytes request, request_len;
        => {
            let Some(done) = done else {
                return SentryResult::NullArgument;
            };
            let Some(signal) = signal_of(signal) else {
                return SentryResult::InvalidSignal;
            };
            let timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms));
            let request = HostBytes(request.as_ptr(), request.len());
            let logger = exporter.core.logger().clone();
            let finish = move |finished: Finished| {
                let ended = catch_unwind(AssertUnwindSafe(|| match finished? {
                    Ok(outcome) => Ok((SentryResult::Ok, Box::into_raw(Box::new(outcome_to_c(outcome))))),
                    Err(e) => Ok((result_of(&e), ptr::null_mut())),
                }))
                .and_then(|ended| ended);
                let (result, outcome) = ended.unwrap_or_else(|payload| {
                    log_panic(&logger, "sentry_exporter_export", payload.as_ref());
                    (SentryResult::Panic, ptr::null_mut())
                });
                // SAFETY: the host promised a callback valid until sentry_exporter_free; the
                // outcome is the host's from here on.
                unsafe { done(token, result, outcome) };
            };
            match exporter.core.spawn_export(signal, request, timeout, finish) {
                Ok(()) => SentryResult::Ok,
                Err(e) => result_of(&e),
            }
        }
    }
}

/// The request of an export in flight, borrowed from the host until its `done` is called.
struct HostBytes(*const u8, usize);

// SAFETY: the host keeps the bytes valid and unchanged until `done` is called, which happens
// after the export's last read of them; nothing writes through the pointer.
unsafe impl Send for HostBytes {}

impl AsRef<[u8]> for HostBytes {
    fn as_ref(&self) -> &[u8] {
        match self.1 {
            0 => &[],
            // SAFETY: as for `Send` above; `borrow` checked the pointer is not NULL.
            len => unsafe { std::slice::from_raw_parts(self.0, len) },
        }
    }
}

/// Tells where each resource of one OTLP protobuf request of `signal` (traces, logs or
/// metrics, as for `sentry_exporter_export`) goes, sending nothing, so that the host can queue
/// each project's resources apart; then it exports each project's resources with
/// `sentry_exporter_export`. The request needs to hold the resources alone (their scopes may be
/// left out: routing reads only resources), and `items` the number of items (spans, log
/// records, metrics) of each of its `items_len` resources, in order: those of resources that go
/// to no project are counted and logged here. On `OK`, `*routing_out` must be freed with
/// `sentry_routing_free`. Safe to call from many threads at once.
///
/// # Safety
/// `exporter` as for `sentry_exporter_start`; `request` must point to `request_len` readable
/// bytes and `items` to `items_len` readable counts (either may be NULL when its length is 0);
/// `routing_out` writable.
#[no_mangle]
pub unsafe extern "C" fn sentry_exporter_route(
    exporter: *const SentryCore,
    signal: u32,
    request: *const u8,
    request_len: usize,
    items: *const u64,
    items_len: usize,
    routing_out: *mut *mut SentryRouting,
) -> SentryResult {
    ffi_boundary! { sentry_exporter_route:
        exporter exporter;
        bytes request, request_len;
        bytes items, items_len;
        non_null routing_out;
        => {
            let Some(signal) = signal_of(signal) else {
                return SentryResult::InvalidSignal;
            };
            match exporter.core.route(signal, request, items) {
                Ok(routing) => {
                    *routing_out = Box::into_raw(Box::new(routing_to_c(routing)));
                    SentryResult::Ok
                }
                Err(e) => result_of(&e),
            }
        }
    }
}

/// The host holds queues of these projects (`slugs`: UTF-8, one per line) from before a
/// restart: they keep a queue of their own, within `max_project_queues`. Those that do are
/// written to `*kept_out`, one per line, to be freed with `sentry_bytes_free`; lines that are
/// no slug are left out.
///
/// # Safety
/// `exporter` as for `sentry_exporter_start`; `slugs` must point to `slugs_len` readable bytes
/// (may be NULL when 0); `kept_out` writable.
#[no_mangle]
pub unsafe extern "C" fn sentry_exporter_restore_queues(
    exporter: *const SentryCore,
    slugs: *const u8,
    slugs_len: usize,
    kept_out: *mut SentryBytes,
) -> SentryResult {
    ffi_boundary! { sentry_exporter_restore_queues:
        exporter exporter;
        bytes slugs, slugs_len;
        non_null kept_out;
        => {
            let text = String::from_utf8_lossy(slugs);
            let slugs: Vec<Slug> = text.lines().filter_map(|line| Slug::parse(line).ok()).collect();
            let kept = exporter.core.restore_queues(&slugs);
            let kept: Vec<&str> = kept.iter().map(Slug::as_str).collect();
            *kept_out = bytes_out(kept.join("\n").into_bytes());
            SentryResult::Ok
        }
    }
}

fn signal_of(signal: u32) -> Option<Signal> {
    match signal {
        s if s == SentrySignal::Traces as u32 => Some(Signal::Traces),
        s if s == SentrySignal::Logs as u32 => Some(Signal::Logs),
        s if s == SentrySignal::Metrics as u32 => Some(Signal::Metrics),
        _ => None,
    }
}

fn routing_to_c(routing: Routing) -> SentryRouting {
    let resources: Box<[u32]> = routing
        .resources
        .iter()
        // An index is below the number of resources, each at least 2 bytes of a request that
        // fits in memory: far below SENTRY_UNROUTED.
        .map(|project| project.map_or(SENTRY_UNROUTED, |i| i as u32))
        .collect();
    let projects: Box<[SentryBytes]> = routing
        .projects
        .into_iter()
        .map(|slug| bytes_out(slug.as_str().as_bytes().to_vec()))
        .collect();
    let own_queue: Box<[u8]> = routing.own_queue.iter().map(|own| u8::from(*own)).collect();
    let (resources_len, projects_len) = (resources.len(), projects.len());
    SentryRouting {
        resource_projects: slice_out(resources),
        resources_len,
        projects: slice_out(projects),
        projects_len,
        project_own_queue: slice_out(own_queue),
    }
}

/// The pointer of a boxed slice handed to C (NULL when empty), freed by [`slice_free`].
fn slice_out<T>(slice: Box<[T]>) -> *const T {
    match slice.is_empty() {
        true => ptr::null(),
        false => Box::into_raw(slice) as *const T,
    }
}

/// # Safety
/// `ptr` and `len` must come from [`slice_out`] and not have been freed.
unsafe fn slice_free<T>(ptr: *const T, len: usize) -> Option<Box<[T]>> {
    (!ptr.is_null()).then(|| Box::from_raw(ptr::slice_from_raw_parts_mut(ptr as *mut T, len)))
}

fn outcome_to_c(outcome: ExportOutcome) -> SentryExportOutcome {
    SentryExportOutcome {
        items_sent: outcome.sent,
        items_dropped: outcome.dropped,
        items_retryable: outcome.retryable,
        retry_after_ms: outcome
            .retry_after
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        retry_request: bytes_out(outcome.retry_request),
        message: bytes_out(outcome.problems.join("; ").into_bytes()),
    }
}

/// The host is stopping: exports in flight and all later ones end by now + `grace_ms`;
/// whatever is not sent by then is handed back as retryable. Call it when shutdown begins,
/// before draining a queue through `sentry_exporter_export`. Calling it again never extends
/// the deadline.
///
/// # Safety
/// `exporter` must come from `sentry_exporter_new` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn sentry_exporter_begin_shutdown(
    exporter: *const SentryCore,
    grace_ms: u64,
) -> SentryResult {
    ffi_boundary! { sentry_exporter_begin_shutdown:
        exporter exporter;
        => {
            exporter
                .core
                .begin_shutdown(Duration::from_millis(grace_ms));
            SentryResult::Ok
        }
    }
}

/// Stops the exporter within a bound (5 s). Twice, or without start, is fine;
/// later exports answer `SHUT_DOWN`.
///
/// # Safety
/// `exporter` must come from `sentry_exporter_new` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn sentry_exporter_shutdown(exporter: *const SentryCore) -> SentryResult {
    ffi_boundary! { sentry_exporter_shutdown:
        exporter exporter;
        => {
            exporter.core.shutdown();
            SentryResult::Ok
        }
    }
}

/// Frees an exporter (shutting it down first if needed). NULL is ignored.
///
/// # Safety
/// `exporter` must come from `sentry_exporter_new`, be freed once, and not be
/// in use by another call.
#[no_mangle]
pub unsafe extern "C" fn sentry_exporter_free(exporter: *mut SentryCore) {
    ffi_boundary! { sentry_exporter_free:
        non_null exporter;
        => {
            let exporter = Box::from_raw(exporter);
            exporter.core.shutdown();
        }
    }
}

/// Writes the exporter's counters as UTF-8 JSON into `*json_out` (to be freed
/// with `sentry_bytes_free`): `{"metrics": [{"name", "description", "unit",
/// "kind": "counter"|"gauge", "points": [{"attributes": {...}, "value"}]}]}`.
/// Every metric is listed from the start, with zero points.
///
/// # Safety
/// `exporter` as for `sentry_exporter_start`; `json_out` writable.
#[no_mangle]
pub unsafe extern "C" fn sentry_exporter_telemetry(
    exporter: *const SentryCore,
    json_out: *mut SentryBytes,
) -> SentryResult {
    ffi_boundary! { sentry_exporter_telemetry:
        exporter exporter;
        non_null json_out;
        => {
            *json_out = bytes_out(exporter.core.telemetry_json().into_bytes());
            SentryResult::Ok
        }
    }
}

/// Writes what keeps Sentry from being used right now (the management API refusing the
/// token, ingest unreachable, ...) as UTF-8 text into `*problem_out`, to be freed with
/// `sentry_bytes_free`. When all is well, `*problem_out` is empty (`ptr` NULL, `len` 0).
/// Cheap enough to poll: the host reports it as the component's status.
///
/// # Safety
/// `exporter` as for `sentry_exporter_start`; `problem_out` writable.
#[no_mangle]
pub unsafe extern "C" fn sentry_exporter_health(
    exporter: *const SentryCore,
    problem_out: *mut SentryBytes,
) -> SentryResult {
    ffi_boundary! { sentry_exporter_health:
        exporter exporter;
        non_null problem_out;
        => {
            *problem_out = match exporter.core.health_problem() {
                Some(problem) => bytes_out(problem.into_bytes()),
                None => SentryBytes {
                    ptr: std::ptr::null(),
                    len: 0,
                },
            };
            SentryResult::Ok
        }
    }
}

/// Frees bytes returned by `sentry_exporter_telemetry`, `sentry_exporter_health` or
/// `sentry_exporter_restore_queues`. Empty bytes are ignored.
///
/// # Safety
/// `bytes` must come from one of those and be freed once.
#[no_mangle]
pub unsafe extern "C" fn sentry_bytes_free(bytes: SentryBytes) {
    ffi_boundary! { sentry_bytes_free:
        => {
            bytes_free(&bytes);
        }
    }
}

/// Frees an outcome and the bytes it holds. NULL is ignored.
///
/// # Safety
/// `outcome` must come from `sentry_exporter_export` and be freed once.
#[no_mangle]
pub unsafe extern "C" fn sentry_export_outcome_free(outcome: *mut SentryExportOutcome) {
    ffi_boundary! { sentry_export_outcome_free:
        non_null outcome;
        => {
            let outcome = Box::from_raw(outcome);
            bytes_free(&outcome.retry_request);
            bytes_free(&outcome.message);
        }
    }
}

/// Frees a routing and what it holds. NULL is ignored.
///
/// # Safety
/// `routing` must come from `sentry_exporter_route` and be freed once.
#[no_mangle]
pub unsafe extern "C" fn sentry_routing_free(routing: *mut SentryRouting) {
    ffi_boundary! { sentry_routing_free:
        non_null routing;
        => {
            let routing = Box::from_raw(routing);
            drop(slice_free(routing.resource_projects, routing.resources_len));
            for project in slice_free(routing.projects, routing.projects_len).iter().flatten() {
                bytes_free(project);
            }
            drop(slice_free(routing.project_own_queue, routing.projects_len));
        }
    }
}

#[cfg(test)]
mod tests;
mod trim;
