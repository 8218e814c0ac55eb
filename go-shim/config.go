package sentryexporter // import "github.com/otelcol-sentry/sentryexporter"

import (
	"encoding/json"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
)

// Config is the configuration of the sentry exporter. The keys of the collector-contrib
// sentry exporter (url, org_slug, auth_token, auto_create_projects, routing, http, timeout,
// sending_queue) mean the same here.
//
// The legacy keys of older guides (dsn, environment, insecure_skip_verify) are accepted too: with
// dsn set, every signal goes to that DSN's project and the management API is never called.
type Config struct {
	// DSN is the legacy single-project mode: every resource goes to this project's ingest
	// endpoint, with no management API. Excludes url, org_slug, auth_token, team,
	// auto_create_projects and routing. Never printed.
	DSN configopaque.String `mapstructure:"dsn"`
	// Environment (legacy) sets deployment.environment.name on every resource that states no
	// environment, in either mode.
	Environment string `mapstructure:"environment"`
	// InsecureSkipVerify (legacy) means http.tls.insecure_skip_verify.
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify"`
	// URL is the base URL of Sentry, e.g. https://sentry.io or a self-hosted instance.
	URL string `mapstructure:"url"`
	// OrgSlug is the slug of the Sentry organization.
	OrgSlug string `mapstructure:"org_slug"`
	// AuthToken authenticates against Sentry's management API. Never printed.
	AuthToken configopaque.String `mapstructure:"auth_token"`
	// AutoCreateProjects creates a missing project the first time data is routed to it.
	AutoCreateProjects bool `mapstructure:"auto_create_projects"`
	// Team is the slug of the team that owns created projects; empty: the organization's first team.
	Team string `mapstructure:"team"`
	// MaxCreatedProjects bounds how many projects this exporter creates.
	MaxCreatedProjects int `mapstructure:"max_created_projects"`
	// Routing chooses the Sentry project of each resource.
	Routing RoutingConfig `mapstructure:"routing"`
	// Errors makes Sentry error events (issues) of OpenTelemetry exceptions.
	Errors ErrorsConfig `mapstructure:"errors"`
	// Metrics chooses which OpenTelemetry metrics become Sentry trace metrics, and bounds them.
	Metrics MetricsConfig `mapstructure:"metrics"`
	// MaxProjectQueues bounds the projects with a queue of their own; the others (and projects
	// not known to exist in Sentry) share one.
	MaxProjectQueues int `mapstructure:"max_project_queues"`
	// CoreMemoryLimitMiB bounds the Rust core's heap, which memory_limiter does not see: above
	// it no export starts, the data waits in its queue. 0: a quarter of the memory the
	// collector may use (its cgroup's limit, else the machine's).
	CoreMemoryLimitMiB int `mapstructure:"core_memory_limit_mib"`

	// ClientConfig holds the HTTP client settings used towards Sentry.
	ClientConfig confighttp.ClientConfig `mapstructure:"http"`
	// TimeoutConfig bounds one export call of a project's queue (`timeout`): one project's batch.
	TimeoutConfig exporterhelper.TimeoutConfig `mapstructure:",squash"`
	// QueueConfig is exporterhelper's sending queue.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// RetryConfig is exporterhelper's retry of failed (retryable) data.
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`
}

// RoutingConfig maps a resource attribute to a Sentry project slug.
type RoutingConfig struct {
	// ProjectFromAttribute is the resource attribute whose value names the project.
	ProjectFromAttribute string `mapstructure:"project_from_attribute"`
	// AttributeToProjectMapping maps attribute values to project slugs, overriding the
	// value made slug-like.
	AttributeToProjectMapping map[string]string `mapstructure:"attribute_to_project_mapping"`
	// FallbackProject receives data without a usable attribute; empty: such data is dropped.
	FallbackProject string `mapstructure:"fallback_project"`
}

// ErrorsConfig chooses which exceptions become Sentry error events.
type ErrorsConfig struct {
	// Enabled makes one error event per exception (span events named exception, and log
	// records when FromLogs).
	Enabled bool `mapstructure:"enabled"`
	// FromLogs makes events of log records carrying exception.type or exception.message.
	FromLogs bool `mapstructure:"from_logs"`
	// FromErrorSpans makes events of spans with status ERROR and no exception event.
	FromErrorSpans bool `mapstructure:"from_error_spans"`
	// MinLogSeverity is the least severity (trace, debug, info, warn, error, fatal) of a log
	// record with an exception that makes an issue; below it the record is only a Sentry log.
	MinLogSeverity string `mapstructure:"min_log_severity"`
	// InAppInclude lists module or path prefixes of the application's own code (frames
	// marked in_app); empty: each runtime's default rule.
	InAppInclude []string `mapstructure:"in_app_include"`
	// MaxPerMinute bounds the events per project and minute; 0: no bound.
	MaxPerMinute int `mapstructure:"max_per_minute"`
	// MaxRetryMiB bounds the memory of the events Sentry did not take yet, kept by the
	// exporter to be sent again (their JSON, in MiB); beyond, a failed event is dropped.
	MaxRetryMiB int `mapstructure:"max_retry_mib"`
}

// MetricsConfig chooses which metrics become Sentry trace metrics (counter, gauge and
// distribution items) and bounds how many.
type MetricsConfig struct {
	// Include lists metric name patterns (`*` matches any run of characters); empty: every metric.
	Include []string `mapstructure:"include"`
	// Exclude lists metric name patterns that are not sent, also when Include matches them.
	Exclude []string `mapstructure:"exclude"`
	// MaxItemsPerMinute bounds the trace metric items per project and minute; 0: no bound.
	MaxItemsPerMinute int `mapstructure:"max_items_per_minute"`
	// MaxSeriesMiB bounds the memory of the series' state (the last cumulative value of each,
	// its buckets included, to make deltas); beyond, the least recently used are forgotten.
	MaxSeriesMiB int `mapstructure:"max_series_mib"`
}

var _ component.Config = (*Config)(nil)

// Validate checks the whole configuration. The rules live in the Rust core, which receives
// the same JSON at creation; its message names the YAML field and the problem.
func (c *Config) Validate() error {
	configJSON, err := c.coreJSON()
	if err != nil {
		return err
	}
	return ffi.ValidateConfig(configJSON)
}

// coreConfig is the JSON the core reads (rust/core/src/config.rs); keys follow the YAML.
type coreConfig struct {
	DSN                string      `json:"dsn"`
	Environment        string      `json:"environment"`
	InsecureSkipVerify bool        `json:"insecure_skip_verify"`
	URL                string      `json:"url"`
	OrgSlug            string      `json:"org_slug"`
	AuthToken          string      `json:"auth_token"`
	AutoCreateProjects bool        `json:"auto_create_projects"`
	Team               string      `json:"team"`
	MaxCreatedProjects int         `json:"max_created_projects"`
	MaxProjectQueues   int         `json:"max_project_queues"`
	CoreMemoryLimitMiB int         `json:"core_memory_limit_mib"`
	Routing            coreRouting `json:"routing"`
	HTTP               coreHTTP    `json:"http"`
	Errors             coreErrors  `json:"errors"`
	Metrics            coreMetrics `json:"metrics"`
}

type coreMetrics struct {
	Include           []string `json:"include"`
	Exclude           []string `json:"exclude"`
	MaxItemsPerMinute int      `json:"max_items_per_minute"`
	MaxSeriesMiB      int      `json:"max_series_mib"`
}

type coreErrors struct {
	Enabled        bool     `json:"enabled"`
	FromLogs       bool     `json:"from_logs"`
	FromErrorSpans bool     `json:"from_error_spans"`
	MinLogSeverity string   `json:"min_log_severity"`
	InAppInclude   []string `json:"in_app_include"`
	MaxPerMinute   int      `json:"max_per_minute"`
	MaxRetryMiB    int      `json:"max_retry_mib"`
}

type coreRouting struct {
	ProjectFromAttribute      string            `json:"project_from_attribute"`
	AttributeToProjectMapping map[string]string `json:"attribute_to_project_mapping"`
	FallbackProject           string            `json:"fallback_project"`
}

type coreHTTP struct {
	TimeoutMillis int64             `json:"timeout_ms"`
	Compression   string            `json:"compression"`
	TLS           coreTLS           `json:"tls"`
	ProxyURL      string            `json:"proxy_url"`
	Headers       map[string]string `json:"headers"`
}

type coreTLS struct {
	CAFile             string `json:"ca_file"`
	CertFile           string `json:"cert_file"`
	KeyFile            string `json:"key_file"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
}

