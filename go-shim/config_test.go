//go:build cgo

package sentryexporter

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-sentry/sentryexporter/internal/metadata"
)

func TestUnmarshalDefaultConfig(t *testing.T) {
	factory := NewFactory()
	cfg := factory.CreateDefaultConfig()
	require.NoError(t, confmap.New().Unmarshal(&cfg))
	assert.Equal(t, factory.CreateDefaultConfig(), cfg)
	// The default config has no url, org_slug or auth_token.
	assert.ErrorContains(t, confmap.Validate(cfg), "url")
}

func TestLoadConfig(t *testing.T) {
	transport := http.DefaultTransport.(*http.Transport)
	storage := component.MustNewIDWithName("file_storage", "sentry")

	tests := []struct {
		id       component.ID
		expected component.Config
	}{
		{
			id: component.NewID(metadata.Type),
			expected: &Config{
				URL:                "https://sentry.io",
				OrgSlug:            "my-org",
				AuthToken:          "sntrys_default_token",
				MaxCreatedProjects: 1000,
				MaxProjectQueues:   200,
				Routing:            RoutingConfig{ProjectFromAttribute: "service.name"},
				Errors:             ErrorsConfig{Enabled: true, FromLogs: true, MinLogSeverity: "error", MaxPerMinute: 600, MaxRetryMiB: 64},
				Metrics:            MetricsConfig{MaxItemsPerMinute: 10000, MaxSeriesMiB: 64},
				ClientConfig: confighttp.ClientConfig{
					Timeout:           30 * time.Second,
					Compression:       configcompression.TypeGzip,
					MaxIdleConns:      transport.MaxIdleConns,    //nolint:staticcheck // SA1019: confighttp's own default
					IdleConnTimeout:   transport.IdleConnTimeout, //nolint:staticcheck // SA1019: confighttp's own default
					ForceAttemptHTTP2: true,
				},
				TimeoutConfig: exporterhelper.TimeoutConfig{Timeout: 30 * time.Second},
				QueueConfig:   configoptional.Some(defaultQueueConfig()),
				RetryConfig: configretry.BackOffConfig{
					Enabled:             true,
					InitialInterval:     5 * time.Second,
					RandomizationFactor: 0.5,
					Multiplier:          1.5,
					MaxInterval:         30 * time.Second,
					MaxElapsedTime:      0, // our override: retry until sent
				},
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "customname"),
			expected: &Config{
				URL:                "http://127.0.0.1:8000/sentry",
				OrgSlug:            "acme",
				AuthToken:          "sntrys_custom_token",
				AutoCreateProjects: true,
				Team:               "backend",
				MaxCreatedProjects: 25,
				MaxProjectQueues:   50,
				Routing: RoutingConfig{
					ProjectFromAttribute: "deployment.service",
					AttributeToProjectMapping: map[string]string{
						"orders-service": "ecommerce-orders",
						"Payments API":   "payments",
					},
					FallbackProject: "unrouted",
				},
				Errors: ErrorsConfig{Enabled: true, FromErrorSpans: true, MinLogSeverity: "error", InAppInclude: []string{"com.acme.", "/srv/app/"}, MaxRetryMiB: 64},
				Metrics: MetricsConfig{
					Include:           []string{"http.*", "db.client.*"},
					Exclude:           []string{"*.bucket"},
					MaxItemsPerMinute: 500,
					MaxSeriesMiB:      64,
				},
				ClientConfig: confighttp.ClientConfig{
					Timeout:     10 * time.Second,
					Compression: configcompression.TypeZstd,
					TLS: configtls.ClientConfig{
						Config: configtls.Config{
							CAFile:   "/etc/ssl/sentry-ca.pem",
							CertFile: "/etc/ssl/client.pem",
							KeyFile:  "/etc/ssl/client-key.pem",
						},
						InsecureSkipVerify: true,
					},
					ProxyURL: "http://proxy.internal:3128",
					Headers: configopaque.MapList{
						{Name: "X-Secret", Value: "hidden-value"},
						{Name: "X-Tenant", Value: "blue"},
					},
					MaxIdleConns:      transport.MaxIdleConns,    //nolint:staticcheck // SA1019: confighttp's own default
					IdleConnTimeout:   transport.IdleConnTimeout, //nolint:staticcheck // SA1019: confighttp's own default
					ForceAttemptHTTP2: true,
				},
				TimeoutConfig: exporterhelper.TimeoutConfig{Timeout: 45 * time.Second},
				QueueConfig: configoptional.Some(exporterhelper.QueueBatchConfig{
					Sizer:        exporterhelper.RequestSizerTypeRequests,
					NumConsumers: 4,
					QueueSize:    500,
					StorageID:    &storage,
					// flush_timeout set, the rest of the batch defaults kept.
					Batch: configoptional.Some(exporterhelper.BatchConfig{
						Sizer:        exporterhelper.RequestSizerTypeItems,
						FlushTimeout: time.Second,
						MinSize:      8192,
					}),
				}),
				RetryConfig: configretry.BackOffConfig{
					Enabled:             true,
					InitialInterval:     2 * time.Second,
					RandomizationFactor: 0.3,
					Multiplier:          2,
					MaxInterval:         20 * time.Second,
					MaxElapsedTime:      10 * time.Minute,
				},
			},
		},
	}

	legacy := createDefaultConfig().(*Config)
	legacy.DSN = "https://dsnsecretkey@o1.ingest.sentry.io/42"
	legacy.Environment = "prod"
	legacy.InsecureSkipVerify = true
	tests = append(tests, struct {
		id       component.ID
		expected component.Config
	}{id: component.NewIDWithName(metadata.Type, "legacy"), expected: legacy})

	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := NewFactory().CreateDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			require.NoError(t, confmap.Validate(cfg))
			assert.Equal(t, tt.expected, cfg)
		})
	}
}

