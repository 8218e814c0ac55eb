include versions.mk

SHELL := /bin/bash
TOOLS := $(CURDIR)/.tools/bin
OCB := $(TOOLS)/builder
TELEMETRYGEN := $(TOOLS)/telemetrygen
MDATAGEN := $(TOOLS)/mdatagen
VENV := $(CURDIR)/.venv
COLLECTOR := $(CURDIR)/_build/otelcol-sentry
STANDIN := $(CURDIR)/target/release/sentry-standin
RUST_LIB := $(CURDIR)/target/release/libsentry_exporter.a
export PATH := $(TOOLS):$(PATH)
# Go's build cache does not track the static library named in #cgo LDFLAGS, so
# a rebuilt core would not be relinked: the library's digest goes into -ldflags.
core_digest = -X github.com/otelcol-sentry/sentryexporter/internal/ffi.CoreDigest=$$(sha256sum $(1) | cut -c1-16)
CORE_DIGEST_LDFLAGS = $(call core_digest,$(RUST_LIB))
# The core with its test-only `fault-injection` feature, linked by the Go tag faultinjection.
FAULT_LIB := $(CURDIR)/target/fault-injection/debug/libsentry_exporter.a
FUZZ_SECONDS ?= 300
SOAK_SECONDS ?= 600
INCIDENT_SECONDS ?= 1800
IMAGE ?= otelcol-sentry:latest
# podman's global options; CI sets the ones its machine needs (see .ci/run).
PODMAN ?= podman

# End-to-end tests run with the AddressSanitizer build of the collector (`make e2e-asan`)
# instead of the release one: the same tests, plus the leak check at exit.
ASAN_E2E := tests/e2e/test_end_to_end.py tests/e2e/test_hostile.py tests/e2e/test_persistent_queue.py
ASAN_COLLECTOR := $(CURDIR)/_build/otelcol-sentry-asan
# The ASan collector holds only what those tests load: the components of the manifest named below
# (the others, e.g. load_balancing or k8sattributes, bring in the Kubernetes and AWS clients):
# far fewer Go packages to build with -asan. The replaces stay (unused ones cost nothing); the
# stubs' relative paths get one more `../`, the manifest being written one directory deeper.
ASAN_MANIFEST := _build/asan/builder-config.yaml
ASAN_KEPT := otlpreceiver|batchprocessor|memorylimiterprocessor|sentryexporter|healthcheckextension|filestorage
# What the tests run: `build` without its header check, which `make test` gets from check.
BUILT := tools core collector

.PHONY: all help build core header-check pins collector contrib image image-test run demo check setup test bench profile profile-tools header tools \
  generate generate-check lint rust-test go-test fault-lib go-fault go-asan e2e e2e-asan fuzz fuzz-short soak incident clean

all: build

## help: this list
help:
	@awk '/^## [a-z0-9-]+:/ { sub(/^## /, ""); name = $$0; sub(/:.*/, "", name); sub(/^[^:]*: */, ""); \
	  printf "  %-11s %s\n", name, $$0; next } /^## / { sub(/^## /, ""); printf "  %-11s %s\n", "", $$0 }' \
	  $(firstword $(MAKEFILE_LIST))

## build: the Rust library and stand-in, the header check, the collector (ocb)
build: $(BUILT) header-check

# The release profile has no debug info (Cargo.toml), but the static library also holds the
# precompiled standard library's objects, which keep theirs: stripped here (a sixth of it).
core:
	cargo build --release -p sentry-exporter-ffi -p sentry-standin
	strip --strip-debug $(RUST_LIB)

# `make test` gets this from `cargo test --workspace` (check), so it does not depend on it.
header-check:
	cargo test --release -q -p sentry-exporter-ffi --lib header_is_current

## pins: write the collector release of versions.mk into builder-config.yaml and the go.mod
##   files (every build does it first)
pins:
	scripts/pin-versions

# The collector alone, from an existing $(RUST_LIB) (the Dockerfile's build stage). Linked
# without symbol table and debug info (-s -w, what ocb does when not given --ldflags): a third
# smaller; Go's own stack traces still name functions. `make collector LINK_STRIP=` keeps them,
# for profilers (and Cargo.toml's `profiling` profile builds the core with debug info).
LINK_STRIP ?= -s -w
collector: pins $(OCB)
	$(OCB) --config builder-config.yaml --ldflags "$(LINK_STRIP) $(CORE_DIGEST_LDFLAGS)"

