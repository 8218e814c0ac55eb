//! C ABI of the sentry exporter core, linked into the Go component as a static
//! library. All `unsafe` code of the project lives here. Every entry point runs
//! inside [`guard`], so no panic crosses the boundary; pointers are checked for
//! NULL; outputs come last and are written only on success; whatever Rust
//! hands out is freed by a Rust function.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use sentry_exporter_core::heap;
use sentry_exporter_core::log::panic_message;
use sentry_exporter_core::{ExportOutcome, Level, Logger, Service, ServiceError, Signal};

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
}

/// Values of the `signal` argument of `sentry_exporter_export`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentrySignal {
    Traces = 0,
    Logs = 1,
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
pub struct SentryExporter {
    service: Service,
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

/// Receives the core's log lines. Called from Rust threads, possibly at the
/// same time from several; never after `sentry_exporter_free` returns.
pub type SentryLogCallback = Option<
    unsafe extern "C" fn(
        context: usize,
        level: SentryLogLevel,
        message: *const u8,
        message_len: usize,
    ),
>;

/// Runs an entry point's body, turning a panic into `SentryResult::Panic`.
fn guard(body: impl FnOnce() -> SentryResult) -> SentryResult {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(SentryResult::Panic)
}

/// As [`guard`], for the body of an entry point that has an exporter: a caught panic is also
/// logged at error level through the exporter's logger, with its message, so that the host
/// sees more than the bare `SentryResult::Panic`. The exporter stays usable: the core's locks
/// tolerate poisoning and its in-flight count is kept by a drop guard.
fn guard_logged(
    exporter: &SentryExporter,
    entry: &str,
    body: impl FnOnce() -> SentryResult,
) -> SentryResult {
    let payload = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => return result,
        Err(payload) => payload,
    };
    let message = panic_message(payload.as_ref());
    // Logging must not let a second panic (say, in formatting) escape either.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        exporter.service.logger().log(
            Level::Error,
            format!("{entry}: the core panicked (caught at the C boundary): {message}"),
        )
    }));
    // The payload is dropped here, under the caller's guard.
    SentryResult::Panic
}

/// Borrows `len` bytes at `ptr`; `len == 0` needs no pointer.
///
/// # Safety
/// `ptr` must point to `len` readable bytes that outlive the returned slice.
unsafe fn borrow<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
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

fn result_of(error: &ServiceError) -> SentryResult {
    match error {
        ServiceError::Config(_) | ServiceError::Client(_) => SentryResult::InvalidConfig,
        ServiceError::NotStarted => SentryResult::NotStarted,
        ServiceError::ShutDown => SentryResult::ShutDown,
        ServiceError::Runtime(_) => SentryResult::RuntimeFailed,
        ServiceError::InvalidRequest(_) => SentryResult::InvalidRequest,
    }
}

fn logger(callback: SentryLogCallback, context: usize) -> Logger {
    let Some(callback) = callback else {
        return Logger::discard();
    };
    Logger::new(move |level, message| {
        let level = match level {
            Level::Debug => SentryLogLevel::Debug,
            Level::Info => SentryLogLevel::Info,
            Level::Warn => SentryLogLevel::Warn,
            Level::Error => SentryLogLevel::Error,
        };
        // SAFETY: the host promised a callback valid until sentry_exporter_free.
        unsafe { callback(context, level, message.as_ptr(), message.len()) }
    })
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
    guard(|| {
        let Some(json) = borrow(config_json, config_json_len) else {
            return SentryResult::NullArgument;
        };
        match sentry_exporter_core::Config::from_json(json) {
            Ok(_) => {
                write_message("", error_buf, error_buf_len, error_len);
                SentryResult::Ok
            }
            Err(e) => {
                write_message(&e.to_string(), error_buf, error_buf_len, error_len);
                SentryResult::InvalidConfig
            }
        }
    })
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
    exporter_out: *mut *mut SentryExporter,
) -> SentryResult {
    guard(|| {
        let Some(json) = borrow(config_json, config_json_len) else {
            return SentryResult::NullArgument;
        };
        if exporter_out.is_null() {
            return SentryResult::NullArgument;
        }
        match Service::new(json, logger(log_callback, log_context)) {
            Ok(service) => {
                write_message("", error_buf, error_buf_len, error_len);
                *exporter_out = Box::into_raw(Box::new(SentryExporter { service }));
                SentryResult::Ok
            }
            Err(e) => {
                write_message(&e.to_string(), error_buf, error_buf_len, error_len);
                result_of(&e)
            }
        }
    })
}

/// Starts the exporter's runtime. Starting twice is fine.
///
/// # Safety
/// `exporter` must come from `sentry_exporter_new` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn sentry_exporter_start(exporter: *const SentryExporter) -> SentryResult {
    guard(|| match exporter.as_ref() {
        None => SentryResult::NullArgument,
        Some(exporter) => guard_logged(exporter, "sentry_exporter_start", || {
            exporter
                .service
                .start()
                .map_or_else(|e| result_of(&e), |_| SentryResult::Ok)
        }),
    })
}