// Each bad_*.yaml breaks one rule. The message must name the field and the kind of problem
// (the wording belongs to the core), and never the auth token.
func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		field   string
		problem string
	}{
		{name: "missing url", file: "bad_missing_url.yaml", field: "url:", problem: "is required"},
		{name: "url without scheme", file: "bad_url_without_scheme.yaml", field: "url:", problem: "not a valid URL"},
		{name: "url with another scheme", file: "bad_url_scheme.yaml", field: "url:", problem: "http or https"},
		{name: "url without host", file: "bad_url_without_host.yaml", field: "url:", problem: "host"},
		{name: "missing org_slug", file: "bad_missing_org_slug.yaml", field: "org_slug:", problem: "is required"},
		{name: "org_slug not a slug", file: "bad_org_slug.yaml", field: "org_slug:", problem: "not a valid slug"},
		{name: "missing auth_token", file: "bad_missing_auth_token.yaml", field: "auth_token:", problem: "is required"},
		{name: "team not a slug", file: "bad_team.yaml", field: "team:", problem: "not a valid slug"},
		{name: "negative max_created_projects", file: "bad_max_created_projects.yaml", field: "max_created_projects:", problem: "negative"},
		{name: "negative core_memory_limit_mib", file: "bad_core_memory_limit_mib.yaml", field: "core_memory_limit_mib:", problem: "negative"},
		{name: "negative errors.max_per_minute", file: "bad_errors_max_per_minute.yaml", field: "errors.max_per_minute:", problem: "negative"},
		{name: "negative metrics.max_items_per_minute", file: "bad_metrics_max_items_per_minute.yaml", field: "metrics.max_items_per_minute:", problem: "negative"},
		{name: "no room for metrics series", file: "bad_metrics_max_series_mib.yaml", field: "metrics.max_series_mib:", problem: "greater than zero"},
		{name: "empty metrics.include pattern", file: "bad_metrics_include_empty_pattern.yaml", field: "metrics.include:", problem: "must not be empty"},
		{name: "empty project_from_attribute", file: "bad_project_from_attribute.yaml", field: "routing.project_from_attribute:", problem: "must not be empty"},
		{name: "empty mapping key", file: "bad_mapping_empty_key.yaml", field: "routing.attribute_to_project_mapping", problem: "must not be empty"},
		{name: "mapping value not a slug", file: "bad_mapping_value.yaml", field: "routing.attribute_to_project_mapping", problem: "not a valid slug"},
		{name: "mapping value all digits", file: "bad_mapping_value_all_digits.yaml", field: "routing.attribute_to_project_mapping", problem: "all digits"},
		{name: "fallback_project not a slug", file: "bad_fallback_project.yaml", field: "routing.fallback_project:", problem: "not a valid slug"},
		{name: "compression the core does not support", file: "bad_compression.yaml", field: "http.compression:", problem: "not supported"},
		// confighttp itself rejects a name it does not know, while decoding ('http' > 'compression').
		{name: "compression nobody knows", file: "bad_compression_unknown.yaml", field: "'compression'", problem: "unsupported compression"},
		{name: "zero http timeout", file: "bad_http_timeout.yaml", field: "http.timeout:", problem: "greater than zero"},
		{name: "proxy_url not a URL", file: "bad_proxy_url.yaml", field: "http.proxy_url:", problem: "not a valid URL"},
		{name: "tls cert_file without key_file", file: "bad_tls_cert_without_key.yaml", field: "http.tls.cert_file:", problem: "key_file"},
		{name: "bad header name", file: "bad_header_name.yaml", field: "http.headers:", problem: "header name"},
		// The legacy dsn names one project without the management API: its settings beside it
		// are refused, the message naming both.
		{name: "dsn with url", file: "bad_dsn_with_url.yaml", field: "dsn:", problem: "cannot be used with url"},
		{name: "dsn with org_slug", file: "bad_dsn_with_org_slug.yaml", field: "dsn:", problem: "cannot be used with org_slug"},
		{name: "dsn with auth_token", file: "bad_dsn_with_auth_token.yaml", field: "dsn:", problem: "cannot be used with auth_token"},
		{name: "dsn with auto_create_projects", file: "bad_dsn_with_auto_create_projects.yaml", field: "dsn:", problem: "cannot be used with auto_create_projects"},
		{name: "dsn with routing", file: "bad_dsn_with_routing.yaml", field: "dsn:", problem: "cannot be used with routing.project_from_attribute"},
		{name: "dsn with a fallback project", file: "bad_dsn_with_fallback_project.yaml", field: "dsn:", problem: "cannot be used with routing.fallback_project"},
		{name: "dsn without project id", file: "bad_dsn_without_project_id.yaml", field: "dsn:", problem: "not a usable DSN"},
		{name: "dsn without key", file: "bad_dsn_without_key.yaml", field: "dsn:", problem: "not a usable DSN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := loadConfig(t, tt.file)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.field)
			assert.Contains(t, err.Error(), tt.problem)
			assert.NotContains(t, err.Error(), "sntrys_secret_token")
			assert.NotContains(t, err.Error(), "dsnsecretkey")
		})
	}
}

