// Package semconvtest is empty: a stand-in for contrib's pkg/semconvtest, whose v0.161.0 the Go
// module proxy does not serve. Only k8sattributesprocessor's integration tests import it, never
// the collector, but ocb's `go mod tidy` must find the package (see builder-config.yaml).
package semconvtest
