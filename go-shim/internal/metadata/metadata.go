// Package metadata holds the component type and stabilities declared in ../../metadata.yaml,
// written by hand (the collector's mdatagen would generate the same).
package metadata // import "github.com/otelcol-sentry/sentryexporter/internal/metadata"

import "go.opentelemetry.io/collector/component"

var (
	// Type is the exporter's type in the collector config: `sentry`.
	Type = component.MustNewType("sentry")
	// ScopeName is the instrumentation scope of the exporter's own telemetry.
	ScopeName = "github.com/otelcol-sentry/sentryexporter"
)

const (
	TracesStability  = component.StabilityLevelAlpha
	LogsStability    = component.StabilityLevelAlpha
	MetricsStability = component.StabilityLevelAlpha
)