// loadConfig loads a testdata file as a sentry config, as the collector does: unmarshal over
// the defaults, then validate.
func loadConfig(t *testing.T, file string) error {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", file))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	if err := cm.Unmarshal(cfg); err != nil {
		return err
	}
	return confmap.Validate(cfg)
}

func TestCoreJSON(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.URL = "http://127.0.0.1:8000"
	cfg.OrgSlug = "acme"
	cfg.AuthToken = "secret"
	cfg.Routing.AttributeToProjectMapping = map[string]string{"orders-service": "ecommerce-orders"}
	cfg.ClientConfig.Headers = configopaque.MapList{{Name: "X-A", Value: "b"}}

	got, err := cfg.coreJSON()
	require.NoError(t, err)
	assert.JSONEq(t, `{"dsn":"","environment":"","insecure_skip_verify":false,
		"url":"http://127.0.0.1:8000","org_slug":"acme","auth_token":"secret",
		"auto_create_projects":false,"team":"","max_created_projects":1000,
		"max_project_queues":200,"core_memory_limit_mib":0,
		"routing":{"project_from_attribute":"service.name",
			"attribute_to_project_mapping":{"orders-service":"ecommerce-orders"},"fallback_project":""},
		"http":{"timeout_ms":30000,"compression":"gzip",
			"tls":{"ca_file":"","cert_file":"","key_file":"","insecure_skip_verify":false},
			"proxy_url":"","headers":{"X-A":"b"}},
		"errors":{"enabled":true,"from_logs":true,"from_error_spans":false,"min_log_severity":"error","in_app_include":[],"max_per_minute":600,"max_retry_mib":64},
		"metrics":{"include":[],"exclude":[],"max_items_per_minute":10000,"max_series_mib":64}}`, string(got))
}

