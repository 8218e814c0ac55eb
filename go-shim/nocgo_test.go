//go:build !cgo

package sentryexporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
	"github.com/otelcol-sentry/sentryexporter/internal/metadata"
)

// Without cgo there is no core: loading and creating fail and say how to build instead.
// (The other tests need the core and build only with cgo.)
func TestWithoutCgo(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.URL = "https://sentry.io"
	cfg.OrgSlug = "acme"
	cfg.AuthToken = "sntrys_secret_token"

	tests := []struct {
		name string
		run  func() error
	}{
		{name: "validate", run: cfg.Validate},
		{name: "create traces", run: func() error {
			_, err := NewFactory().CreateTraces(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
			return err
		}},
		{name: "create logs", run: func() error {
			_, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
			return err
		}},
		{name: "create metrics", run: func() error {
			_, err := NewFactory().CreateMetrics(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			require.ErrorIs(t, err, ffi.ErrNoCgo)
			assert.Contains(t, err.Error(), "CGO_ENABLED=1")
		})
	}
}
