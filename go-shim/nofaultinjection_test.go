//go:build cgo && !faultinjection

package sentryexporter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
)

// The library linked without the faultinjection tag is the release one, which the collector
// uses: the fault-injection project is an ordinary project there, and the request that injects
// a panic at the C boundary an invalid one (faultinjection_test.go has the tests of the panic).
func TestReleaseCoreHasNoFaultInjection(t *testing.T) {
	assert.False(t, ffi.FaultInjection)
	s := startStandin(t, ffi.FaultInjectionProject)
	core := newCore(t, s.config(), zap.NewNop())
	for _, signal := range []ffi.Signal{ffi.SignalTraces, ffi.SignalLogs} {
		out, err := core.Export(signal, request(t, signal, ffi.FaultInjectionProject), 10*time.Second)
		require.NoError(t, err)
		assert.Equal(t, uint64(1), out.ItemsSent, out.Message)
		_, err = core.Export(signal, []byte(ffi.FaultInjectionPanicRequest), 10*time.Second)
		assert.ErrorIs(t, err, ffi.ErrInvalidRequest, "no panic is injected: the bytes are no OTLP request")
	}
}
