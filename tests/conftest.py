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