/// Exports one OTLP protobuf request (`ExportTraceServiceRequest` or
/// `ExportLogsServiceRequest`, per `signal`), blocking until done or
/// `timeout_ms` (0: no timeout). The request is only borrowed for the call.
/// On `OK`, `*outcome_out` must be freed with `sentry_export_outcome_free`.
/// Safe to call from many threads at once.
///
/// # Safety
/// `exporter` as for `sentry_exporter_start`; `request` must point to
/// `request_len` readable bytes (may be NULL when 0); `outcome_out` writable.
#[no_mangle]
pub unsafe extern "C" fn sentry_exporter_export(
    exporter: *const SentryExporter,
    signal: u32,
    request: *const u8,
    request_len: usize,
    timeout_ms: u64,
    outcome_out: *mut *mut SentryExportOutcome,
) -> SentryResult {
    guard(|| {
        let (Some(exporter), Some(request)) = (exporter.as_ref(), borrow(request, request_len))
        else {
            return SentryResult::NullArgument;
        };
        if outcome_out.is_null() {
            return SentryResult::NullArgument;
        }
        let signal = match signal {
            s if s == SentrySignal::Traces as u32 => Signal::Traces,
            s if s == SentrySignal::Logs as u32 => Signal::Logs,
            _ => return SentryResult::InvalidSignal,
        };
        let timeout = (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms));
        guard_logged(exporter, "sentry_exporter_export", || {
            match exporter.service.export(signal, request, timeout) {
                Ok(outcome) => {
                    *outcome_out = Box::into_raw(Box::new(outcome_to_c(outcome)));
                    SentryResult::Ok
                }
                Err(e) => result_of(&e),
            }
        })
    })
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
    exporter: *const SentryExporter,
    grace_ms: u64,
) -> SentryResult {
    guard(|| match exporter.as_ref() {
        None => SentryResult::NullArgument,
        Some(exporter) => guard_logged(exporter, "sentry_exporter_begin_shutdown", || {
            exporter
                .service
                .begin_shutdown(Duration::from_millis(grace_ms));
            SentryResult::Ok
        }),
    })
}

/// Stops the exporter within a bound (5 s). Twice, or without start, is fine;
/// later exports answer `SHUT_DOWN`.
///
/// # Safety
/// `exporter` must come from `sentry_exporter_new` and not be freed.
#[no_mangle]
pub unsafe extern "C" fn sentry_exporter_shutdown(exporter: *const SentryExporter) -> SentryResult {
    guard(|| match exporter.as_ref() {
        None => SentryResult::NullArgument,
        Some(exporter) => guard_logged(exporter, "sentry_exporter_shutdown", || {
            exporter.service.shutdown();
            SentryResult::Ok
        }),
    })
}

/// Frees an exporter (shutting it down first if needed). NULL is ignored.
///
/// # Safety
/// `exporter` must come from `sentry_exporter_new`, be freed once, and not be
/// in use by another call.
#[no_mangle]
pub unsafe extern "C" fn sentry_exporter_free(exporter: *mut SentryExporter) {
    guard(|| {
        if !exporter.is_null() {
            let exporter = Box::from_raw(exporter);
            exporter.service.shutdown();
        }
        SentryResult::Ok
    });
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
    exporter: *const SentryExporter,
    json_out: *mut SentryBytes,
) -> SentryResult {
    guard(|| {
        let Some(exporter) = exporter.as_ref() else {
            return SentryResult::NullArgument;
        };
        if json_out.is_null() {
            return SentryResult::NullArgument;
        }
        guard_logged(exporter, "sentry_exporter_telemetry", || {
            *json_out = bytes_out(exporter.service.telemetry_json().into_bytes());
            SentryResult::Ok
        })
    })
}

/// Frees bytes returned by `sentry_exporter_telemetry`. Empty bytes are ignored.
///
/// # Safety
/// `bytes` must come from `sentry_exporter_telemetry` and be freed once.
#[no_mangle]
pub unsafe extern "C" fn sentry_bytes_free(bytes: SentryBytes) {
    guard(|| {
        bytes_free(&bytes);
        SentryResult::Ok
    });
}

/// Frees an outcome and the bytes it holds. NULL is ignored.
///
/// # Safety
/// `outcome` must come from `sentry_exporter_export` and be freed once.
#[no_mangle]
pub unsafe extern "C" fn sentry_export_outcome_free(outcome: *mut SentryExportOutcome) {
    guard(|| {
        if !outcome.is_null() {
            let outcome = Box::from_raw(outcome);
            bytes_free(&outcome.retry_request);
            bytes_free(&outcome.message);
        }
        SentryResult::Ok
    });
}

#[cfg(test)]
mod tests;
