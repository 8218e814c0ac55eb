# The one place where the collector release is pinned: scripts/pin-versions (`make pins`, run
# by every build) writes it into builder-config.yaml, go-shim/go.mod and bench/exporter/go.mod,
# and tests/test_versions.py checks that they are current. ocb and telemetrygen are installed
# at OTELCOL_VERSION.
# v0.161.0 is the newest release whose contrib modules (sentry, loadbalancing,
# telemetrygen) are all on the Go module proxy.
OTELCOL_VERSION := 0.161.0
# The collector's stable modules (component, pdata, ...) of that release.
OTELCOL_STABLE_VERSION := 1.67.0
# The contrib modules that reached v1 (k8sattributesprocessor) of that release: contrib tags
# them with their own v1 line, v1.0.0 being its v0.161.0.
OTELCOL_CONTRIB_STABLE_VERSION := 1.0.0
# mdatagen of that release needs go.opentelemetry.io/collector/internal/schemagen at the same
# version, which the Go module proxy refuses (403); this one stands in for it (Makefile,
# $(MDATAGEN)). mdatagen uses schemagen only for a `config:` section, which
# go-shim/metadata.yaml has not.
MDATAGEN_SCHEMAGEN_VERSION := 0.159.0
