// Package ffi is the Go side of the C ABI of the Rust core (include/sentry_exporter.h).
//
// ffi.go holds every call into C (build tag cgo); link_release.go names the library to link
// (link_faultinjection.go instead, with the faultinjection build tag, for tests). ffi_nocgo.go
// has the same API and fails with ErrNoCgo, so that the module still compiles without cgo and
// says why it cannot work. This file holds the parts that need no C.
package ffi // import "github.com/otelcol-sentry/sentryexporter/internal/ffi"

import (
	"errors"
	"fmt"
)

// CoreDigest names the build of the Rust library linked in; `make build` sets it with
// -ldflags -X. Go's build cache does not notice a rebuilt static library, but a changed -X
// value makes it link again, so the binary never keeps an old core.
var CoreDigest = "unknown"

// FaultInjectionProject is the project whose data makes a core built with the test-only
// `fault-injection` feature (FaultInjection true) panic inside an export, after the project's
// lookup, while the batch's other projects are in flight. A release core routes it like any
// other project.
const FaultInjectionProject = "fault-injection-panic"

// FaultInjectionPanicRequest is the request whose export makes a core built with the
// `fault-injection` feature panic outside its per-project work, so that the panic is caught at
// the C boundary (ErrPanic). The bytes are no OTLP message: a release core answers
// ErrInvalidRequest.
const FaultInjectionPanicRequest = "fault-injection-panic"

// Signal is the kind of OTLP request handed to Export and Route.
type Signal uint32

const (
	// SignalTraces: the request is an ExportTraceServiceRequest.
	SignalTraces Signal = 0
	// SignalLogs: the request is an ExportLogsServiceRequest.
	SignalLogs Signal = 1
	// SignalMetrics: the request is an ExportMetricsServiceRequest.
	SignalMetrics Signal = 2
)

func (s Signal) String() string {
	switch s {
	case SignalTraces:
		return "traces"
	case SignalLogs:
		return "logs"
	case SignalMetrics:
		return "metrics"
	default:
		return fmt.Sprintf("signal(%d)", uint32(s))
	}
}

// Outcome is what the core did with one request, copied into Go memory.
type Outcome struct {
	// ItemsSent were accepted by Sentry.
	ItemsSent uint64
	// ItemsDropped are lost for good (routing, rejected by Sentry); the core has logged them.
	ItemsDropped uint64
	// ItemsRetryable are the items in RetryRequest.
	ItemsRetryable uint64
	// RetryAfterMillis is the delay before a retry, 0 when none is known.
	RetryAfterMillis uint64
	// RetryRequest is a protobuf request of the same signal holding only the items to retry;
	// empty when there is nothing to retry.
	RetryRequest []byte
	// Message summarises what failed; empty when everything was sent.
	Message string
}

// Routing tells where each resource of one request goes (see Core.Route).
type Routing struct {
	// Resources has one entry per resource of the request, in order: the index in Projects
	// of its project, or Unrouted when it goes to none.
	Resources []int
	// Projects are the request's projects, in order of first appearance.
	Projects []string
	// OwnQueue says, for each project, whether its data goes to a queue of its own (else to
	// the queue the other projects share).
	OwnQueue []bool
}

// Unrouted is the entry of Routing.Resources for a resource that goes to no project.
const Unrouted = -1

// Sentinel errors; the errors returned by this package match them with errors.Is.
var (
	// ErrNoCgo: the module was built without cgo, so there is no core to call.
	ErrNoCgo = errors.New("the sentry exporter needs cgo: build with CGO_ENABLED=1")
	// ErrInvalidConfig: the core rejected the configuration; the error text names the field.
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrInvalidRequest: the core could not read the request bytes; retrying cannot help.
	ErrInvalidRequest = errors.New("the sentry core could not decode the request")
	// ErrNotStarted: Export before Start.
	ErrNotStarted = errors.New("the sentry exporter is not started")
	// ErrShutDown: the core is shut down (or freed) and refuses new work.
	ErrShutDown = errors.New("the sentry exporter is shut down")
	// ErrRuntime: the core could not create or use its runtime.
	ErrRuntime = errors.New("the sentry core's runtime failed")
	// ErrMemoryFull: the core's heap is over its limit (core_memory_limit_mib); the export did
	// not start and may be tried again later.
	ErrMemoryFull = errors.New("the sentry core's heap is over core_memory_limit_mib: the export waits")
	// ErrPanic: the core panicked; the panic was caught at the boundary.
	ErrPanic = errors.New("the sentry core panicked (caught at the C boundary)")
	// ErrInternal: a bug in the shim (a NULL argument, an unknown result code).
	ErrInternal = errors.New("internal error in the sentry exporter's C boundary")
)

// resultCode mirrors enum SentryResult.
type resultCode uint32

const (
	resultOK             resultCode = 0
	resultNullArgument   resultCode = 1
	resultInvalidConfig  resultCode = 2
	resultInvalidRequest resultCode = 3
	resultNotStarted     resultCode = 4
	resultShutDown       resultCode = 5
	resultRuntimeFailed  resultCode = 6
	resultPanic          resultCode = 7
	resultInvalidSignal  resultCode = 8
	resultMemoryFull     resultCode = 9
)

// logLevel mirrors enum SentryLogLevel.
type logLevel uint32

const (
	logLevelDebug logLevel = 0
	logLevelInfo  logLevel = 1
	logLevelWarn  logLevel = 2
	logLevelError logLevel = 3
)

// logFieldKind mirrors enum SentryLogFieldKind: what a log line's field holds.
type logFieldKind uint32

const (
	logFieldString logFieldKind = 0
	logFieldU64    logFieldKind = 1
)

// resultError turns a result code of the C function op into an error (nil for OK).
// detail, when not empty, is the core's own message and replaces the generic text.
func resultError(op string, code resultCode, detail string) error {
	var sentinel error
	switch code {
	case resultOK:
		return nil
	case resultInvalidConfig:
		// The core's message names the YAML field; it is the whole error.
		if detail == "" {
			return ErrInvalidConfig
		}
		return &detailError{sentinel: ErrInvalidConfig, msg: detail}
	case resultNullArgument, resultInvalidSignal:
		sentinel = ErrInternal
	case resultInvalidRequest:
		sentinel = ErrInvalidRequest
	case resultNotStarted:
		sentinel = ErrNotStarted
	case resultShutDown:
		sentinel = ErrShutDown
	case resultRuntimeFailed:
		sentinel = ErrRuntime
	case resultPanic:
		sentinel = ErrPanic
	case resultMemoryFull:
		sentinel = ErrMemoryFull
	default:
		return fmt.Errorf("%s: unknown result code %d: %w", op, uint32(code), ErrInternal)
	}
	if detail != "" {
		return &detailError{sentinel: sentinel, msg: fmt.Sprintf("%s: %s", sentinel, detail)}
	}
	return fmt.Errorf("%s: %w", op, sentinel)
}

// detailError carries the core's message as its text and matches its sentinel.
type detailError struct {
	sentinel error
	msg      string
}

func (e *detailError) Error() string        { return e.msg }
func (e *detailError) Is(target error) bool { return target == e.sentinel }