func TestCoreJSONLegacyKeys(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.DSN = "https://key@o1.ingest.sentry.io/42"
	cfg.Environment = "prod"
	cfg.InsecureSkipVerify = true

	raw, err := cfg.coreJSON()
	require.NoError(t, err)
	var got struct {
		DSN                string `json:"dsn"`
		Environment        string `json:"environment"`
		InsecureSkipVerify bool   `json:"insecure_skip_verify"`
	}
	require.NoError(t, json.Unmarshal(raw, &got))
	assert.Equal(t, "https://key@o1.ingest.sentry.io/42", got.DSN)
	assert.Equal(t, "prod", got.Environment)
	assert.True(t, got.InsecureSkipVerify)
	// The DSN is opaque: the collector never prints it.
	assert.Equal(t, "[REDACTED]", cfg.DSN.String())
}

// decodeCoreJSON reads the fields of cfg's core JSON that got names.
func decodeCoreJSON(t *testing.T, cfg *Config, got any) {
	t.Helper()
	raw, err := cfg.coreJSON()
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, got))
}

// The dsn mode routes nothing: the default routing attribute goes to the core as no setting,
// any other as set (the core refuses it).
func TestCoreJSONRoutingAttribute(t *testing.T) {
	tests := []struct {
		name      string
		dsn       string
		attribute string
		want      string
	}{
		{name: "organization, default", attribute: "service.name", want: "service.name"},
		{name: "organization, set", attribute: "k8s.namespace.name", want: "k8s.namespace.name"},
		{name: "dsn, default", dsn: "https://key@o1.ingest.sentry.io/42", attribute: "service.name", want: ""},
		{name: "dsn, set", dsn: "https://key@o1.ingest.sentry.io/42", attribute: "k8s.namespace.name", want: "k8s.namespace.name"},
		{name: "blank dsn is none", dsn: "  ", attribute: "service.name", want: "service.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.DSN = configopaque.String(tt.dsn)
			cfg.Routing.ProjectFromAttribute = tt.attribute
			var got struct {
				Routing struct {
					ProjectFromAttribute string `json:"project_from_attribute"`
				} `json:"routing"`
			}
			decodeCoreJSON(t, cfg, &got)
			assert.Equal(t, tt.want, got.Routing.ProjectFromAttribute)
		})
	}
}

func TestCoreJSONHTTPTimeout(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		want    int64
	}{
		{name: "whole milliseconds", timeout: 1500 * time.Millisecond, want: 1500},
		{name: "sub-millisecond rounds up", timeout: time.Microsecond, want: 1},
		{name: "zero stays zero for the core to reject", timeout: 0, want: 0},
		{name: "negative stays negative", timeout: -2 * time.Second, want: -2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.ClientConfig.Timeout = tt.timeout
			var got struct {
				HTTP struct {
					TimeoutMillis int64 `json:"timeout_ms"`
				} `json:"http"`
			}
			decodeCoreJSON(t, cfg, &got)
			assert.Equal(t, tt.want, got.HTTP.TimeoutMillis)
		})
	}
}
