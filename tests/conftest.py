"""Fixtures for integration tests: one sandbox (Azurite + emulator) for the whole run.

Use them like this::

    def test_something(sandbox, sandbox_env, control):
        control(sandbox, "POST", "/faults", {"outage": {"region": "eastus"}})
        url = sandbox_env["storage_accounts"]["stfdreastus"]["blob_endpoint"]

- ``sandbox`` (session): the running sandbox's :class:`~foundry_dr_sandbox.config.SandboxConfig`. It is
  started once with ``lifecycle.up(tmpdir, detach=True)`` and stopped (and purged) at the end.
  Set ``FOUNDRY_DR_TEST_SANDBOX_DIR`` to run against a sandbox directory of your own instead;
  it is started if needed and left running, which makes re-runs faster while developing.
- ``sandbox_env`` (session): the ``sandbox env --json`` document (what product code reads).
- ``seeded`` (session): the sandbox with the primary seeded; FOUNDRY_DR_SANDBOX_ENV points the product at it.
- ``prefect`` (session): Prefect's test harness (a temporary server, started once).
- ``plan``: the sandbox plan.
- ``control`` : the function ``control(sandbox, method, path, json=None)`` calling the control
  API (``/faults``, ``/heal``, ``/requests``, ...); it returns the decoded JSON.

After each test that used the sandbox, faults are healed (nothing else is reset: state and the
request log are shared, so tests use unique names and filter the log by them).
Every test under ``tests/integration`` and ``tests/reliability`` gets the ``integration`` marker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foundry_dr.plan import Plan, load_plan
from foundry_dr_sandbox import lifecycle
from foundry_dr_sandbox.config import SandboxConfig
from foundry_dr_sandbox.control import Control
from foundry_dr_sandbox.seed import seed

REUSE_VARIABLE = "FOUNDRY_DR_TEST_SANDBOX_DIR"
_SANDBOX_TEST_DIRS = (Path(__file__).parent / "integration", Path(__file__).parent / "reliability")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(d in item.path.parents for d in _SANDBOX_TEST_DIRS):
            item.add_marker(pytest.mark.integration)


def _quiet(*_: object) -> None:
    """lifecycle's ``echo``: keep the test output clean."""


def control(sandbox: SandboxConfig, method: str, path: str, json: Any = None) -> Any:
    """Call the sandbox's control API (``{control_endpoint}{path}``); raise on an error status."""
    return Control(sandbox).request(method, path, json)


def request_log(sandbox: SandboxConfig, **match: Any) -> list[dict]:
    """Entries of the request log whose fields equal ``match`` (``path`` matches as a substring)."""
    path = match.pop("path", None)
    return [
        e
        for e in control(sandbox, "GET", "/requests") or []
        if (path is None or path in e["path"]) and all(e.get(k) == v for k, v in match.items())
    ]


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxConfig]:
    reuse = os.environ.get(REUSE_VARIABLE)
    if reuse:
        yield lifecycle.up(Path(reuse), detach=True, echo=_quiet)
        return
    directory = tmp_path_factory.mktemp("sandbox")
    config = lifecycle.up(directory, detach=True, echo=_quiet)
    try:
        yield config
    finally:
        lifecycle.down(directory, purge=True, echo=_quiet)


@pytest.fixture(scope="session")
def sandbox_env(sandbox: SandboxConfig) -> dict:
    return sandbox.env()


@pytest.fixture(name="control")
def control_fixture() -> Any:
    """The :func:`control` helper, as a fixture (conftest modules are not meant to be imported)."""
    return control


@pytest.fixture(name="request_log")
def request_log_fixture() -> Any:
    """The :func:`request_log` helper, as a fixture."""
    return request_log


@pytest.fixture(autouse=True)
def _heal_after_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Heal every fault after a test that used the sandbox, so one test's outage ends with it."""
    yield
    if "sandbox" in request.fixturenames:
        control(request.getfixturevalue("sandbox"), "POST", "/heal")


# ---- runbook fixtures: a seeded sandbox, the product pointed at it, Prefect -------------------
PLAN_PATH = Path(__file__).resolve().parents[1] / "deployments" / "plans" / "sandbox.yaml"


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


@pytest.fixture(scope="session")
def provisioned(seeded: SandboxConfig, prefect: None) -> SandboxConfig:
    """The seeded sandbox with the secondary provisioned by the provision-secondary runbook."""
    from foundry_dr.flows.provision_secondary import provision_secondary

    provision_secondary(plan=load_plan(PLAN_PATH), approve=True)
    return seeded


@pytest.fixture(scope="session")
def standby_ready(provisioned: SandboxConfig) -> SandboxConfig:
    """Provisioned, replicated, and the secondary's deployments at standby size: a warm standby."""
    from foundry_dr.flows.recreate_deployments import recreate_deployments
    from foundry_dr.flows.replicate_artifacts import replicate_artifacts

    plan = load_plan(PLAN_PATH)
    replicate_artifacts(plan=plan, approve=True)
    recreate_deployments(plan=plan, approve=True, sizing="standby")
    return provisioned
