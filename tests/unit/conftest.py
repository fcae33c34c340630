"""Shared fixtures for unit tests: the shipped example plans, as paths and as fresh dicts."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PLANS = REPO / "deployments" / "plans"
SANDBOX_PLAN = PLANS / "sandbox.yaml"
EXAMPLE_AZURE_PLAN = PLANS / "example-azure.yaml"


@pytest.fixture
def sandbox_plan_path() -> Path:
    return SANDBOX_PLAN


@pytest.fixture
def example_plan_path() -> Path:
    return EXAMPLE_AZURE_PLAN


@pytest.fixture
def sandbox_plan_data() -> dict[str, Any]:
    """A fresh, mutable copy of deployments/plans/sandbox.yaml."""
    return copy.deepcopy(yaml.safe_load(SANDBOX_PLAN.read_text()))


@pytest.fixture
def example_plan_data() -> dict[str, Any]:
    """A fresh, mutable copy of deployments/plans/example-azure.yaml."""
    return copy.deepcopy(yaml.safe_load(EXAMPLE_AZURE_PLAN.read_text()))


@pytest.fixture
def write_plan(tmp_path: Path) -> Callable[[Any], Path]:
    """Write a plan (a dict, dumped as YAML, or raw text) to a temporary file; return its path."""
    counter = iter(range(1_000_000))

    def write(content: Any) -> Path:
        path = tmp_path / f"plan-{next(counter)}.yaml"
        text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
        path.write_text(text)
        return path

    return write
