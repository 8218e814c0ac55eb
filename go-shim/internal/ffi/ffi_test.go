//go:build cgo

package ffi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// configJSON is the core's config as the component sends it (every key, with the defaults of
// createDefaultConfig) for url and org.
func configJSON(url, org string) string {
	config, err := json.Marshal(map[string]any{
		"dsn": "", "environment": "", "insecure_skip_verify": false,
		"url": url, "org_slug": org, "auth_token": "sntrys_secret_token",
		"auto_create_projects": false, "team": "", "max_created_projects": 1000, "max_project_queues": 200, "core_memory_limit_mib": 0,
		"routing": map[string]any{"project_from_attribute": "service.name",
			"attribute_to_project_mapping": map[string]string{}, "fallback_project": ""},
		"http": map[string]any{"timeout_ms": 30000, "compression": "gzip",
			"tls":       map[string]any{"ca_file": "", "cert_file": "", "key_file": "", "insecure_skip_verify": false},
			"proxy_url": "", "headers": map[string]string{}},
		"errors": map[string]any{"enabled": true, "from_logs": true, "from_error_spans": false,
			"min_log_severity": "error", "in_app_include": []string{}, "max_per_minute": 600, "max_retry_mib": 64},
		"metrics": map[string]any{"include": []string{}, "exclude": []string{}, "max_items_per_minute": 10000, "max_series_mib": 64},
	})
	if err != nil {
		panic(err)
	}
	return string(config)
}

var validJSON = configJSON("http://127.0.0.1:1", "acme")

func TestValidateConfig(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		wantErr string
	}{
		{name: "valid", json: validJSON},
		{name: "invalid names the field", json: configJSON("http://127.0.0.1:1", ""), wantErr: "org_slug"},
		{name: "not JSON", json: `{`, wantErr: "config"},
		{name: "empty", json: ``, wantErr: "config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateConfig([]byte(tt.json))
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.NotContains(t, err.Error(), "sntrys_secret_token")
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	core, err := New([]byte(configJSON("sentry.io", "acme")), zap.NewNop())
	require.ErrorIs(t, err, ErrInvalidConfig)
	assert.Contains(t, err.Error(), "url")
	assert.Nil(t, core)
}

func TestCoreLifecycle(t *testing.T) {
	logs, observed := observer.New(zapcore.DebugLevel)
	core, err := New([]byte(validJSON), zap.New(logs))
	require.NoError(t, err)

	_, err = core.Export(SignalTraces, nil, time.Second)
	assert.ErrorIs(t, err, ErrNotStarted, "export before start")

	require.NoError(t, core.Start())
	require.NoError(t, core.Start(), "start twice")

	_, err = core.Export(SignalTraces, []byte{0xff, 0xff}, time.Second)
	assert.ErrorIs(t, err, ErrInvalidRequest, "garbage request")

	// An empty request is a valid, empty ExportTraceServiceRequest: nothing to send or retry.
	out, err := core.Export(SignalLogs, nil, time.Second)
	require.NoError(t, err)
	assert.Empty(t, out.RetryRequest)

	require.NoError(t, core.BeginShutdown(time.Second))
	require.NoError(t, core.BeginShutdown(time.Minute), "begin shutdown twice")
	require.NoError(t, core.Shutdown())
	require.NoError(t, core.Shutdown(), "shutdown twice")
	_, err = core.Export(SignalTraces, nil, time.Second)
	assert.ErrorIs(t, err, ErrShutDown, "export after shutdown")

	core.Free()
	core.Free()
	_, err = core.Export(SignalTraces, nil, time.Second)
	assert.ErrorIs(t, err, ErrShutDown, "export after free")
	assert.ErrorIs(t, core.Start(), ErrShutDown, "start after free")
	assert.NoError(t, core.Shutdown(), "shutdown after free")
	assert.NoError(t, core.BeginShutdown(time.Second), "begin shutdown after free")

	for _, entry := range observed.All() {
		assert.NotContains(t, entry.Message, "sntrys_secret_token")
	}
}

// Health is "" until the core knows of a problem; validJSON's Sentry does not listen, so the
// start's load of the organization's projects fails and Health names it, without the token.
func TestCoreHealth(t *testing.T) {
	core, err := New([]byte(validJSON), zap.NewNop())
	require.NoError(t, err)
	defer core.Free()

	problem, err := core.Health()
	require.NoError(t, err)
	assert.Empty(t, problem, "no problem known before start")

	require.NoError(t, core.Start())
	require.Eventually(t, func() bool {
		problem, err = core.Health()
		return err == nil && problem != ""
	}, 10*time.Second, 10*time.Millisecond, "a problem is reported")
	assert.Contains(t, problem, "Sentry management API")
	assert.NotContains(t, problem, "sntrys_secret_token")

	core.Free()
	_, err = core.Health()
	assert.ErrorIs(t, err, ErrShutDown, "health after free")
}

func TestTimeoutMillis(t *testing.T) {
	tests := []struct {
		name string
		in   time.Duration
		want uint64
	}{
		{name: "none", in: 0, want: 0},
		{name: "negative is none", in: -time.Second, want: 0},
		{name: "sub-millisecond rounds up", in: time.Nanosecond, want: 1},
		{name: "whole", in: 2 * time.Second, want: 2000},
		{name: "rounds up", in: 1500*time.Microsecond + 1, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, timeoutMillis(tt.in))
		})
	}
}

