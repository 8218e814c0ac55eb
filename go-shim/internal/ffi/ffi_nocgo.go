//go:build !cgo

package ffi

import (
	"time"

	"go.uber.org/zap"
)

// FaultInjection is false: there is no core at all.
const FaultInjection = false

// ValidateConfig fails: without cgo there is no core to validate the config.
func ValidateConfig([]byte) error { return ErrNoCgo }

// Core is a placeholder with the cgo build's API; it is never created.
type Core struct{}

// New fails with ErrNoCgo.
func New([]byte, *zap.Logger) (*Core, error) { return nil, ErrNoCgo }

// Start fails with ErrNoCgo.
func (*Core) Start() error { return ErrNoCgo }

// Telemetry fails with ErrNoCgo.
func (*Core) Telemetry() ([]byte, error) { return nil, ErrNoCgo }

// Health fails with ErrNoCgo.
func (*Core) Health() (string, error) { return "", ErrNoCgo }

// Export fails with ErrNoCgo.
func (*Core) Export(Signal, []byte, time.Duration) (Outcome, error) { return Outcome{}, ErrNoCgo }

// Route fails with ErrNoCgo.
func (*Core) Route(Signal, []byte, []uint64) (Routing, error) { return Routing{}, ErrNoCgo }

// RestoreQueues fails with ErrNoCgo.
func (*Core) RestoreQueues([]string) ([]string, error) { return nil, ErrNoCgo }

// BeginShutdown does nothing.
func (*Core) BeginShutdown(time.Duration) error { return nil }

// Shutdown does nothing.
func (*Core) Shutdown() error { return nil }

// Free does nothing.
func (*Core) Free() {}
