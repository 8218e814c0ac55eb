package sentryexporter // import "github.com/otelcol-sentry/sentryexporter"

import (
	"context"
	"encoding/json"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The core counts what it does (items sent, dropped by reason, rate limited, requests by
// answer, ...). Here each metric of its snapshot becomes an observable instrument of the
// collector's own telemetry, all observed in one callback, so the metric set is defined once,
// in the core.

// metricPrefix puts our metrics beside the collector's own (otelcol_exporter_...).
const metricPrefix = "otelcol_exporter_sentry_"

// coreSnapshot is the part of the core's telemetry JSON read here: its metrics. (The core's
// health, also in that JSON, is read through ffi.Core.Health: see status.go.)
type coreSnapshot struct {
	Metrics []coreMetric `json:"metrics"`
}

type coreMetric struct {
	Name        string      `json:"name"`
	Description string      `json:"description"`
	Unit        string      `json:"unit"`
	Kind        string      `json:"kind"`
	Points      []corePoint `json:"points"`
}

type corePoint struct {
	Attributes map[string]string `json:"attributes"`
	Value      int64             `json:"value"`
}

func readSnapshot(read func() ([]byte, error)) (coreSnapshot, error) {
	raw, err := read()
	if err != nil {
		return coreSnapshot{}, err
	}
	var snapshot coreSnapshot
	if err := json.Unmarshal(raw, &snapshot); err != nil {
		return coreSnapshot{}, fmt.Errorf("reading the sentry core's counters: %w", err)
	}
	return snapshot, nil
}

// exporterAttribute names the exporter whose core a point counts: two `sentry` exporters (as
// in examples/kubernetes-gateway.yaml) each have a core, and observe the same instruments.
const exporterAttribute = "exporter"

// registerCoreMetrics creates the instruments of every metric the core reports and observes
// them from a fresh snapshot at each collection, each point labelled with the exporter id.
func registerCoreMetrics(provider metric.MeterProvider, id component.ID, read func() ([]byte, error)) (metric.Registration, error) {
	first, err := readSnapshot(read)
	if err != nil {
		return nil, err
	}
	meter := provider.Meter("github.com/otelcol-sentry/sentryexporter")
	instruments := make(map[string]metric.Int64Observable, len(first.Metrics))
	observables := make([]metric.Observable, 0, len(first.Metrics))
	for _, m := range first.Metrics {
		var instrument metric.Int64Observable
		var err error
		switch m.Kind {
		case "gauge":
			instrument, err = meter.Int64ObservableGauge(metricPrefix+m.Name,
				metric.WithDescription(m.Description), metric.WithUnit(m.Unit))
		default:
			instrument, err = meter.Int64ObservableCounter(metricPrefix+m.Name,
				metric.WithDescription(m.Description), metric.WithUnit(m.Unit))
		}
		if err != nil {
			return nil, err
		}
		instruments[m.Name] = instrument
		observables = append(observables, instrument)
	}
	return meter.RegisterCallback(func(_ context.Context, observer metric.Observer) error {
		snapshot, err := readSnapshot(read)
		if err != nil {
			return err
		}
		for _, m := range snapshot.Metrics {
			instrument, ok := instruments[m.Name]
			if !ok {
				continue
			}
			for _, p := range m.Points {
				attrs := make([]attribute.KeyValue, 0, len(p.Attributes)+1)
				attrs = append(attrs, attribute.String(exporterAttribute, id.String()))
				for k, v := range p.Attributes {
					attrs = append(attrs, attribute.String(k, v))
				}
				observer.ObserveInt64(instrument, p.Value, metric.WithAttributes(attrs...))
			}
		}
		return nil
	}, observables...)
}
