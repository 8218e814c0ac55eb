include versions.mk

SHELL := /bin/bash
TOOLS := $(CURDIR)/.tools/bin
OCB := $(TOOLS)/builder
TELEMETRYGEN := $(TOOLS)/telemetrygen
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
IMAGE ?= otelcol-sentry:latest
# podman's global options; CI sets the ones its machine needs (see .ci/run).
PODMAN ?= podman

.PHONY: all build core collector image image-test run test bench header tools lint rust-test go-libs go-test go-asan e2e-asan fuzz fuzz-short soak soak-short e2e clean

all: build

## build: the Rust library and stand-in, the header check, the collector (ocb)
build: tools core collector

core:
	cargo build --release -p sentry-exporter-ffi -p sentry-standin
	cargo test --release -q -p sentry-exporter-ffi --lib header_is_current

# The collector alone, from an existing $(RUST_LIB) (the Dockerfile's build stage).
collector: $(OCB)
	$(OCB) --config builder-config.yaml --ldflags "$(CORE_DIGEST_LDFLAGS)"

## image: the collector image $(IMAGE) with podman, FROM scratch (see Dockerfile)
image: build
	scripts/rootfs.sh $(COLLECTOR) examples/otel.yaml _build/image/rootfs
	$(PODMAN) build --build-arg ROOTFS=prebuilt -t $(IMAGE) -f Dockerfile _build/image

## image-test: build the image, run it against the stand-in, stop it
image-test: image $(VENV)/.installed
	PODMAN="$(PODMAN)" IMAGE=$(IMAGE) $(VENV)/bin/pytest -v tests/image

## bench: every benchmark of BENCHMARKS.md, printed as one table (about 10 minutes)
bench: build
	$(VENV)/bin/python bench/run.py

## header: regenerate include/sentry_exporter.h after changing the C ABI
header:
	UPDATE_HEADER=1 cargo test -q -p sentry-exporter-ffi --lib header_is_current

## run: the collector with examples/otel.yaml, against $$SENTRY_URL or the local stand-in
run: build
	scripts/run.sh

## test: lint, Rust and Go tests (race detector, fault injection, AddressSanitizer), short
## fuzzing, the end-to-end tests with the built collector (and some with an ASan build of
## it), a short soak, the image
test: build lint rust-test go-test go-asan fuzz-short e2e e2e-asan soak-short image-test

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@out=$$(gofmt -l go-shim bench); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	cd go-shim && go vet ./... && go vet -tags faultinjection ./...
	cd bench/exporter && go vet ./...

rust-test:
	cargo test --workspace

# The Go tests with the release core, then with the fault-injection core (a panic injected
# inside Rust): $(1) is -race or -asan.
define go_tests
	cd go-shim && go test -count=1 $(1) -ldflags "$(CORE_DIGEST_LDFLAGS)" ./...
	cd go-shim && go test -count=1 $(1) -tags faultinjection -ldflags "$(call core_digest,$(FAULT_LIB))" ./...
endef

go-libs:
	cargo build --release -p sentry-exporter-ffi -p sentry-standin
	cargo build -p sentry-exporter-ffi --features fault-injection --target-dir target/fault-injection

go-test: go-libs
	$(call go_tests,-race)

# AddressSanitizer also reports leaks at exit: Go, the C ABI and the Rust core's heap (its
# malloc and free go through the sanitizer).
go-asan: go-libs
	$(call go_tests,-asan)

# An end-to-end run with the collector built under AddressSanitizer: each collector a test
# stops must exit 0, which a leak report would prevent (tests/conftest.py).
e2e-asan: build $(VENV)/.installed
	cd _build && go build -asan -o otelcol-sentry-asan -ldflags "$(CORE_DIGEST_LDFLAGS)" .
	OTELCOL_SENTRY=$(CURDIR)/_build/otelcol-sentry-asan $(VENV)/bin/pytest -v \
	  tests/e2e/test_end_to_end.py tests/e2e/test_hostile.py tests/e2e/test_persistent_queue.py

## fuzz: every fuzz target for $$FUZZ_SECONDS seconds each (default 300), with AddressSanitizer
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-short:
	FUZZ_SANITIZER=none scripts/fuzz.sh 10

## soak: the collector under load and switching faults for $$SOAK_SECONDS (default 600)
soak: build
	$(VENV)/bin/python scripts/soak.py --seconds $(SOAK_SECONDS)

soak-short: build
	$(VENV)/bin/python scripts/soak.py --seconds 60

e2e: $(VENV)/.installed
	$(VENV)/bin/pytest -v tests --ignore=tests/image

tools: $(OCB) $(TELEMETRYGEN) $(VENV)/.installed

$(OCB): versions.mk
	GOBIN=$(TOOLS) go install go.opentelemetry.io/collector/cmd/builder@v$(OTELCOL_VERSION)

$(TELEMETRYGEN): versions.mk
	GOBIN=$(TOOLS) go install github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen@v$(OTELCOL_VERSION)

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r tests/requirements.txt
	touch $@

clean:
	rm -rf _build target .tools .venv
