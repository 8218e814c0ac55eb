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
CORE_DIGEST_LDFLAGS = -X github.com/otelcol-sentry/sentryexporter/internal/ffi.CoreDigest=$$(sha256sum $(RUST_LIB) | cut -c1-16)
IMAGE ?= otelcol-sentry:latest
# podman's global options; CI sets the ones its machine needs (see .ci/run).
PODMAN ?= podman

.PHONY: all build core collector image image-test run test bench header tools lint rust-test go-test e2e clean

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

## test: lint, Rust and Go tests, the end-to-end tests with the built collector, the image
test: build lint rust-test go-test e2e image-test

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@out=$$(gofmt -l go-shim bench); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	cd go-shim && go vet ./...
	cd bench/exporter && go vet ./...

rust-test:
	cargo test --workspace

go-test:
	cargo build --release -p sentry-exporter-ffi
	cd go-shim && go test -count=1 -ldflags "$(CORE_DIGEST_LDFLAGS)" ./...

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
