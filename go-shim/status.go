package sentryexporter // import "github.com/otelcol-sentry/sentryexporter"

import (
	"errors"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
)

// statusInterval is how often the core's health is read for the component status.
const statusInterval = time.Second

// statusWatcher reports the core's health (Sentry reachable and accepting the token, or not)
// as the component's status, each time it changes: a recoverable error while Sentry cannot be
// used, OK again once it can.
type statusWatcher struct {
	stop chan struct{}
	done chan struct{}
}

// watchStatus reads the core's health problem with read (ffi.Core.Health: "" when Sentry can
// be used) every interval; a failed read reports nothing.
func watchStatus(host component.Host, read func() (string, error), interval time.Duration) *statusWatcher {
	w := &statusWatcher{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		// The collector reports OK once Start returns: only changes need a report.
		reported := ""
		for {
			if problem, err := read(); err == nil && problem != reported {
				reported = problem
				if reported == "" {
					componentstatus.ReportStatus(host, componentstatus.NewEvent(componentstatus.StatusOK))
				} else {
					componentstatus.ReportStatus(host, componentstatus.NewRecoverableErrorEvent(errors.New(reported)))
				}
			}
			select {
			case <-w.stop:
				return
			case <-ticker.C:
			}
		}
	}()
	return w
}

// close stops the watcher and waits for it.
func (w *statusWatcher) close() {
	close(w.stop)
	<-w.done
}
