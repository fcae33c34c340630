"""Fixtures of the reliability suite; helpers live in faultkit.py (conftest is not importable)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from faultkit import PrivateSandboxes


@pytest.fixture(scope="session")
def private_sandboxes(tmp_path_factory: pytest.TempPathFactory, prefect: None) -> Iterator[PrivateSandboxes]:
    sandboxes = PrivateSandboxes(tmp_path_factory)
    try:
        yield sandboxes
    finally:
        sandboxes.close()
