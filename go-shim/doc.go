// Package sentryexporter is the collector component of the sentry exporter: it sends OTLP
// traces and logs to Sentry, the exceptions they hold as Sentry issues (error events), and OTLP
// metrics as Sentry trace metrics, one Sentry project per service.
//
// All of the work (routing, project lookup and creation, rate limits, sending) is done by a
// Rust core linked as a static library and called through internal/ffi. This package holds
// the config (validated by the core), the factory, and the push functions that turn the
// core's outcome into what exporterhelper's queue and retry expect.
package sentryexporter // import "github.com/otelcol-sentry/sentryexporter"
