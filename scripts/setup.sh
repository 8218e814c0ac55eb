#!/usr/bin/env bash
# `make setup`, the first step of `make test`: makes sure the machine has what the tests
# need beyond Go, Rust, Python 3 and a C compiler, and installs what it can, so that a
# missing piece stops the run at its start, not after a quarter of an hour.
#
#   - go, cargo, python3, make and a C compiler: checked; a missing one stops here with the
#     command that installs it (Rust and Go are not installed by this script).
#   - rustfmt and clippy (`make check`): `rustup component add`.
#   - Python's venv module (the test clients live in .venv/), podman, buildah and runc (the
#     image is built and run by `make image-test`), CA certificates (copied into the image):
#     installed with apt-get when missing, as root or through sudo.
#   - podman must start a container here: tried at once with a root filesystem of one
#     binary (no image, no network). Machines that run inside a container (CI) need the
#     settings .ci/run exports; the message says so.
#
# ocb, telemetrygen, mdatagen, the Python test clients (`make tools`), the nightly toolchain
# and cargo-fuzz (scripts/fuzz.sh) install themselves later, without root.
#
# Environment: PODMAN (podman and its global options, as the Makefile passes it),
# SETUP_NO_INSTALL=1 to only check and print what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*" >&2; }
die() { echo "setup: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1; }

# --- what this script cannot install ---------------------------------------------------

missing=()
need go || missing+=("Go 1.26 or later (https://go.dev/dl/)")
need cargo || missing+=("Rust stable: curl --proto '=https' -sSf https://sh.rustup.rs | sh")
if [ ${#missing[@]} -gt 0 ]; then
  die "missing: $(printf '%s; ' "${missing[@]}")then run make test again"
fi
go_version=$(go env GOVERSION 2>/dev/null || echo unknown)
if [[ $go_version =~ ^go1\.([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -lt 26 ]; then
  die "Go $go_version is too old: install Go 1.26 or later (https://go.dev/dl/), then run make test again"
fi

# --- apt packages ----------------------------------------------------------------------

packages=()
need python3 || packages+=(python3)
need make || packages+=(make)
need cc || need gcc || packages+=(gcc)
need strip || packages+=(binutils)
# The venv module is split out of python3 on Debian and Ubuntu.
if need python3 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  packages+=(python3-venv)
fi
[ -f /etc/ssl/certs/ca-certificates.crt ] || packages+=(ca-certificates)
if ! need podman || ! need runc; then
  packages+=(podman buildah runc)
fi

if [ ${#packages[@]} -gt 0 ]; then
  install_line="apt-get install -y ${packages[*]}"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if need sudo && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
      sudo=(sudo)
    else
      sudo=(none)
    fi
  fi
  if [ "${SETUP_NO_INSTALL:-}" = 1 ] || ! need apt-get || [ "${sudo[*]}" = none ]; then
    if need apt-get; then
      die "missing: ${packages[*]}: run  sudo apt-get update && sudo $install_line  then make test again"
    fi
    die "missing: ${packages[*]} (package names of Debian/Ubuntu): install them with your package manager, then run make test again"
  fi
  say "installing ${packages[*]} with apt-get${sudo:+ (through sudo)}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
fi

# --- Rust components -------------------------------------------------------------------

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  need rustup || die "cargo fmt or cargo clippy is missing and there is no rustup: install rustfmt and clippy for your Rust toolchain"
  say "installing rustfmt and clippy"
  rustup component add rustfmt clippy
fi

# --- podman can start a container ------------------------------------------------------

read -r -a podman <<<"${PODMAN:-podman}"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
# A root filesystem holding /bin/true and the libraries it loads (as scripts/rootfs.sh
# assembles the image's).
for file in /bin/true $(ldd /bin/true | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
  mkdir -p "$probe$(dirname "$file")"
  cp -L "$file" "$probe$file"
done
mkdir -p "$probe/proc" "$probe/sys" "$probe/dev"
if ! error=$("${podman[@]}" run --rm --network=host --rootfs "$probe" /bin/true 2>&1); then
  error=$(tail -n 1 <<<"$error")
  if CONTAINERS_CONF="$PWD/.ci/containers.conf" podman --storage-driver=vfs --runtime runc --cgroup-manager=cgroupfs \
      run --rm --network=host --rootfs "$probe" /bin/true >/dev/null 2>&1; then
    die "podman cannot start a container with its defaults here (${error}); this machine needs the settings of .ci/run: export CONTAINERS_CONF=$PWD/.ci/containers.conf BUILDAH_ISOLATION=chroot PODMAN='podman --storage-driver=vfs --runtime runc --cgroup-manager=cgroupfs'"
  fi
  die "podman cannot start a container here: ${error}"
fi
say "ok: go, cargo (fmt, clippy), python3 (venv), a C compiler, podman"
