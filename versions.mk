# The one place where the collector release is pinned. builder-config.yaml and
# go-shim/go.mod must name the same versions: tests/test_versions.py checks it.
# v0.161.0 is the newest release whose contrib modules (sentry, loadbalancing,
# telemetrygen) are all on the Go module proxy.
OTELCOL_VERSION := 0.161.0
# The collector's stable modules (component, pdata, ...) of that release.
OTELCOL_STABLE_VERSION := 1.67.0
