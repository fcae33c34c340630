"""Fixtures for runbook tests: a seeded sandbox, the product pointed at it, and Prefect.

- ``seeded`` (session): the sandbox with the primary hub seeded (``sandbox.seed``), and
  ``FOUNDRY_DR_SANDBOX_ENV`` pointing the product's client factory at it.
- ``prefect`` (session): Prefect's test harness (a temporary local server, started once).
- ``plan`` : the sandbox plan (``deployments/plans/sandbox.yaml``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from foundry_dr.plan import Plan, load_plan
from sandbox.config import SandboxConfig
from sandbox.seed import seed

PLAN_PATH = Path(__file__).resolve().parents[3] / "deployments" / "plans" / "sandbox.yaml"


@pytest.fixture(scope="session")
def seeded(sandbox: SandboxConfig) -> Iterator[SandboxConfig]:
    previous = os.environ.get("FOUNDRY_DR_SANDBOX_ENV")
    os.environ["FOUNDRY_DR_SANDBOX_ENV"] = str(sandbox.env_path)
    seed(sandbox, scale=1, echo=lambda _: None)
    yield sandbox
    if previous is None:
        os.environ.pop("FOUNDRY_DR_SANDBOX_ENV", None)
    else:
        os.environ["FOUNDRY_DR_SANDBOX_ENV"] = previous


@pytest.fixture(scope="session")
def prefect() -> Iterator[None]:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def plan() -> Plan:
    return load_plan(PLAN_PATH)
