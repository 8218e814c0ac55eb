//go:build cgo

package sentryexporter

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
)

// The exporter's own metrics are defined in the core; metadata.yaml declares them again so that
// mdatagen documents them (documentation.md). This test fails when the two differ.

// mdatagenPrefix is what mdatagen puts before a telemetry metric's key in its name.
const mdatagenPrefix = "otelcol_"

// componentMetadata is what metadata.yaml says of the published metrics.
type componentMetadata struct {
	Attributes map[string]struct {
		Enum []string `yaml:"enum"`
	} `yaml:"attributes"`
	Telemetry struct {
		Metrics map[string]declaredMetric `yaml:"metrics"`
	} `yaml:"telemetry"`
}

type declaredMetric struct {
	Description string        `yaml:"description"`
	Unit        string        `yaml:"unit"`
	Sum         *declaredData `yaml:"sum"`
	Gauge       *declaredData `yaml:"gauge"`
	Attributes  []string      `yaml:"attributes"`
}

type declaredData struct {
	ValueType string `yaml:"value_type"`
	Monotonic bool   `yaml:"monotonic"`
}

func (d declaredMetric) kind() string {
	switch {
	case d.Sum != nil && d.Sum.Monotonic:
		return "monotonic sum of " + d.Sum.ValueType
	case d.Sum != nil:
		return "sum of " + d.Sum.ValueType
	case d.Gauge != nil:
		return "gauge of " + d.Gauge.ValueType
	}
	return "neither sum nor gauge"
}

// publishedKind is what registerCoreMetrics makes of a core metric's kind: an Int64
// ObservableCounter (a monotonic sum) or ObservableGauge.
func publishedKind(m coreMetric) string {
	if m.Kind == "gauge" {
		return "gauge of int"
	}
	return "monotonic sum of int"
}

// snapshotMetrics are the metrics of a real core's snapshot, each of which registerCoreMetrics
// publishes. The core is not started: no point depends on timing.
func snapshotMetrics(t *testing.T) []coreMetric {
	configJSON, err := validConfig().coreJSON()
	require.NoError(t, err)
	core, err := ffi.New(configJSON, zap.NewNop())
	require.NoError(t, err)
	defer core.Free()
	snapshot, err := readSnapshot(core.Telemetry)
	require.NoError(t, err)
	return snapshot.Metrics
}

// documentedNames are the metrics documentation.md has a section for.
func documentedNames(t *testing.T) []string {
	doc, err := os.ReadFile("documentation.md")
	require.NoError(t, err)
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^### (\S+)$`).FindAllSubmatch(doc, -1) {
		names = append(names, string(m[1]))
	}
	return names
}

func TestPublishedMetricsAreTheDeclaredAndDocumentedOnes(t *testing.T) {
	raw, err := os.ReadFile("metadata.yaml")
	require.NoError(t, err)
	var md componentMetadata
	require.NoError(t, yaml.Unmarshal(raw, &md))
	declared := md.Telemetry.Metrics

	var names []string
	published := map[string]bool{}
	for _, m := range snapshotMetrics(t) {
		name := metricPrefix + m.Name
		names = append(names, name)
		published[name] = true
		d, ok := declared[strings.TrimPrefix(name, mdatagenPrefix)]
		if !assert.Truef(t, ok, "%s is published, not declared in metadata.yaml", name) {
			continue
		}
		assert.Equalf(t, d.Description, m.Description, "%s: description", name)
		assert.Equalf(t, d.Unit, m.Unit, "%s: unit", name)
		assert.Equalf(t, d.kind(), publishedKind(m), "%s: kind", name)
		// As far as points show them: a metric has none before it counts (management_calls).
		if len(m.Points) == 0 {
			continue
		}
		keys := []string{exporterAttribute}
		for _, p := range m.Points {
			for key, value := range p.Attributes {
				if !slices.Contains(keys, key) {
					keys = append(keys, key)
				}
				if enum := md.Attributes[key].Enum; len(enum) > 0 {
					assert.Containsf(t, enum, value, "%s: a value of %s", name, key)
				}
			}
		}
		assert.ElementsMatchf(t, d.Attributes, keys, "%s: attributes", name)
	}
	for key := range declared {
		assert.Truef(t, published[mdatagenPrefix+key], "%s is declared in metadata.yaml, not published", mdatagenPrefix+key)
	}
	assert.ElementsMatch(t, names, documentedNames(t), "documentation.md's metrics (make generate)")
}