// BeginShutdown ends an export in flight against a Sentry that never answers within the grace
// given, far before the export's own timeout, and hands its data back as retryable.
func TestBeginShutdownEndsExportInFlight(t *testing.T) {
	var requests atomic.Int64
	release := make(chan struct{})
	server := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer server.Close()
	defer close(release)

	core, err := New([]byte(configJSON(server.URL, "acme")), zap.NewNop())
	require.NoError(t, err)
	defer core.Free()
	require.NoError(t, core.Start())

	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "orders")
	rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("op")
	req, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	require.NoError(t, err)

	type result struct {
		out Outcome
		err error
	}
	done := make(chan result, 1)
	began := time.Now()
	go func() {
		out, err := core.Export(SignalTraces, req, time.Minute)
		done <- result{out, err}
	}()
	for requests.Load() == 0 && time.Since(began) < 10*time.Second {
		time.Sleep(10 * time.Millisecond)
	}
	require.Positive(t, requests.Load(), "the export reached the hanging Sentry")

	const grace = 300 * time.Millisecond
	require.NoError(t, core.BeginShutdown(grace))
	select {
	case r := <-done:
		t.Logf("the export ended %s after it began", time.Since(began))
		require.NoError(t, r.err)
		assert.Equal(t, uint64(1), r.out.ItemsRetryable)
		assert.NotEmpty(t, r.out.RetryRequest)
	case <-time.After(grace + 5*time.Second):
		t.Fatal("the export did not end after BeginShutdown")
	}
}

// The core's log lines reach zap with their structured fields: a span whose resource has no
// service.name (and no fallback_project) is dropped with a warning carrying status, reason
// and count as zap fields, its message unchanged.
func TestLogFieldsArriveAsZapFields(t *testing.T) {
	logs, observed := observer.New(zapcore.DebugLevel)
	core, err := New([]byte(validJSON), zap.New(logs))
	require.NoError(t, err)
	defer core.Free()
	require.NoError(t, core.Start())

	traces := ptrace.NewTraces()
	traces.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	req, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(traces)
	require.NoError(t, err)
	out, err := core.Export(SignalTraces, req, time.Second)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), out.ItemsDropped)

	dropped := observed.FilterMessageSnippet("missing_attribute").FilterLevelExact(zapcore.WarnLevel).All()
	require.Len(t, dropped, 1, "%v", observed.All())
	fields := dropped[0].ContextMap()
	assert.Equal(t, "dropped", fields["status"])
	assert.Equal(t, "missing_attribute", fields["reason"])
	assert.Equal(t, uint64(1), fields["count"])
	assert.Contains(t, dropped[0].Message, "1 spans dropped: missing_attribute")
}
