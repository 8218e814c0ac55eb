package sentryexporter

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.yaml.in/yaml/v3"
)

// schemaNode is one level of config.schema.yaml (a JSON Schema subset).
type schemaNode struct {
	Type                 string                 `yaml:"type"`
	Required             []string               `yaml:"required"`
	Properties           map[string]*schemaNode `yaml:"properties"`
	AdditionalProperties *yaml.Node             `yaml:"additionalProperties"`
	// Default is the zero yaml.Node (Kind 0) when the schema states no default.
	Default yaml.Node `yaml:"default"`
}

// partialObjects list only some of the settings their Go struct has: the schema describes the
// confighttp settings the core uses; the others are accepted and ignored.
var partialObjects = map[string]bool{"http": true, "http.tls": true}

func loadSchema(t *testing.T) *schemaNode {
	t.Helper()
	raw, err := os.ReadFile("config.schema.yaml")
	require.NoError(t, err)
	var schema schemaNode
	require.NoError(t, yaml.Unmarshal(raw, &schema))
	require.NotEmpty(t, schema.Properties, "the schema lists the settings")
	return &schema
}

// marshalConfig is cfg as the collector renders it (confmap), without empty values, so that
// `{}` equals a nil map or list.
func marshalConfig(t *testing.T, cfg any) map[string]any {
	t.Helper()
	conf := confmap.New()
	require.NoError(t, conf.Marshal(cfg))
	m, _ := withoutEmpty(conf.ToStringMap()).(map[string]any)
	return m
}

// withoutEmpty drops the empty maps and lists in v, and the keys whose value is one.
func withoutEmpty(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, sub := range v {
			if sub = withoutEmpty(sub); sub != nil {
				out[k] = sub
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(v) == 0 {
			return nil
		}
	}
	return v
}

// nested is {path[0]: {path[1]: ... value}}.
func nested(path []string, value any) map[string]any {
	m := map[string]any{path[len(path)-1]: value}
	for i := len(path) - 2; i >= 0; i-- {
		m = map[string]any{path[i]: m}
	}
	return m
}

// Every default config.schema.yaml states is the one createDefaultConfig() has: setting the key
// to the schema's default, as a user's YAML would, leaves the default config unchanged.
func TestSchemaDefaultsAreCreateDefaultConfigs(t *testing.T) {
	schema := loadSchema(t)
	want := marshalConfig(t, createDefaultConfig())
	checked := 0
	var walk func(path []string, node *schemaNode)
	walk = func(path []string, node *schemaNode) {
		for name, prop := range node.Properties {
			path := append(slices.Clone(path), name)
			key := strings.Join(path, ".")
			if slices.Contains(node.Required, name) {
				assert.Zero(t, prop.Default.Kind, "%s is required: the schema states no default", key)
			}
			if len(prop.Properties) > 0 {
				walk(path, prop)
			}
			if prop.Default.Kind == 0 {
				continue
			}
			checked++
			t.Run(key, func(t *testing.T) {
				var value any
				require.NoError(t, prop.Default.Decode(&value))
				cfg := createDefaultConfig()
				require.NoError(t, confmap.NewFromStringMap(nested(path, value)).Unmarshal(cfg),
					"the schema's default of %s is a valid setting of the Config", key)
				assert.Equal(t, want, marshalConfig(t, cfg),
					"%s: the schema's default %v is not createDefaultConfig()'s", key, value)
			})
		}
	}
	walk(nil, schema)
	assert.Positive(t, checked, "the schema states defaults")
}

// Every setting createDefaultConfig() gives a value (not zero or empty) is in the schema with
// a default (which the test above compares), but for the required ones and the objects the
// schema leaves to exporterhelper (sending_queue). In http and http.tls (partialObjects) only
// the settings the schema lists are checked.
func TestCreateDefaultConfigsDefaultsAreInTheSchema(t *testing.T) {
	schema := loadSchema(t)
	var walk func(path []string, values map[string]any, node *schemaNode)
	walk = func(path []string, values map[string]any, node *schemaNode) {
		for name, value := range values {
			path := append(slices.Clone(path), name)
			key := strings.Join(path, ".")
			prop, ok := node.Properties[name]
			if !ok {
				assert.True(t, partialObjects[strings.Join(path[:len(path)-1], ".")],
					"%s is a setting of the Config the schema does not list", key)
				continue
			}
			switch {
			case len(prop.Properties) > 0:
				sub, _ := value.(map[string]any)
				walk(path, sub, prop)
			case prop.Default.Kind != 0, slices.Contains(node.Required, name):
			case prop.Type == "object" && prop.AdditionalProperties == nil:
				// Described elsewhere (exporterhelper's sending_queue).
			default:
				assert.True(t, value == nil || reflect.ValueOf(value).IsZero(),
					"%s: createDefaultConfig() sets %v, the schema states no default", key, value)
			}
		}
	}
	walk(nil, marshalConfig(t, createDefaultConfig()), schema)
}
