"""Shared fixtures: the real third-party data in ../shared/data, and the one Ray instance."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("PILE_SHARED_DATA")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``shared/data``: real vocabularies, the lid.176 model and Pile source samples.

    Missing data fails under CI (CI=true) rather than skipping, so a broken checkout
    cannot pass by testing nothing.
    """
    path = _shared_data_dir()
    if not (path / "MANIFEST.md").is_file():
        message = f"shared test data not found at {path} (set PILE_SHARED_DATA)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def ray_executor():
    """The one local Ray instance of the test session (2 CPUs), as a pile executor."""
    from pile.runner import RayExecutor

    executor = RayExecutor(workers=2)
    yield executor
    executor.close()


@pytest.fixture
def build_config(tmp_path):
    """Make a validated Config for a build into tmp_path/out from plain data."""
    from pile.config import parse_config

    def make(sources, **sections):
        data = {"out": str(tmp_path / "out"), "sources": sources,
                "run": {"progress": False, "batch_size": 64}}
        data.update(sections)
        return parse_config(data)

    return make
