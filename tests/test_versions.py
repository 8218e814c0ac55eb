"""The collector release is edited in versions.mk only; scripts/pin-versions writes it into
the ocb manifest and the go.mod files. These tests run the generator on a copy of those files
and check that the checked-in ones are what it writes."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "scripts" / "pin-versions"
PINNED = ["builder-config.yaml", "builder-config.contrib.yaml", "go-shim/go.mod", "bench/exporter/go.mod"]
# A module and its version, except a replacement's (`A => B v0.160.0`), which the generator leaves
# as it is: builder-config.yaml holds some modules at a version the Go module proxy serves.
COLLECTOR_MODULE = (r"(?<!=> )"
                    r"((?:go\.opentelemetry\.io/collector|github\.com/open-telemetry/opentelemetry-collector-contrib)"
                    r"[\w/.-]*)\s+(v\d+\.\d+\.\d+)\b")
REPLACEMENT = r"=> \S+ v\d+\.\d+\.\d+"


@pytest.fixture
def copy(tmp_path):
    """versions.mk and the pinned files, laid out as in the repository."""
    for name in ["versions.mk", *PINNED]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def generate(root):
    subprocess.run([GENERATOR, "--no-tidy", root], check=True, capture_output=True, text=True)


def test_the_pinned_files_are_what_the_generator_writes(copy):
    generate(copy)
    stale = [name for name in PINNED if (copy / name).read_text() != (ROOT / name).read_text()]
    assert not stale, f"{stale} do not match versions.mk: run `make pins`"


def test_the_generator_reaches_every_collector_module(copy):
    versions = copy / "versions.mk"
    text = re.sub(r"^(OTELCOL_VERSION\s*:=).*$", r"\1 0.999.0", versions.read_text(), flags=re.M)
    text = re.sub(r"^(OTELCOL_STABLE_VERSION\s*:=).*$", r"\1 1.999.0", text, flags=re.M)
    versions.write_text(re.sub(r"^(OTELCOL_CONTRIB_STABLE_VERSION\s*:=).*$", r"\1 1.998.0", text, flags=re.M))
    generate(copy)
    for name in PINNED:
        found = re.findall(COLLECTOR_MODULE, (copy / name).read_text())
        assert found, f"no collector modules in {name}"
        # v1 collector modules get the collector's stable version, v1 contrib modules contrib's own.
        wanted = {"go.opentelemetry.io/collector": ("v0.999.0", "v1.999.0"),
                  "github.com/open-telemetry/opentelemetry-collector-contrib": ("v0.999.0", "v1.998.0")}
        wrong = [(module, v) for module, v in found
                 if v not in next(w for prefix, w in wanted.items() if module.startswith(prefix))]
        assert not wrong, f"{name}: not rewritten from versions.mk: {wrong}"


def test_the_generator_leaves_replacements_alone(copy):
    held = {name: re.findall(REPLACEMENT, (copy / name).read_text()) for name in PINNED}
    assert any(held.values()), "no replacement with a version in the pinned files"
    versions = copy / "versions.mk"
    versions.write_text(re.sub(r"^(OTELCOL_VERSION\s*:=).*$", r"\1 0.999.0", versions.read_text(), flags=re.M))
    generate(copy)
    assert {name: re.findall(REPLACEMENT, (copy / name).read_text()) for name in PINNED} == held


def test_contrib_modules_at_v1_get_contribs_own_version():
    manifest = (ROOT / "builder-config.contrib.yaml").read_text()
    versions = (ROOT / "versions.mk").read_text()
    contrib_stable = re.search(r"^OTELCOL_CONTRIB_STABLE_VERSION\s*:=\s*(\S+)", versions, flags=re.M).group(1)
    assert f"processor/k8sattributesprocessor v{contrib_stable}" in manifest


def test_the_generator_refuses_a_malformed_version(copy):
    versions = copy / "versions.mk"
    versions.write_text(re.sub(r"^(OTELCOL_VERSION\s*:=).*$", r"\1 v0.161", versions.read_text(), flags=re.M))
    result = subprocess.run([GENERATOR, "--no-tidy", copy], capture_output=True, text=True)
    assert result.returncode != 0 and "OTELCOL_VERSION" in result.stderr


def test_the_manifest_builds_with_cgo():
    manifest = yaml.safe_load((ROOT / "builder-config.yaml").read_text())
    assert manifest["dist"]["cgo_enabled"] is True
