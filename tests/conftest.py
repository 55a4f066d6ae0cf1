"""Shared fixtures: the location of ``../shared`` (datasets, reference material)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` relative to the repo root; skips the test when it is absent."""
    path = REPO.parent / "shared"
    if not path.is_dir():
        pytest.skip(f"../shared not present: {path} is missing (datasets and reference material live there)")
    return path