## contrib: otelcol-contrib's components with our sentry exporter (builder-config.contrib.yaml)
##   in _build/contrib; long (not part of `make test`)
contrib: pins $(OCB) core
	$(OCB) --config builder-config.contrib.yaml --ldflags "$(LINK_STRIP) $(CORE_DIGEST_LDFLAGS)"

## check: the inner loop, a couple of minutes on a warm build: cargo fmt, clippy, gofmt, go
##   vet, mdatagen's files current, the Rust tests, the Go tests with the release core
##   (race detector)
check: lint generate-check rust-test go-test
	python3 scripts/structure.py

## setup: what `make test` needs beyond Go, Rust, Python 3 and a C compiler (podman, python3-venv,
##   rustfmt, clippy): installs it with apt-get or rustup, or stops saying what to install
setup:
	PODMAN="$(PODMAN)" scripts/setup.sh

## test: setup, check, then the Go tests with the fault-injection core and under AddressSanitizer,
##   short fuzzing, the end-to-end tests with the built collector (a minute of switching
##   faults among them; some tests with an ASan build of it), the image: about half an hour
##   on a fresh clone of a 2-core machine
test: setup check $(BUILT) go-fault go-asan fuzz-short e2e image-test

## run: the collector with examples/otel.yaml, against $SENTRY_URL or the local stand-in
run: build
	scripts/run.sh

## demo: the stand-in, the collector with examples/otel.yaml and a sample service sending traces,
##   logs, an exception and metrics; prints what arrived per project (after `make build`)
demo: $(VENV)/.installed
	$(VENV)/bin/python scripts/demo.py

## image: the collector image $IMAGE with podman, FROM scratch (see Dockerfile)
image: $(BUILT)
	scripts/rootfs.sh $(COLLECTOR) examples/otel.yaml _build/image/rootfs
	$(PODMAN) build --build-arg ROOTFS=prebuilt -t $(IMAGE) -f Dockerfile _build/image

## image-test: build the image, run it against the stand-in, stop it
image-test: image $(VENV)/.installed
	PODMAN="$(PODMAN)" IMAGE=$(IMAGE) $(VENV)/bin/pytest -v tests/image

## bench: every benchmark of BENCHMARKS.md, printed as one table (about 10 minutes)
bench: build
	$(VENV)/bin/python bench/run.py

## profile: flame graphs (SVG) of the collector under the bench's loads and of the push with
##   exceptions, in bench/flamegraphs (needs perf; inferno is installed into .tools)
profile: build profile-tools
	$(VENV)/bin/python bench/profile.py $(if $(LOADS),--loads $(LOADS)) $(if $(LABEL),--label $(LABEL)) $(if $(DISTS),--dists $(DISTS))

profile-tools: $(TOOLS)/inferno-flamegraph

$(TOOLS)/inferno-flamegraph:
	cargo install --locked --root $(CURDIR)/.tools inferno@=0.12.8

## header: regenerate include/sentry_exporter.h after changing the C ABI
header:
	UPDATE_HEADER=1 cargo test -q -p sentry-exporter-ffi --lib header_is_current

## generate: go-shim's files that mdatagen makes from go-shim/metadata.yaml (internal/metadata,
##   the lifecycle tests, documentation.md, the status table of go-shim/README.md)
generate: $(MDATAGEN)
	MDATAGEN=$(MDATAGEN) scripts/mdatagen.sh

# Fails when one of them differs from what mdatagen makes of metadata.yaml now.
generate-check: $(MDATAGEN)
	MDATAGEN=$(MDATAGEN) scripts/mdatagen.sh --check

## lint: cargo fmt, clippy, gofmt, go vet
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@out=$$(gofmt -l go-shim bench); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	cd go-shim && go vet ./... && go vet -tags faultinjection ./...
	cd bench/exporter && go vet ./...

rust-test:
	cargo test --workspace

# The Go tests with a core: $(1) is -race or -asan, $(2) the library's path, $(3) the build tag
# that links it (empty for the release core).
define go_tests
	cd go-shim && go test -count=1 $(1) $(if $(3),-tags $(3)) -ldflags "$(call core_digest,$(2))" ./...
