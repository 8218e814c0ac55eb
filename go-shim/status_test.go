package sentryexporter

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
)

// statusHost records the status events reported to it.
type statusHost struct {
	component.Host
	mu     sync.Mutex
	events []*componentstatus.Event
}

func (h *statusHost) Report(e *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
}

func (h *statusHost) reported() []*componentstatus.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*componentstatus.Event(nil), h.events...)
}

func TestStatusFollowsTheCoresHealth(t *testing.T) {
	var mu sync.Mutex
	health := `{"health":{"ok":true,"problem":null},"metrics":[]}`
	setHealth := func(h string) { mu.Lock(); health = h; mu.Unlock() }
	read := func() ([]byte, error) { mu.Lock(); defer mu.Unlock(); return []byte(health), nil }

	host := &statusHost{}
	w := watchStatus(host, read, 5*time.Millisecond)
	defer w.close()

	setHealth(`{"health":{"ok":false,"problem":"Sentry management API: the auth token was refused (401)"},"metrics":[]}`)
	require.Eventually(t, func() bool { return len(host.reported()) == 1 }, 5*time.Second, 5*time.Millisecond)
	first := host.reported()[0]
	assert.Equal(t, componentstatus.StatusRecoverableError, first.Status())
	assert.ErrorContains(t, first.Err(), "auth token was refused")

	setHealth(`{"health":{"ok":true,"problem":null},"metrics":[]}`)
	require.Eventually(t, func() bool { return len(host.reported()) == 2 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, componentstatus.StatusOK, host.reported()[1].Status())

	// No change, no report.
	time.Sleep(50 * time.Millisecond)
	assert.Len(t, host.reported(), 2)
}
