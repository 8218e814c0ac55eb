#!/usr/bin/env bash
# `make generate`: writes go-shim's files that mdatagen makes of go-shim/metadata.yaml.
# `make generate-check` (--check): writes nothing, fails when one of them is not current.
#
# mdatagen names the Go package of the files it writes after their directory, and go-shim's
# package is sentryexporter: it runs on a copy of go-shim named so, from which what changed is
# copied back (or, with --check, compared).
set -euo pipefail
cd "$(dirname "$0")/.."
MDATAGEN=${MDATAGEN:-.tools/bin/mdatagen}

# What mdatagen writes for metadata.yaml's telemetry metrics and go-shim does not use: a
# TelemetryBuilder that would create their instruments, and its test helpers. metrics.go creates
# them from the core's snapshot; metadata.yaml declares them for documentation.md.
unused=(internal/metadata/generated_telemetry.go internal/metadata/generated_telemetry_test.go
  internal/metadatatest)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
copy=$work/sentryexporter
cp -r go-shim "$copy"
(cd "$copy" && "$MDATAGEN" metadata.yaml && rm -rf "${unused[@]}")

if [ "${1:-}" = --check ]; then
  if ! diff -r go-shim "$copy"; then
    echo "mdatagen: go-shim's generated files are not current: run make generate" >&2
    exit 1
  fi
  exit 0
fi
(cd "$copy" && find . -type f) | while read -r f; do
  if ! cmp -s "$copy/$f" "go-shim/$f"; then
    mkdir -p "$(dirname "go-shim/$f")"
    cp "$copy/$f" "go-shim/$f"
    echo "mdatagen: wrote go-shim/${f#./}"
  fi
done
(cd go-shim && find . -type f) | while read -r f; do
  if [ ! -e "$copy/$f" ]; then
    rm "go-shim/$f"
    echo "mdatagen: removed go-shim/${f#./}"
  fi
done
