//go:build cgo

package sentryexporter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/otelcol-sentry/sentryexporter/internal/metadata"
)

func TestFactoryType(t *testing.T) {
	factory := NewFactory()
	assert.Equal(t, "sentry", factory.Type().String())
	assert.Equal(t, metadata.TracesStability, factory.TracesStability())
	assert.Equal(t, metadata.LogsStability, factory.LogsStability())
	assert.Equal(t, metadata.MetricsStability, factory.MetricsStability())
}

func TestCreateDefaultConfig(t *testing.T) {
	cfg, ok := NewFactory().CreateDefaultConfig().(*Config)
	require.True(t, ok)
	require.NoError(t, componenttest.CheckConfigStruct(cfg))

	assert.Empty(t, cfg.URL, "url has no default")
	assert.Empty(t, cfg.OrgSlug, "org_slug has no default")
	assert.Empty(t, cfg.AuthToken, "auth_token has no default")
	assert.False(t, cfg.AutoCreateProjects, "projects are not created by default")
	assert.Empty(t, cfg.Team, "team is discovered by default")
	assert.Equal(t, 1000, cfg.MaxCreatedProjects)
	assert.Equal(t, 200, cfg.MaxProjectQueues)
	assert.Zero(t, cfg.CoreMemoryLimitMiB, "the core's heap limit is derived from the memory available")
	assert.Equal(t, "service.name", cfg.Routing.ProjectFromAttribute)
	assert.Empty(t, cfg.Routing.AttributeToProjectMapping)
	assert.Empty(t, cfg.Routing.FallbackProject, "no fallback: unroutable data is dropped")
	assert.Empty(t, cfg.Metrics.Include, "every metric is sent by default")
	assert.Empty(t, cfg.Metrics.Exclude)
	assert.Equal(t, 10000, cfg.Metrics.MaxItemsPerMinute)
	assert.Equal(t, 64, cfg.Metrics.MaxSeriesMiB)

	assert.Equal(t, 30*time.Second, cfg.ClientConfig.Timeout, "http.timeout")
	assert.Equal(t, configcompression.TypeGzip, cfg.ClientConfig.Compression, "http.compression")
	assert.Empty(t, cfg.ClientConfig.ProxyURL)
	assert.Empty(t, cfg.ClientConfig.Headers)
	assert.False(t, cfg.ClientConfig.TLS.InsecureSkipVerify)

	assert.Equal(t, 30*time.Second, cfg.TimeoutConfig.Timeout, "timeout of one export call")
	require.True(t, cfg.QueueConfig.HasValue(), "sending_queue is on")
	queue := *cfg.QueueConfig.Get()
	batch := queue.Batch.Get()
	require.NotNil(t, batch, "sending_queue.batch is on")
	assert.Equal(t, 200*time.Millisecond, batch.FlushTimeout)
	assert.Equal(t, exporterhelper.RequestSizerTypeItems, batch.Sizer)
	assert.Equal(t, int64(8192), batch.MinSize)
	assert.Zero(t, batch.MaxSize)
	// The rest is exporterhelper's.
	queue.Batch = exporterhelper.NewDefaultQueueConfig().Batch
	assert.Equal(t, exporterhelper.NewDefaultQueueConfig(), queue)
	assert.True(t, cfg.RetryConfig.Enabled, "retry_on_failure is on")
	assert.Equal(t, 5*time.Second, cfg.RetryConfig.InitialInterval)
	assert.Equal(t, 30*time.Second, cfg.RetryConfig.MaxInterval)
	assert.Equal(t, time.Duration(0), cfg.RetryConfig.MaxElapsedTime,
		"retry until sent: a rate limit longer than exporterhelper's 5 min must not drop data")
	assert.Equal(t, configretry.NewDefaultBackOffConfig().Multiplier, cfg.RetryConfig.Multiplier)
	assert.Equal(t, configretry.NewDefaultBackOffConfig().RandomizationFactor, cfg.RetryConfig.RandomizationFactor)
}

func TestCreateExporters(t *testing.T) {
	factory := NewFactory()
	cfg := validConfig()
	set := exportertest.NewNopSettings(metadata.Type)
	ctx := context.Background()

	traces, err := factory.CreateTraces(ctx, set, cfg)
	require.NoError(t, err)
	require.NotNil(t, traces)
	logs, err := factory.CreateLogs(ctx, set, cfg)
	require.NoError(t, err)
	require.NotNil(t, logs)
	metrics, err := factory.CreateMetrics(ctx, set, cfg)
	require.NoError(t, err)
	require.NotNil(t, metrics)
	assert.Len(t, cores.byConfig, 1, "the exporters of one config share one core")

	require.NoError(t, traces.Shutdown(ctx))
	require.NoError(t, logs.Shutdown(ctx))
	assert.Len(t, cores.byConfig, 1, "the metrics exporter still holds the core")
	require.NoError(t, metrics.Shutdown(ctx))
	assert.Empty(t, cores.byConfig, "the core is freed with its last exporter")
}

func TestCreateWithInvalidConfigFails(t *testing.T) {
	cfg := validConfig()
	cfg.OrgSlug = ""
	_, err := NewFactory().CreateTraces(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.ErrorContains(t, err, "org_slug")
	assert.Empty(t, cores.byConfig)
}

// validConfig points at a port nothing listens on, so that nothing can be sent.
func validConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.URL = "http://127.0.0.1:1"
	cfg.OrgSlug = "acme"
	cfg.AuthToken = "sntrys_secret_token"
	return cfg
}
