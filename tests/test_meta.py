"""Meta-tests: every shipped config loads, every registered source has its tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from pile.config import load_config
from pile.sources import KINDS, make_source, source_class

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads_and_its_sources_accept_their_options(path, tmp_path):
    cfg = load_config(path)
    for scfg in cfg.sources:
        src = make_source(scfg, tmp_path)
        assert src.kind == scfg.kind


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_source_kind_has_a_test_module_and_metadata(kind):
    cls = source_class(kind)
    assert cls.kind == kind
    assert cls.license and cls.upstream
    names = {"python": "local", "system_docs": "local", "pubmed_abstracts": "pubmed",
             "pubmed_central": "pmc"}
    module = names.get(kind, kind)
    assert (REPO / "tests" / f"test_sources_{module}.py").is_file(), f"no tests/test_sources_{module}.py"


def test_no_print_outside_the_cli_and_no_ray_outside_the_runner():
    for path in sorted((REPO / "pile").rglob("*.py")):
        text = path.read_text()
        rel = path.relative_to(REPO).as_posix()
        if rel != "pile/cli.py":
            assert "\nprint(" not in text and "    print(" not in text, f"print() in {rel}"
        if rel != "pile/runner.py":
            assert "import ray" not in text, f"Ray imported in {rel}"


def _pytest(args: list[str], env_extra: dict[str, str]) -> "subprocess.CompletedProcess[str]":
    import os
    import subprocess
    import sys

    env = {**os.environ, **env_extra}
    env.pop("CI", None)  # the rule holds outside CI too
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_missing_shared_data_fails_with_one_line_and_the_marker_deselects(tmp_path):
    test = "tests/test_sources_gutenberg.py::test_modern_format_sample"
    missing = tmp_path / "no-data-here"
    run = _pytest([test], {"PILE_SHARED_DATA": str(missing)})
    assert run.returncode == 1, run.stdout
    assert "1 error" in run.stdout and "skipped" not in run.stdout
    lines = [ln for ln in run.stdout.splitlines() if "shared test data not found" in ln]
    # where it looked, and both ways out
    assert any(str(missing / "MANIFEST.md") in ln and "PILE_SHARED_DATA=" in ln
               and '-m "not shared_data"' in ln for ln in lines), run.stdout
    assert "Traceback" not in run.stdout
    run = _pytest([test, "-m", "not shared_data"], {"PILE_SHARED_DATA": str(missing)})
    assert run.returncode == 5 and "1 deselected" in run.stdout, run.stdout  # 5: nothing ran
