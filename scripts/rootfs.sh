#!/usr/bin/env bash
# Assembles the root filesystem of the collector image in OUT_DIR: the collector
# binary, the shared libraries it loads (it links the Rust core through cgo, so
# it is not static), CA certificates and the default config. The image's final
# stage copies this directory onto `scratch`; `make image` runs this on the host,
# the Dockerfile's build stage runs it in the Go image.
#
# usage: scripts/rootfs.sh COLLECTOR_BINARY CONFIG OUT_DIR
set -euo pipefail

binary=$1 config=$2 out=$3
ca_bundle=/etc/ssl/certs/ca-certificates.crt

[[ -x "$binary" ]] || { echo "rootfs: $binary is not an executable" >&2; exit 1; }
[[ -f "$ca_bundle" ]] || { echo "rootfs: $ca_bundle is missing (install ca-certificates)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/etc/ssl/certs" "$out/etc/otelcol-contrib" "$out/tmp" "$out/var/lib/otelcol/file_storage"
chmod 1777 "$out/tmp"
# No symbol table or debug info: `make collector` links without them (-s -w); this keeps
# them out of the image for a binary linked otherwise (e.g. LINK_STRIP= for profiling).
strip -o "$out/otelcol-sentry" "$binary"
install -m 0644 "$ca_bundle" "$out/etc/ssl/certs/ca-certificates.crt"
install -m 0644 "$config" "$out/etc/otelcol-contrib/config.yaml"
# Without nsswitch.conf glibc asks DNS before /etc/hosts.
printf 'hosts: files dns\n' >"$out/etc/nsswitch.conf"

# Every library the dynamic loader resolves, and the loader itself, at the
# path the binary asks for (symlinks followed, so the image holds real files).
libraries=$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
[[ -n "$libraries" ]] || { echo "rootfs: ldd found no libraries in $binary" >&2; exit 1; }
for library in $libraries; do
  mkdir -p "$out$(dirname "$library")"
  cp -L "$library" "$out$library"
done
echo "rootfs: $out holds $(du -sh "$out" | cut -f1): otelcol-sentry and" $libraries
