"""Supply chain and output hygiene: the SBOM that `make sbom` writes, and the one piece of
hand-built markup (the SVG chart), which bandit used to flag for its mark_safe()."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import django

from assessments.charts import pillar_chart

ROOT = Path(__file__).resolve().parents[2]
CYCLONEDX = Path(sys.executable).with_name("cyclonedx-py")


def test_sbom_lists_the_installed_django_with_its_version(tmp_path):
    """The command of `make sbom`, pointed at this interpreter's environment (the Makefile
    points it at a runtime-only venv, which takes a pip install to build)."""
    out = tmp_path / "sbom.cdx.json"
    args = ["environment", "--pyproject", "pyproject.toml", "--output-reproducible"]
    args += ["--of", "JSON", "-o", str(out), sys.executable]
    r = subprocess.run(
        [str(CYCLONEDX), *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    bom = json.loads(out.read_text())
    assert bom["bomFormat"] == "CycloneDX"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    root = bom["metadata"]["component"]
    assert (root["name"], root["version"]) == (project["name"], project["version"])
    by_name = {c["name"].lower(): c for c in bom["components"]}
    assert by_name["django"]["version"] == django.get_version()
    assert by_name["django"]["purl"] == f"pkg:pypi/django@{django.get_version()}"
    # Every runtime dependency is listed (the names as pyproject spells them, before extras).
    for requirement in project["dependencies"]:
        name = requirement.split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip()
        assert name.lower().replace("_", "-") in by_name, name


def test_chart_escapes_every_label():
    hostile = "<script>alert('x')</script> & \"q\""
    svg = str(pillar_chart([{"ref": "1", "title": hostile, "score": 40.0}]))
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;" in svg
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    # The label appears twice: beside the bar and in its tooltip.
    assert svg.count("&lt;script&gt;") == 2
