//go:build cgo && !faultinjection

package ffi

// The release build of the Rust core (`make core`), the one the collector links.

/*
#cgo LDFLAGS: ${SRCDIR}/../../../target/release/libsentry_exporter.a -lm -ldl -lpthread
*/
import "C"

// FaultInjection tells whether the linked core has the test-only fault-injection hook
// (see FaultInjectionProject). The release library never has it.
const FaultInjection = false