// routingAttribute is routing.project_from_attribute as the core takes it. The dsn mode
// routes nothing, so there the default attribute stands for no setting and goes as empty;
// the core refuses any other, which would be ignored. The default is defined once, in
// createDefaultConfig: the core has none of its own.
func (c *Config) routingAttribute() string {
	attribute := c.Routing.ProjectFromAttribute
	// The core takes a blank dsn as none.
	if strings.TrimSpace(string(c.DSN)) != "" && attribute == defaultProjectFromAttribute {
		return ""
	}
	return attribute
}

// coreJSON is the one place that turns the Config into the core's JSON. It holds the auth
// token and the DSN in clear: never log it.
//
// Of confighttp.ClientConfig the core uses timeout, compression, tls (ca_file, cert_file,
// key_file, insecure_skip_verify), proxy_url and headers. The other settings (endpoint, auth,
// buffer sizes, keep-alive and HTTP/2 tuning, cookies, middlewares, compression_params, the
// PEM and TPM variants of tls, ...) have no counterpart in the core's client and are ignored.
func (c *Config) coreJSON() ([]byte, error) {
	headers := make(map[string]string, len(c.ClientConfig.Headers))
	for name, value := range c.ClientConfig.Headers.Iter {
		headers[name] = string(value)
	}
	mapping := c.Routing.AttributeToProjectMapping
	if mapping == nil {
		mapping = map[string]string{}
	}
	inApp := c.Errors.InAppInclude
	if inApp == nil {
		inApp = []string{}
	}
	include := c.Metrics.Include
	if include == nil {
		include = []string{}
	}
	exclude := c.Metrics.Exclude
	if exclude == nil {
		exclude = []string{}
	}
	tls := c.ClientConfig.TLS
	return json.Marshal(coreConfig{
		DSN:                string(c.DSN),
		Environment:        c.Environment,
		InsecureSkipVerify: c.InsecureSkipVerify,
		URL:                c.URL,
		OrgSlug:            c.OrgSlug,
		AuthToken:          string(c.AuthToken),
		AutoCreateProjects: c.AutoCreateProjects,
		Team:               c.Team,
		MaxCreatedProjects: c.MaxCreatedProjects,
		MaxProjectQueues:   c.MaxProjectQueues,
		CoreMemoryLimitMiB: c.CoreMemoryLimitMiB,
		Routing: coreRouting{
			ProjectFromAttribute:      c.routingAttribute(),
			AttributeToProjectMapping: mapping,
			FallbackProject:           c.Routing.FallbackProject,
		},
		HTTP: coreHTTP{
			TimeoutMillis: durationMillis(c.ClientConfig.Timeout),
			Compression:   string(c.ClientConfig.Compression),
			TLS: coreTLS{
				CAFile:             tls.CAFile,
				CertFile:           tls.CertFile,
				KeyFile:            tls.KeyFile,
				InsecureSkipVerify: tls.InsecureSkipVerify,
			},
			ProxyURL: c.ClientConfig.ProxyURL,
			Headers:  headers,
		},
		Errors: coreErrors{
			Enabled:        c.Errors.Enabled,
			FromLogs:       c.Errors.FromLogs,
			FromErrorSpans: c.Errors.FromErrorSpans,
			MinLogSeverity: c.Errors.MinLogSeverity,
			InAppInclude:   inApp,
			MaxPerMinute:   c.Errors.MaxPerMinute,
			MaxRetryMiB:    c.Errors.MaxRetryMiB,
		},
		Metrics: coreMetrics{
			Include:           include,
			Exclude:           exclude,
			MaxItemsPerMinute: c.Metrics.MaxItemsPerMinute,
			MaxSeriesMiB:      c.Metrics.MaxSeriesMiB,
		},
	})
}

// durationMillis rounds a positive duration up to whole milliseconds (1µs must not become the
// invalid 0); zero and negative durations pass through for the core to reject.
func durationMillis(d time.Duration) int64 {
	if d > 0 {
		return int64((d + time.Millisecond - 1) / time.Millisecond)
	}
	return d.Milliseconds()
}
