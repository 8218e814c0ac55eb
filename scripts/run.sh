#!/usr/bin/env bash
# Runs the built collector with examples/otel.yaml. Without SENTRY_URL,
# SENTRY_ORG_SLUG and SENTRY_AUTH_TOKEN in the environment, starts the local
# Sentry stand-in first and points the collector at it.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${SENTRY_URL:-}" && -n "${SENTRY_ORG_SLUG:-}" && -n "${SENTRY_AUTH_TOKEN:-}" ]]; then
  echo "make run: sending to ${SENTRY_URL} (organization ${SENTRY_ORG_SLUG})"
else
  fifo=$(mktemp -u) && mkfifo "$fifo"
  target/release/sentry-standin --projects telemetrygen,frontend,backend,payments >"$fifo" &
  standin=$!
  trap 'kill $standin 2>/dev/null || true; rm -f "$fifo"' EXIT
  exec 3<"$fifo"
  read -r banner <&3
  # Everything the stand-in prints later (what arrives, per project) goes to our stdout.
  cat <&3 &
  SENTRY_URL=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["api"])' "$banner")
  SENTRY_ORG_SLUG=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["org"])' "$banner")
  SENTRY_AUTH_TOKEN=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["token"])' "$banner")
  export SENTRY_URL SENTRY_ORG_SLUG SENTRY_AUTH_TOKEN
  cat <<MSG
make run: no SENTRY_URL/SENTRY_ORG_SLUG/SENTRY_AUTH_TOKEN set, so the local Sentry stand-in
is running at ${SENTRY_URL} (organization ${SENTRY_ORG_SLUG}, projects telemetrygen, frontend,
backend, payments). Lines starting with "standin:" show what arrives in which project.
Try: .tools/bin/telemetrygen traces --otlp-insecure --traces 10   (also: logs --logs 10, metrics --metrics 10)
 or: .venv/bin/python examples/demo/payments.py   (all four signals, in project payments)
MSG
fi

_build/otelcol-sentry --config examples/otel.yaml
