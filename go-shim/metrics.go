package sentryexporter // import "github.com/otelcol-sentry/sentryexporter"

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/otelcol-sentry/sentryexporter/internal/ffi"
	"github.com/otelcol-sentry/sentryexporter/internal/metadata"
)

// The core counts what it does (items sent, dropped by reason, rate limited, requests by
// answer, ...). Here each metric of its snapshot becomes an observable instrument of the
// collector's own telemetry, all observed in one callback, so the metric set is defined once,
// in the core.

// metricPrefix puts our metrics beside the collector's own (otelcol_exporter_...).
const metricPrefix = "otelcol_exporter_sentry_"

// coreSnapshot is the core's telemetry JSON (sentry_exporter_telemetry): its metrics, the only
// thing it holds. The core's health is not in it: it comes from its own call,
// ffi.Core.Health (sentry_exporter_health; see status.go).
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

// shimCounters is what the shim counts itself, published under the core's metric of the same
// meaning, which the core never sees: the items the collector's queues in memory lost at
// shutdown (items_dropped{reason="shutdown"}, see leftovers.go), and the items a persistent
// queue sends again after a start though Sentry may hold them (items_maybe_delivered, see
// replay.go).
type shimCounters struct {
	// shutdownDrops by ffi.Signal.
	shutdownDrops [3]atomic.Int64
	// resent by ffi.Signal: items (as the core counts them) a persistent queue sends again.
	resent [3]atomic.Int64
}

func (c *shimCounters) droppedAtShutdown(signal ffi.Signal, n int64) {
	if c != nil && int(signal) < len(c.shutdownDrops) {
		c.shutdownDrops[signal].Add(n)
	}
}

func (c *shimCounters) maybeDelivered(signal ffi.Signal, n uint64) {
	if c != nil && int(signal) < len(c.resent) {
		c.resent[signal].Add(int64(n))
	}
}

// metrics are the shim's points, as the core's snapshot gives them.
func (c *shimCounters) metrics() []coreMetric {
	dropped := make([]corePoint, 0, len(c.shutdownDrops))
	for signal := range c.shutdownDrops {
		dropped = append(dropped, corePoint{
			Attributes: map[string]string{"signal": ffi.Signal(signal).String(), "reason": "shutdown"},
			Value:      c.shutdownDrops[signal].Load(),
		})
	}
	resent := make([]corePoint, 0, len(c.resent))
	for signal := range c.resent {
		resent = append(resent, corePoint{
			Attributes: map[string]string{"signal": ffi.Signal(signal).String()},
			Value:      c.resent[signal].Load(),
		})
	}
	return []coreMetric{{Name: "items_dropped", Points: dropped}, {Name: "items_maybe_delivered", Points: resent}}
}

// registerCoreMetrics creates the instruments of every metric the core reports and observes
// them from a fresh snapshot at each collection, each point labelled with the exporter id.
// The points of shim (nil: none) are added to those of the core's metric of the same name.
func registerCoreMetrics(provider metric.MeterProvider, id component.ID, read func() ([]byte, error), shim *shimCounters) (metric.Registration, error) {
	first, err := readSnapshot(read)
	if err != nil {
		return nil, err
	}
	meter := provider.Meter(metadata.ScopeName)
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
		all := snapshot.Metrics
		if shim != nil {
			all = append(all, shim.metrics()...)
		}
		// One observation per instrument and attributes: a shim point adds to the core's.
		type series struct {
			name  string
			attrs attribute.Distinct
		}
		sums := map[series]int64{}
		var order []series
		sets := map[series]attribute.Set{}
		for _, m := range all {
			if _, ok := instruments[m.Name]; !ok {
				continue
			}
			for _, p := range m.Points {
				attrs := make([]attribute.KeyValue, 0, len(p.Attributes)+1)
				attrs = append(attrs, attribute.String(exporterAttribute, id.String()))
				for k, v := range p.Attributes {
					attrs = append(attrs, attribute.String(k, v))
				}
				set := attribute.NewSet(attrs...)
				key := series{m.Name, set.Equivalent()}
				if _, seen := sums[key]; !seen {
					order = append(order, key)
					sets[key] = set
				}
				sums[key] += p.Value
			}
		}
		for _, key := range order {
			set := sets[key]
			observer.ObserveInt64(instruments[key.name], sums[key], metric.WithAttributeSet(set))
		}
		return nil
	}, observables...)
}
