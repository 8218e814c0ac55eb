package sentryexporter

import (
	"errors"
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

// fakeHealth is what the core's Health answers, changed by the test.
type fakeHealth struct {
	mu      sync.Mutex
	problem string
	err     error
}

func (f *fakeHealth) set(problem string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.problem, f.err = problem, err
}

func (f *fakeHealth) read() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.problem, f.err
}

func TestStatusFollowsTheCoresHealth(t *testing.T) {
	health := &fakeHealth{}
	host := &statusHost{}
	w := watchStatus(host, health.read, 5*time.Millisecond)
	defer w.close()

	health.set("Sentry management API: the auth token was refused (401)", nil)
	require.Eventually(t, func() bool { return len(host.reported()) == 1 }, 5*time.Second, 5*time.Millisecond)
	first := host.reported()[0]
	assert.Equal(t, componentstatus.StatusRecoverableError, first.Status())
	assert.ErrorContains(t, first.Err(), "auth token was refused")

	// A failed read (the core freed under the watcher) changes nothing.
	health.set("", errors.New("the sentry exporter is shut down"))
	time.Sleep(50 * time.Millisecond)
	assert.Len(t, host.reported(), 1, "no report from a failed read")

	health.set("", nil)
	require.Eventually(t, func() bool { return len(host.reported()) == 2 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, componentstatus.StatusOK, host.reported()[1].Status())

	// No change, no report.
	time.Sleep(50 * time.Millisecond)
	assert.Len(t, host.reported(), 2)
}
