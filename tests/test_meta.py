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
