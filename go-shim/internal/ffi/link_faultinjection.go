//go:build cgo && faultinjection

package ffi

// Tests only: a build of the Rust core with its `fault-injection` feature, linked instead of
// the release library when the faultinjection build tag is given:
//
//	cargo build -p sentry-exporter-ffi --features fault-injection --target-dir target/fault-injection
//	go test -tags faultinjection ./...
//
// It must never reach the collector: ocb builds without the tag, so link_release.go is used.

/*
#cgo LDFLAGS: ${SRCDIR}/../../../target/fault-injection/debug/libsentry_exporter.a -lm -ldl -lpthread
*/
import "C"

// FaultInjection tells whether the linked core has the test-only fault-injection hook
// (see FaultInjectionProject).
const FaultInjection = true
