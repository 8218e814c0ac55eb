//go:build cgo

package sentryexporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

const snapshotJSON = `{"metrics":[
 {"name":"items_dropped","description":"dropped","unit":"{items}","kind":"counter","points":[
   {"attributes":{"signal":"traces","reason":"missing_attribute"},"value":7},
   {"attributes":{"signal":"logs","reason":"too_large"},"value":0}]},
 {"name":"projects_cached","description":"cached","unit":"{projects}","kind":"gauge","points":[
   {"attributes":{},"value":3}]}]}`

func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]metricdata.Aggregation {
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	got := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			got[m.Name] = m.Data
		}
	}
	return got
}

func TestCoreMetricsAreObservedUnderTheirNamesAndAttributes(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	snapshot := snapshotJSON
	id := component.MustNewIDWithName("sentry", "eu")
	registration, err := registerCoreMetrics(provider, id, func() ([]byte, error) { return []byte(snapshot), nil }, nil)
	require.NoError(t, err)

	got := collect(t, reader)
	dropped, ok := got["otelcol_exporter_sentry_items_dropped"].(metricdata.Sum[int64])
	require.True(t, ok, "items_dropped is a counter: %#v", got)
	assert.True(t, dropped.IsMonotonic)
	want := attribute.NewSet(attribute.String("exporter", "sentry/eu"), attribute.String("signal", "traces"),
		attribute.String("reason", "missing_attribute"))
	found := false
	for _, p := range dropped.DataPoints {
		if p.Attributes.Equals(&want) {
			found = true
			assert.Equal(t, int64(7), p.Value)
		}
	}
	assert.True(t, found, "point with signal=traces reason=missing_attribute")
	cached, ok := got["otelcol_exporter_sentry_projects_cached"].(metricdata.Gauge[int64])
	require.True(t, ok, "projects_cached is a gauge")
	assert.Equal(t, int64(3), cached.DataPoints[0].Value)

	// Each collection reads the core again.
	snapshot = `{"metrics":[{"name":"projects_cached","kind":"gauge","points":[{"attributes":{},"value":5}]}]}`
	cached = collect(t, reader)["otelcol_exporter_sentry_projects_cached"].(metricdata.Gauge[int64])
	assert.Equal(t, int64(5), cached.DataPoints[0].Value)

	require.NoError(t, registration.Unregister())
	assert.Empty(t, collect(t, reader))
}

func TestUnreadableCoreCountersFailRegistration(t *testing.T) {
	provider := sdkmetric.NewMeterProvider()
	_, err := registerCoreMetrics(provider, component.MustNewID("sentry"), func() ([]byte, error) { return []byte("not json"), nil }, nil)
	assert.ErrorContains(t, err, "sentry core's counters")
}
