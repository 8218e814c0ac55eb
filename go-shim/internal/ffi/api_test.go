package ffi

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestResultError(t *testing.T) {
	tests := []struct {
		name     string
		code     resultCode
		detail   string
		sentinel error
		contains string
	}{
		{name: "ok is no error", code: resultOK},
		{name: "invalid config is the core's message", code: resultInvalidConfig, detail: "org_slug: is required", sentinel: ErrInvalidConfig, contains: "org_slug: is required"},
		{name: "invalid config without message", code: resultInvalidConfig, sentinel: ErrInvalidConfig, contains: "invalid configuration"},
		{name: "null argument is internal", code: resultNullArgument, sentinel: ErrInternal, contains: "sentry_x"},
		{name: "invalid signal is internal", code: resultInvalidSignal, sentinel: ErrInternal, contains: "sentry_x"},
		{name: "invalid request", code: resultInvalidRequest, sentinel: ErrInvalidRequest, contains: "decode"},
		{name: "not started", code: resultNotStarted, sentinel: ErrNotStarted, contains: "not started"},
		{name: "shut down", code: resultShutDown, sentinel: ErrShutDown, contains: "shut down"},
		{name: "runtime failed with detail", code: resultRuntimeFailed, detail: "no threads", sentinel: ErrRuntime, contains: "no threads"},
		{name: "panic", code: resultPanic, sentinel: ErrPanic, contains: "panicked"},
		{name: "core memory full", code: resultMemoryFull, sentinel: ErrMemoryFull, contains: "core_memory_limit_mib"},
		{name: "unknown code", code: 99, sentinel: ErrInternal, contains: "99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := resultError("sentry_x", tt.code, tt.detail)
			if tt.sentinel == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.sentinel)
			assert.Contains(t, err.Error(), tt.contains)
			for _, other := range []error{ErrInvalidConfig, ErrInvalidRequest, ErrNotStarted, ErrShutDown, ErrRuntime, ErrPanic, ErrMemoryFull, ErrInternal} {
				if other != tt.sentinel {
					assert.False(t, errors.Is(err, other), "%v is not %v", err, other)
				}
			}
		})
	}
}
