package sentryexporter // import "github.com/otelcol-sentry/sentryexporter"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-sentry/sentryexporter/internal/metadata"
)

// NewFactory creates the factory of the sentry exporter (traces, logs and metrics).
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		metadata.Type,
		createDefaultConfig,
		exporter.WithTraces(createTraces, metadata.TracesStability),
		exporter.WithLogs(createLogs, metadata.LogsStability),
		exporter.WithMetrics(createMetrics, metadata.MetricsStability),
	)
}

// createDefaultConfig holds every default; factory_test.go asserts each of them.
// defaultProjectFromAttribute is the resource attribute routed by when the config names none:
// the service name. The one definition of this default (coreJSON reads it for the dsn mode).
const defaultProjectFromAttribute = "service.name"

func createDefaultConfig() component.Config {
	clientConfig := confighttp.NewDefaultClientConfig()
	// Override: each HTTP request to Sentry gives up after 30 s (confighttp: no limit).
	clientConfig.Timeout = 30 * time.Second
	// Override: gzip the OTLP bodies, as the collector's otlphttp exporter does (confighttp: none).
	clientConfig.Compression = configcompression.TypeGzip

	timeoutConfig := exporterhelper.NewDefaultTimeoutConfig()
	// Override: one export call may look up or create projects before sending, so it gets
	// 30 s (exporterhelper: 5 s).
	timeoutConfig.Timeout = 30 * time.Second

	retryConfig := configretry.NewDefaultBackOffConfig()
	// Override: retry until sent (exporterhelper: give up after 5 min). A rate limit from
	// Sentry comes back as a delay (exporterhelper.NewThrottleRetry), and exporterhelper drops
	// a batch at once when that delay ends past max_elapsed_time: a 10-minute span limit would
	// lose the data under the default config. Without a time limit, data held back by a limit
	// waits in the queue and is sent when the limit ends; a full queue pushes back on the
	// receivers (the collector counts those as enqueue failures) instead of losing what it holds.
	retryConfig.MaxElapsedTime = 0

	return &Config{
		// Override: at most 1000 projects created by this exporter (Go zero value: 0).
		MaxCreatedProjects: 1000,
		// Override: at most 200 projects with a queue of their own (Go zero value: none).
		MaxProjectQueues: 200,
		Routing: RoutingConfig{
			// Override: route by the service name (Go zero value: empty).
			ProjectFromAttribute: defaultProjectFromAttribute,
		},
		// Override: exceptions become error events, from spans and log records, at most 600
		// per project and minute (Go zero values: off, no bound).
		Errors: ErrorsConfig{Enabled: true, FromLogs: true, MinLogSeverity: "error", MaxPerMinute: 600, MaxRetryMiB: 64},
		// Override: at most 10000 trace metric items per project and minute, 64 MiB of series
		// state (Go zero values: no bound, none).
		Metrics:       MetricsConfig{MaxItemsPerMinute: 10000, MaxSeriesMiB: 64},
		ClientConfig:  clientConfig,
		TimeoutConfig: timeoutConfig,
		// Queue and retry are on, with exporterhelper's defaults but for the queue's batching
		// and max_elapsed_time.
		QueueConfig: configoptional.Some(defaultQueueConfig()),
		RetryConfig: retryConfig,
	}
}

// defaultQueueConfig is exporterhelper's sending queue, with its batching on: the collector
// moves batching out of the batch processor into each exporter's queue, and here that queue is
// a project's own, so a batch holds one project's data whatever the receivers' requests mix.
func defaultQueueConfig() exporterhelper.QueueBatchConfig {
	queue := exporterhelper.NewDefaultQueueConfig()
	// Override: batch (exporterhelper: only with `batch:` in the config or its feature gate on),
	// with exporterhelper's batch defaults: flush after 200 ms or at 8192 items. A batch then
	// holds at most that plus one client request; one Sentry finds too large (413) the core
	// sends in halves.
	queue.Batch.GetOrInsertDefault()
	return queue
}

func createTraces(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Traces, error) {
	e, err := newSentryExporter(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	return sentryTraces{newProjectExporters(e, tracesCodec, set)}, nil
}

func createLogs(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	e, err := newSentryExporter(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	return sentryLogs{newProjectExporters(e, logsCodec, set)}, nil
}

func createMetrics(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Metrics, error) {
	e, err := newSentryExporter(cfg.(*Config), set)
	if err != nil {
		return nil, err
	}
	return sentryMetrics{newProjectExporters(e, metricsCodec, set)}, nil
}
