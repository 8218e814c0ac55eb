//go:build cgo

package sentryexporter

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-sentry/sentryexporter/internal/metadata"
)

// injectingCore plays the collector's component logger core
// (service/internal/componentattribute.coreWithAttributes): it adds the injected attributes to
// every line and can drop some of them again, keeping the fields added with With.
type injectingCore struct {
	zapcore.Core
	source     zapcore.Core
	injected   []zap.Field
	withFields []zap.Field
}

func newInjectingCore(source zapcore.Core, injected ...zap.Field) zapcore.Core {
	return injectingCore{Core: source.With(injected), source: source, injected: injected}
}

func (c injectingCore) With(fields []zapcore.Field) zapcore.Core {
	c.withFields = append(slices.Clone(c.withFields), fields...)
	c.Core = c.Core.With(fields)
	return c
}

func (c injectingCore) DropInjectedAttributes(dropped ...string) zapcore.Core {
	c.injected = slices.DeleteFunc(slices.Clone(c.injected), func(f zap.Field) bool {
		return slices.Contains(dropped, f.Key)
	})
	c.Core = c.source.With(append(slices.Clone(c.injected), c.withFields...))
	return c
}

func (c injectingCore) Check(entry zapcore.Entry, checked *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(entry.Level) {
		return checked.AddCore(entry, c)
	}
	return checked
}

func TestCoreLoggerDropsOnlyTheSignal(t *testing.T) {
	tests := []struct {
		name       string
		core       func(zapcore.Core) zapcore.Core
		wantSignal bool
	}{
		{
			name: "collector logger: the signal goes, the component stays",
			core: func(c zapcore.Core) zapcore.Core {
				return newInjectingCore(c, zap.String("otelcol.component.id", "sentry"),
					zap.String(signalKey, "traces"))
			},
		},
		{
			name:       "plain zap logger: kept as it is",
			core:       func(c zapcore.Core) zapcore.Core { return c.With([]zap.Field{zap.String(signalKey, "traces")}) },
			wantSignal: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs, observed := observer.New(zapcore.DebugLevel)
			logger := zap.New(tt.core(logs)).With(zap.String("added", "later"))
			coreLogger(logger).Info("from the core", zap.String("project", "p"))
			require.Equal(t, 1, observed.Len())
			fields := observed.All()[0].ContextMap()
			_, hasSignal := fields[signalKey]
			assert.Equal(t, tt.wantSignal, hasSignal, "%v", fields)
			assert.Equal(t, "p", fields["project"])
			assert.Equal(t, "later", fields["added"], "fields added with With are kept")
			if !tt.wantSignal {
				assert.Equal(t, "sentry", fields["otelcol.component.id"])
			}
		})
	}
}

// The core made by the traces exporter logs without otelcol.signal, its lines keep the
// component's other attributes, and the exporter's own lines keep the signal.
func TestCoreLinesCarryNoSignal(t *testing.T) {
	ctx := context.Background()
	logs, observed := observer.New(zapcore.DebugLevel)
	set := exportertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(newInjectingCore(logs, zap.String("otelcol.component.id", "sentry"),
		zap.String(signalKey, "traces")))
	exp, err := NewFactory().CreateTraces(ctx, set, directConfig())
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, componenttest.NewNopHost()))
	require.Error(t, exp.ConsumeTraces(ctx, testTraces()))
	require.NoError(t, exp.Shutdown(ctx))

	fromCore := observed.FilterMessageSnippet("orders-service").All()
	require.NotEmpty(t, fromCore, "%v", observed.All())
	for _, entry := range fromCore {
		fields := entry.ContextMap()
		assert.NotContains(t, fields, signalKey, entry.Message)
		assert.Equal(t, "sentry", fields["otelcol.component.id"], entry.Message)
	}
}