endef

# The release core, under the race detector, as the collector links it.
go-test: core
	$(call go_tests,-race,$(RUST_LIB))

# The core with a panic injected inside Rust (its test-only `fault-injection` feature).
fault-lib:
	cargo build -p sentry-exporter-ffi --features fault-injection --target-dir target/fault-injection

go-fault: fault-lib
	$(call go_tests,-race,$(FAULT_LIB),faultinjection)

# AddressSanitizer also reports leaks at exit: Go, the C ABI and the Rust core's heap (its
# malloc and free go through the sanitizer). Both cores.
go-asan: core fault-lib
	$(call go_tests,-asan,$(RUST_LIB))
	$(call go_tests,-asan,$(FAULT_LIB),faultinjection)

## e2e: the end-to-end tests (pytest) with the built collector, the Kubernetes manifests and
##   the version pins; those of ASAN_E2E with the AddressSanitizer build (e2e-asan)
e2e: $(BUILT) e2e-asan
	$(VENV)/bin/pytest -v tests --ignore=tests/image $(addprefix --ignore=,$(ASAN_E2E))

## e2e-asan: the end-to-end tests of ASAN_E2E with the collector built under AddressSanitizer:
##   each collector a test stops must exit 0, which a leak report would prevent (conftest.py)
e2e-asan: $(BUILT)
	mkdir -p $(dir $(ASAN_MANIFEST))
	sed -E -e '/^  - gomod:/{/$(ASAN_KEPT)/!d}' -e 's#^(  output_path:).*#\1 ./$(dir $(ASAN_MANIFEST))#' \
	  -e 's#=> \.\./stubs/#=> ../../stubs/#' builder-config.yaml >$(ASAN_MANIFEST)
	$(OCB) --config $(ASAN_MANIFEST) --skip-compilation
	cd $(dir $(ASAN_MANIFEST)) && go build -asan -o $(ASAN_COLLECTOR) -ldflags "$(CORE_DIGEST_LDFLAGS)" .
	OTELCOL_SENTRY=$(ASAN_COLLECTOR) $(VENV)/bin/pytest -v $(ASAN_E2E)

## fuzz: every fuzz target for $FUZZ_SECONDS seconds each (default 300), with AddressSanitizer
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-short:
	FUZZ_SANITIZER=none scripts/fuzz.sh 5

## soak: the fault run of `make test` (tests/harness.py) for $SOAK_SECONDS (default 600)
soak: build
	$(VENV)/bin/python scripts/soak.py --seconds $(SOAK_SECONDS)

## incident: $INCIDENT_SECONDS (default 1800) of envelope 503s in a 1.5 GiB memory cgroup
##   (scripts/incident.py; run it beside `make soak`)
incident: build
	$(VENV)/bin/python scripts/incident.py --seconds $(INCIDENT_SECONDS)

tools: $(OCB) $(TELEMETRYGEN) $(MDATAGEN) $(VENV)/.installed

$(OCB): versions.mk
	GOBIN=$(TOOLS) go install go.opentelemetry.io/collector/cmd/builder@v$(OTELCOL_VERSION)

$(TELEMETRYGEN): versions.mk
	GOBIN=$(TOOLS) go install github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v$(OTELCOL_VERSION)

# mdatagen's go.mod replaces the collector's modules with directories of its repository, which
# `go install module@version` refuses: it is installed from a module that requires it, where
# versions.mk's MDATAGEN_SCHEMAGEN_VERSION stands in for the release's schemagen.
$(MDATAGEN): versions.mk
	dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && cd "$$dir" && go mod init mdatagen-install && \
	  go mod edit -replace go.opentelemetry.io/collector/internal/schemagen=go.opentelemetry.io/collector/internal/schemagen@v$(MDATAGEN_SCHEMAGEN_VERSION) && \
	  go get go.opentelemetry.io/collector/cmd/mdatagen@v$(OTELCOL_VERSION) && \
	  GOBIN=$(TOOLS) go install go.opentelemetry.io/collector/cmd/mdatagen

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r tests/requirements.txt
	touch $@

clean:
	rm -rf _build target .tools .venv
