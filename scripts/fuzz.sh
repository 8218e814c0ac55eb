#!/usr/bin/env bash
# Fuzzes every cargo-fuzz target of rust/fuzz for SECONDS_PER_TARGET (default 60).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Environment:
#   FUZZ_SANITIZER  address (default) or none: `none` builds much faster and is
#                   enough for the short CI run (the core is safe Rust); keep
#                   ASan for long runs. Each sanitizer has its own target dir.
#   FUZZ_TARGETS    space-separated targets to run (default: all of them)
#   FUZZ_ARGS       extra libFuzzer flags, e.g. "-max_len=8192 -fork=2"
#
# Every target runs with a scratch corpus under rust/fuzz/target/corpus/ (not
# committed) first and the committed seeds rust/fuzz/corpus/<target>/ second,
# so new inputs go to the scratch directory only (it is kept between runs).
# Crashes land in rust/fuzz/artifacts/<target>/; the script goes on with the
# next target, then prints every new crash file and exits 1.
set -euo pipefail

CARGO_FUZZ_VERSION=0.13.2

seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: $0 [SECONDS_PER_TARGET]" >&2
    exit 2
fi
sanitizer=${FUZZ_SANITIZER:-address}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz_dir=$root/rust/fuzz

# cargo fuzz needs a nightly compiler (sanitizer coverage flags).
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: installing the nightly toolchain" >&2
    rustup toolchain install nightly --profile minimal --component rust-src
elif [ ! -d "$(rustc +nightly --print sysroot)/lib/rustlib/src/rust/library" ]; then
    echo "fuzz: installing the nightly's rust-src (--build-std)" >&2
    rustup component add rust-src --toolchain nightly
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
elif ! cargo fuzz --version | grep -qF "$CARGO_FUZZ_VERSION"; then
    echo "fuzz: note: using $(cargo fuzz --version), this script is tried with $CARGO_FUZZ_VERSION" >&2
fi

build=(--fuzz-dir "$fuzz_dir" --sanitizer "$sanitizer" --build-std --target-dir "$fuzz_dir/target/$sanitizer")
# The targets measure a parse's cost by the coverage counters of -Cinstrument-coverage
# (rust/fuzz/src/cost.rs), in the standard library too (--build-std, which needs the
# nightly's rust-src); the profile it writes at exit is not wanted.
export RUSTFLAGS="${RUSTFLAGS:-} -Cinstrument-coverage"
export LLVM_PROFILE_FILE=/dev/null
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list --fuzz-dir "$fuzz_dir")}

start=$(date +%s)
cargo +nightly fuzz build "${build[@]}"
echo "fuzz: built in $(($(date +%s) - start)) s (sanitizer: $sanitizer)"

crashes=()
for target in $targets; do
    scratch=$fuzz_dir/target/corpus/$target
    artifacts=$fuzz_dir/artifacts/$target
    mkdir -p "$scratch" "$artifacts"
    marker=$(mktemp)
    echo "fuzz: $target for $seconds s"
    # shellcheck disable=SC2086 # FUZZ_ARGS holds several flags
    if ! cargo +nightly fuzz run "${build[@]}" "$target" "$scratch" "$fuzz_dir/corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 ${FUZZ_ARGS:-}; then
        found=$(find "$artifacts" -type f -newer "$marker" | sort)
        if [ -z "$found" ]; then
            found="(no artifact written: see the output of $target above)"
        fi
        crashes+=("$target: $found")
    fi
    rm -f "$marker"
done

echo "fuzz: done in $(($(date +%s) - start)) s"
if [ ${#crashes[@]} -gt 0 ]; then
    echo "fuzz: FAILED; crash files (reproduce: RUSTFLAGS=-Cinstrument-coverage cargo +nightly fuzz run --fuzz-dir $fuzz_dir --sanitizer $sanitizer --build-std TARGET FILE):" >&2
    printf '  %s\n' "${crashes[@]}" >&2
    exit 1
fi
