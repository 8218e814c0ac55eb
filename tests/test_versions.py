"""The collector release is pinned once, in versions.mk; the ocb manifest and the
Go module must use exactly that release."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def pinned():
    text = (ROOT / "versions.mk").read_text()
    values = dict(re.findall(r"^(\w+)\s*:=\s*(\S+)", text, re.M))
    return "v" + values["OTELCOL_VERSION"], "v" + values["OTELCOL_STABLE_VERSION"]


def collector_modules(text):
    """(module, version) of every collector or contrib module named in `text`."""
    pattern = r"((?:go\.opentelemetry\.io/collector|github\.com/open-telemetry/opentelemetry-collector-contrib)[\w/.-]*)\s+(v\S+)"
    return re.findall(pattern, text)


def test_manifest_and_go_module_use_the_pinned_release():
    unstable, stable = pinned()
    manifest = yaml.safe_load((ROOT / "builder-config.yaml").read_text())
    assert manifest["dist"]["cgo_enabled"] is True
    gomods = [
        m["gomod"]
        for kind in ("receivers", "processors", "exporters", "extensions", "connectors", "providers")
        for m in manifest.get(kind) or []
    ]
    found = collector_modules("\n".join(gomods)) + collector_modules((ROOT / "go-shim" / "go.mod").read_text())
    assert found, "no collector modules found"
    wrong = [(m, v) for m, v in found if v not in (unstable, stable)]
    assert not wrong, f"not at the pinned release {unstable}/{stable}: {wrong}"
