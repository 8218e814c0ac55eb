//go:build cgo

package ffi

/*
#cgo CFLAGS: -I${SRCDIR}/../../../include
// The library itself is linked by link_release.go, or by link_faultinjection.go with the
// faultinjection build tag (tests only).
#include "sentry_exporter.h"

// sentryGoLog is the exported Go function below. cgo declares exported functions without
// const, so the pointer is cast to SentryLogCallback where it is passed.
extern void sentryGoLog(size_t context, SentryLogLevel level, uint8_t *message, size_t message_len,
	SentryLogField *fields, size_t fields_len);

// sentryGoExportDone is the exported Go function below, the done callback of every export.
extern void sentryGoExportDone(size_t token, SentryResult result, SentryExportOutcome *outcome);
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"strings"
	"sync"
	"time"
	"unsafe"

	"go.uber.org/zap"
)

// errorBufLen bounds the messages the core writes into Go's buffer.
const errorBufLen = 4096

// bytesPtr returns the address of b's data for C, or NULL for an empty slice.
// cgo pins the memory for the duration of the call; C must not keep it.
func bytesPtr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b)))
}

// ValidateConfig asks the core whether the JSON config is valid. The error text is the
// core's, naming the YAML field; it never contains the auth token.
func ValidateConfig(configJSON []byte) error {
	buf := make([]byte, errorBufLen)
	var n C.size_t
	code := C.sentry_config_validate(bytesPtr(configJSON), C.size_t(len(configJSON)),
		bytesPtr(buf), C.size_t(len(buf)), &n)
	return resultError("sentry_config_validate", resultCode(code), message(buf, n))
}

// message is the part of buf the core filled in.
func message(buf []byte, n C.size_t) string {
	return string(buf[:min(int(n), len(buf))])
}

// Core is one exporter of the Rust core. Its methods are safe from many goroutines; after
// Free every method returns ErrShutDown (or does nothing) instead of touching freed memory.
type Core struct {
	// mu guards ptr: calls into the core hold it for reading, Free holds it for writing, so the
	// handle is never freed under a running call.
	mu  sync.RWMutex
	ptr *C.SentryCore
	// logger is the cgo.Handle of the *zap.Logger the core's log callback writes to.
	logger cgo.Handle
}

// New creates a core from the JSON config (validating it again) whose logs go to logger.
// Nothing runs until Start.
func New(configJSON []byte, logger *zap.Logger) (*Core, error) {
	// The caller of the core's log lines is always the callback below: leave it out.
	handle := cgo.NewHandle(logger.WithOptions(zap.WithCaller(false)))
	buf := make([]byte, errorBufLen)
	var n C.size_t
	var ptr *C.SentryCore
	code := C.sentry_exporter_new(bytesPtr(configJSON), C.size_t(len(configJSON)),
		C.SentryLogCallback(C.sentryGoLog), C.size_t(handle),
		bytesPtr(buf), C.size_t(len(buf)), &n, &ptr)
	if err := resultError("sentry_exporter_new", resultCode(code), message(buf, n)); err != nil {
		handle.Delete()
		return nil, err
	}
	if ptr == nil {
		handle.Delete()
		return nil, resultError("sentry_exporter_new", resultNullArgument, "")
	}
	logger.Debug("Rust core created", zap.String("core_digest", CoreDigest))
	return &Core{ptr: ptr, logger: handle}, nil
}

// Start starts the core's runtime and background work; a second call does nothing.
func (c *Core) Start() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == nil {
		return ErrShutDown
	}
	return resultError("sentry_exporter_start", resultCode(C.sentry_exporter_start(c.ptr)), "")
}

// Export sends one protobuf request of signal: traces (ExportTraceServiceRequest), logs
// (ExportLogsServiceRequest) or metrics (ExportMetricsServiceRequest), and blocks until the
// core is done with it or timeout has passed (0: no timeout). req is only borrowed for the
// call.
//
// The goroutine waits on a channel, not in C: the core starts the export and returns at
// once, and calls sentryGoExportDone when it ends. A goroutine blocked in a C call holds an
// OS thread for the whole export, network waits included (one per export in flight: a
// thousand with a hundred projects of ten queue consumers), and hands its P to another
// thread once it blocks past 20 µs.
func (c *Core) Export(signal Signal, req []byte, timeout time.Duration) (Outcome, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == nil {
		return Outcome{}, ErrShutDown
	}
	ended := make(chan exportEnd, 1)
	token := cgo.NewHandle(ended)
	defer token.Delete()
	// The core reads req after this call returns, until it calls done: pinned until then.
	var pinner runtime.Pinner
	defer pinner.Unpin()
	if len(req) > 0 {
		pinner.Pin(unsafe.SliceData(req))
	}
	code := C.sentry_exporter_export(c.ptr, C.uint32_t(signal), bytesPtr(req), C.size_t(len(req)),
		C.uint64_t(timeoutMillis(timeout)), C.SentryExportDone(C.sentryGoExportDone), C.size_t(token))
	if err := resultError("sentry_exporter_export", resultCode(code), ""); err != nil {
		return Outcome{}, err
	}
	end := <-ended
	if err := resultError("sentry_exporter_export", resultCode(end.code), ""); err != nil {
		return Outcome{}, err
	}
	if end.out == nil {
		return Outcome{}, resultError("sentry_exporter_export", resultNullArgument, "")
	}
	defer C.sentry_export_outcome_free(end.out)
	return Outcome{
		ItemsSent:        uint64(end.out.items_sent),
		ItemsDropped:     uint64(end.out.items_dropped),
		ItemsRetryable:   uint64(end.out.items_retryable),
		RetryAfterMillis: uint64(end.out.retry_after_ms),
		RetryRequest:     goBytes(end.out.retry_request),
		Message:          string(goBytes(end.out.message)),
	}, nil
}

// exportEnd is how one export ended, as the core's done callback tells it.
type exportEnd struct {
	code C.SentryResult
	out  *C.SentryExportOutcome
}

//export sentryGoExportDone
func sentryGoExportDone(token C.size_t, code C.SentryResult, out *C.SentryExportOutcome) {
	// The channel has room for its one end: this never blocks the core's thread. A Go panic
	// must not unwind into the Rust frames below; the core calls done once per export, with the
	// handle Export made, so none is expected.
	defer func() { _ = recover() }()
	cgo.Handle(token).Value().(chan exportEnd) <- exportEnd{code: code, out: out}
}

// Route tells where each resource of req (a request of signal: traces, logs or metrics, as
// for Export) goes, sending nothing; each project's resources are then exported on their own.
// req needs to hold the resources alone (routing reads nothing else), items the number of
// items of each: those of resources that go to no project are counted and logged by the core
// here. Both are only borrowed for the call.
func (c *Core) Route(signal Signal, req []byte, items []uint64) (Routing, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == nil {
		return Routing{}, ErrShutDown
	}
	var counts *C.uint64_t
	if len(items) > 0 {
		counts = (*C.uint64_t)(unsafe.Pointer(unsafe.SliceData(items)))
	}
	var out *C.SentryRouting
	code := C.sentry_exporter_route(c.ptr, C.uint32_t(signal), bytesPtr(req), C.size_t(len(req)),
		counts, C.size_t(len(items)), &out)
	if err := resultError("sentry_exporter_route", resultCode(code), ""); err != nil {
		return Routing{}, err
	}
	if out == nil {
		return Routing{}, resultError("sentry_exporter_route", resultNullArgument, "")
	}
	defer C.sentry_routing_free(out)
	routing := Routing{
		Resources: make([]int, int(out.resources_len)),
		Projects:  make([]string, int(out.projects_len)),
		OwnQueue:  make([]bool, int(out.projects_len)),
	}
	if out.resources_len > 0 {
		for i, project := range unsafe.Slice(out.resource_projects, int(out.resources_len)) {
			routing.Resources[i] = Unrouted
			if project != C.SENTRY_UNROUTED {
				routing.Resources[i] = int(project)
			}
		}
	}
	if out.projects_len > 0 {
		for i, slug := range unsafe.Slice(out.projects, int(out.projects_len)) {
			if slug.len > 0 && slug.ptr != nil {
				routing.Projects[i] = C.GoStringN((*C.char)(unsafe.Pointer(slug.ptr)), C.int(slug.len))
			}
		}
		for i, own := range unsafe.Slice(out.project_own_queue, int(out.projects_len)) {
			routing.OwnQueue[i] = own != 0
		}
	}
	return routing, nil
}

// RestoreQueues tells the core that the projects of slugs have a queue of their own from
// before a restart; it returns those that keep it (within max_project_queues).
func (c *Core) RestoreQueues(slugs []string) ([]string, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == nil {
		return nil, ErrShutDown
	}
	req := []byte(strings.Join(slugs, "\n"))
	var out C.SentryBytes
	code := C.sentry_exporter_restore_queues(c.ptr, bytesPtr(req), C.size_t(len(req)), &out)
	if err := resultError("sentry_exporter_restore_queues", resultCode(code), ""); err != nil {
		return nil, err
	}
	defer C.sentry_bytes_free(out)
	return strings.Fields(string(goBytes(out))), nil
}

// goBytes copies bytes owned by the core into Go memory (nil when empty).
func goBytes(b C.SentryBytes) []byte {
	if b.len == 0 || b.ptr == nil {
		return nil
	}
	return C.GoBytes(unsafe.Pointer(b.ptr), C.int(b.len))
}

// timeoutMillis rounds a positive timeout up to whole milliseconds, so that a sub-millisecond
// timeout does not become 0 (no timeout). A timeout <= 0 means none.
func timeoutMillis(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64((d + time.Millisecond - 1) / time.Millisecond)
}

// Telemetry returns the core's counters as JSON (see sentry_exporter_telemetry).
func (c *Core) Telemetry() ([]byte, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == nil {
		return nil, ErrShutDown
	}
	var out C.SentryBytes
	if err := resultError("sentry_exporter_telemetry", resultCode(C.sentry_exporter_telemetry(c.ptr, &out)), ""); err != nil {
		return nil, err
	}
	defer C.sentry_bytes_free(out)
	return goBytes(out), nil
}

// Health returns what keeps Sentry from being used right now (the management API refusing
// the token, ingest unreachable, ...), "" when all is well (see sentry_exporter_health).
func (c *Core) Health() (string, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == nil {
		return "", ErrShutDown
	}
	var out C.SentryBytes
	if err := resultError("sentry_exporter_health", resultCode(C.sentry_exporter_health(c.ptr, &out)), ""); err != nil {
		return "", err
	}
	defer C.sentry_bytes_free(out)
	return string(goBytes(out)), nil
}

// BeginShutdown tells the core that the host is stopping: exports in flight and all later ones
// end within grace; what is not sent by then comes back as retryable. Calling it again never
// extends the deadline. Nothing happens after Free.
func (c *Core) BeginShutdown(grace time.Duration) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == nil {
		return nil
	}
	// Rounded up to whole milliseconds; a grace <= 0 is 0: end now.
	code := C.sentry_exporter_begin_shutdown(c.ptr, C.uint64_t(timeoutMillis(grace)))
	return resultError("sentry_exporter_begin_shutdown", resultCode(code), "")
}

// Shutdown stops the core's background work (bounded by the core to 5 s); later exports
// fail with ErrShutDown. Twice, without Start, or after Free is fine.
func (c *Core) Shutdown() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.ptr == nil {
		return nil
	}
	return resultError("sentry_exporter_shutdown", resultCode(C.sentry_exporter_shutdown(c.ptr)), "")
}

// Free releases the core. It waits for calls in progress; later calls do nothing.
func (c *Core) Free() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ptr == nil {
		return
	}
	C.sentry_exporter_free(c.ptr)
	c.ptr = nil
	// The core calls the log callback no more once sentry_exporter_free has returned.
	c.logger.Delete()
}

// sentryGoLog receives the core's log lines, from Rust threads, possibly concurrently. The
// line's structured fields (project, status, reason, count, ...) become zap fields.
//
//export sentryGoLog
func sentryGoLog(context C.size_t, level C.SentryLogLevel, msg *C.uint8_t, msgLen C.size_t,
	fields *C.SentryLogField, fieldsLen C.size_t) {
	// A Go panic must not unwind into the Rust frames below (it would take the process down):
	// an invalid handle (a log line after Free, which the core promises never to send) or a
	// failing zap core costs the log line, nothing more.
	defer func() { _ = recover() }()
	logger, ok := cgo.Handle(context).Value().(*zap.Logger)
	if !ok || logger == nil {
		return
	}
	text := goString(msg, msgLen)
	var zapFields []zap.Field
	if fields != nil && fieldsLen > 0 {
		// Borrowed for this call only: every byte is copied into Go strings.
		for _, f := range unsafe.Slice(fields, int(fieldsLen)) {
			key := goString(f.key, f.key_len)
			switch logFieldKind(f.kind) {
			case logFieldString:
				zapFields = append(zapFields, zap.String(key, goString(f.text, f.text_len)))
			case logFieldU64:
				zapFields = append(zapFields, zap.Uint64(key, uint64(f.number)))
			}
		}
	}
	switch logLevel(level) {
	case logLevelDebug:
		logger.Debug(text, zapFields...)
	case logLevelInfo:
		logger.Info(text, zapFields...)
	case logLevelWarn:
		logger.Warn(text, zapFields...)
	default:
		logger.Error(text, zapFields...)
	}
}

// goString copies n bytes of UTF-8 owned by the core into a Go string ("" for NULL or 0).
func goString(p *C.uint8_t, n C.size_t) string {
	if p == nil || n == 0 {
		return ""
	}
	return C.GoStringN((*C.char)(unsafe.Pointer(p)), C.int(n))
}

// headerConstants are the header's values of the enums that this package copies (resultCode,
// logLevel, Signal), by name, for the test that pins the copies to them: test files cannot
// use cgo.
var headerConstants = map[string]uint32{
	"SENTRY_RESULT_OK":              C.SENTRY_RESULT_OK,
	"SENTRY_RESULT_NULL_ARGUMENT":   C.SENTRY_RESULT_NULL_ARGUMENT,
	"SENTRY_RESULT_INVALID_CONFIG":  C.SENTRY_RESULT_INVALID_CONFIG,
	"SENTRY_RESULT_INVALID_REQUEST": C.SENTRY_RESULT_INVALID_REQUEST,
	"SENTRY_RESULT_NOT_STARTED":     C.SENTRY_RESULT_NOT_STARTED,
	"SENTRY_RESULT_SHUT_DOWN":       C.SENTRY_RESULT_SHUT_DOWN,
	"SENTRY_RESULT_RUNTIME_FAILED":  C.SENTRY_RESULT_RUNTIME_FAILED,
	"SENTRY_RESULT_PANIC":           C.SENTRY_RESULT_PANIC,
	"SENTRY_RESULT_INVALID_SIGNAL":  C.SENTRY_RESULT_INVALID_SIGNAL,
	"SENTRY_RESULT_MEMORY_FULL":     C.SENTRY_RESULT_MEMORY_FULL,
	"SENTRY_LOG_LEVEL_DEBUG":        C.SENTRY_LOG_LEVEL_DEBUG,
	"SENTRY_LOG_LEVEL_INFO":         C.SENTRY_LOG_LEVEL_INFO,
	"SENTRY_LOG_LEVEL_WARN":         C.SENTRY_LOG_LEVEL_WARN,
	"SENTRY_LOG_LEVEL_ERROR":        C.SENTRY_LOG_LEVEL_ERROR,
	"SENTRY_SIGNAL_TRACES":          C.SENTRY_SIGNAL_TRACES,
	"SENTRY_SIGNAL_LOGS":            C.SENTRY_SIGNAL_LOGS,
	"SENTRY_SIGNAL_METRICS":         C.SENTRY_SIGNAL_METRICS,
	"SENTRY_LOG_FIELD_KIND_STRING":  C.SENTRY_LOG_FIELD_KIND_STRING,
	"SENTRY_LOG_FIELD_KIND_U64":     C.SENTRY_LOG_FIELD_KIND_U64,
}
