"""Helpers of the reliability suite (fixtures in conftest.py; the session sandbox and Prefect in tests/conftest.py).

- ``PrivateSandboxes.get(name)``: a sandbox of the suite's own, started, seeded and made a warm standby
  (provisioned, replicated, standby deployments) once per name and stopped at the end of the
  session. Scenarios that flip the pointer or hold the failover lock run there, so they neither
  see nor disturb the shared session sandbox, whatever the test order.
- ``pointed_at(config, principal)``: FOUNDRY_DR_SANDBOX_ENV pointed at a copy of a sandbox's
  env.json for the duration of a ``with`` block (restored afterwards). The copy has a cloud name
  of its own: azure-ai-ml registers a custom cloud once per process and silently keeps the first
  registration, so two sandboxes under one name would share the first one's ARM endpoint.
  ``principal="reader"`` swaps in the sandbox's reader credential.
- ``cli(args, env_file, ...)``: the real CLI in a subprocess, recorded on the test's Prefect server.
- ``add_work(...)``: new blobs and asset versions in the primary, so a run has something to copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from foundry_dr.clients import ClientFactory
from foundry_dr.plan import load_plan
from foundry_dr_sandbox import lifecycle
from foundry_dr_sandbox.config import SandboxConfig
from foundry_dr_sandbox.control import Control

ROOT = Path(__file__).resolve().parents[2]
PLAN_PATH = ROOT / "deployments" / "plans" / "sandbox.yaml"
CLI = [sys.executable, "-m", "foundry_dr.cli"]


def _quiet(*_: object) -> None:
    """lifecycle's ``echo``: keep the test output clean."""


def control_of(config: SandboxConfig, method: str, path: str, json_body: Any = None) -> Any:
    """The control API of any sandbox (shared or private)."""
    return Control(config).request(method, path, json_body)


def requests_since(config: SandboxConfig, since: float, **match: Any) -> list[dict]:
    """Request-log entries at or after ``since`` whose fields equal ``match`` (path: substring)."""
    path = match.pop("path", None)
    return [e for e in control_of(config, "GET", "/requests") or []
            if e["t"] >= since and (path is None or path in e["path"])
            and all(e.get(k) == v for k, v in match.items())]  # fmt: skip


def env_copy(config: SandboxConfig, principal: str = "owner") -> Path:
    """A copy of the sandbox's env.json with a cloud name of its own (and the reader's credential)."""
    env = json.loads(config.env_path.read_text())
    env["cloud_name"] = f"FoundryDrSandbox{config.ports['arm']}"
    if principal == "reader":
        env["credential"] = env["reader_credential"]
    path = config.dir / f"env-{principal}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(env, fh, indent=2)
    return path


@contextlib.contextmanager
def pointed_at(config: SandboxConfig, principal: str = "owner") -> Iterator[Path]:
    """Point the product (FOUNDRY_DR_SANDBOX_ENV) at ``config`` for the block; restore afterwards."""
    previous = os.environ.get("FOUNDRY_DR_SANDBOX_ENV")
    path = env_copy(config, principal)
    os.environ["FOUNDRY_DR_SANDBOX_ENV"] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop("FOUNDRY_DR_SANDBOX_ENV", None)
        else:
            os.environ["FOUNDRY_DR_SANDBOX_ENV"] = previous


class PrivateSandboxes:
    """Private sandboxes by name, made a warm standby on first use, stopped at session end.

    ``FOUNDRY_DR_TEST_PRIVATE_DIR`` (like ``FOUNDRY_DR_TEST_SANDBOX_DIR``) keeps them in
    ``DIR/<name>`` and leaves them running, which makes re-runs faster while developing.
    """

    REUSE_VARIABLE = "FOUNDRY_DR_TEST_PRIVATE_DIR"

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._tmp = factory
        self._reuse = os.environ.get(self.REUSE_VARIABLE)
        self._made: dict[str, SandboxConfig] = {}

    def get(self, name: str) -> SandboxConfig:
        if name in self._made:
            return self._made[name]
        directory = Path(self._reuse) / name if self._reuse else self._tmp.mktemp(f"sandbox-{name}")
        config = lifecycle.up(directory, detach=True, echo=_quiet)
        self._made[name] = config
        ready = config.dir / "standby-ready"
        if not ready.exists():
            self._make_standby(config)
            ready.touch()
        return config

    @staticmethod
    def _make_standby(config: SandboxConfig) -> None:
        from foundry_dr.flows.provision_secondary import provision_secondary
        from foundry_dr.flows.recreate_deployments import recreate_deployments
        from foundry_dr.flows.replicate_artifacts import replicate_artifacts

        # Seeded in a process of its own: seed() names the sandbox's cloud as env.json does, and this
        # process may already have registered that name for another sandbox (see pointed_at).
        seeded = subprocess.run([*CLI, "sandbox", "seed", "--dir", str(config.dir)], capture_output=True, text=True,
                                cwd=ROOT, env=cli_env(config.env_path), timeout=600)  # fmt: skip
        assert seeded.returncode == 0, seeded.stdout[-2000:] + seeded.stderr[-2000:]
        with pointed_at(config):
            plan = load_plan(PLAN_PATH)
            provision_secondary(plan=plan, approve=True)
            replicate_artifacts(plan=plan, approve=True)
            recreate_deployments(plan=plan, approve=True, sizing="standby")

    def close(self) -> None:
        if self._reuse:
            return
        for config in self._made.values():
            with contextlib.suppress(Exception):
                lifecycle.down(config.dir, purge=True, echo=_quiet)


# ---- the CLI in a subprocess ---------------------------------------------------------------
def prefect_api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value())


def cli_env(env_file: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess: the sandbox env file and the test's Prefect server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZUREML_")}
    env.update(FOUNDRY_DR_SANDBOX_ENV=str(env_file), PREFECT_API_URL=prefect_api_url(),
               PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1", **extra)  # fmt: skip
    return env


def cli(args: list[str], env_file: Path, timeout: float = 900, **extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``foundry-dr ARGS`` to its end (``run`` gets ``--in-process``: no deployment needed)."""
    if args and args[0] == "run" and "--in-process" not in args:
        args = [*args, "--in-process"]
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=cli_env(env_file, **extra), cwd=ROOT,
                          timeout=timeout)  # fmt: skip


# ---- work for a run to do ------------------------------------------------------------------
def add_work(factory: ClientFactory, tag: str, blobs: int = 12, size: int = 32 * 1024, assets: bool = True) -> None:
    """New blobs in both primary containers and, with ``assets``, a new data asset version and
    model version in the first project (names carry ``tag``: scenarios never collide)."""
    from azure.ai.ml.entities import Data, Model
    from azure.storage.blob import ContentSettings

    plan = factory.plan
    hub = factory.ml_client("primary")
    default = hub.datastores.get_default()
    targets = [(default.account_name, default.container_name)]
    if plan.primary.extra_storage_accounts:
        targets.append((plan.primary.extra_storage_accounts[0], "training-data"))
    for account, container in targets:
        cc = factory.blob_service(account).get_container_client(container)
        for i in range(blobs):
            cc.upload_blob(
                f"reliability/{tag}/part-{i:04d}.bin", os.urandom(size), overwrite=True,
                metadata={"scenario": tag.replace("-", "_"), "index": str(i)},
                content_settings=ContentSettings(content_type="application/octet-stream"),
            )  # fmt: skip
    if assets:
        ml = factory.ml_client("primary", plan.primary.projects[0])
        version = str(int(time.time() * 1000) % 10**9)
        ml.data.create_or_update(Data(
            name=f"rel-{tag}", version=version, type="uri_folder",
            path=f"azureml://datastores/workspaceblobstore/paths/reliability/{tag}/",
            description=f"reliability scenario {tag}", tags={"scenario": tag, "run": uuid.uuid4().hex[:8]},
        ))  # fmt: skip
        ml.models.create_or_update(Model(
            name=f"rel-{tag}-model", version=version, type="custom_model",
            path=f"azureml://datastores/workspaceblobstore/paths/reliability/{tag}/",
            description=f"model of scenario {tag}", tags={"scenario": tag},
        ))  # fmt: skip


def add_endpoint(factory: ClientFactory, name: str) -> None:
    """A new online endpoint with one deployment in the primary's first project (ARM, like the seed)."""
    plan = factory.plan
    p = plan.primary
    ws = (f"/subscriptions/{p.subscription_id}/resourceGroups/{p.resource_group}/providers/"
          f"Microsoft.MachineLearningServices/workspaces/{p.projects[0]}")  # fmt: skip
    rc = factory.resource_client(p.subscription_id)
    ep = f"{ws}/onlineEndpoints/{name}"
    rc.resources.begin_create_or_update_by_id(ep, {
        "location": p.location, "kind": "Managed", "identity": {"type": "SystemAssigned"},
        "properties": {"authMode": "Key", "description": "reliability scenario"}}, api_version="2024-04-01").result()
    rc.resources.begin_create_or_update_by_id(f"{ep}/deployments/blue", {
        "location": p.location, "kind": "Managed", "sku": {"name": "Default", "capacity": 2},
        "properties": {"endpointComputeType": "Managed", "model": f"{ws}/models/churn-classifier/versions/3",
                       "environmentId": f"{ws}/environments/sklearn-env/versions/1-4",
                       "instanceType": "Standard_DS3_v2"}}, api_version="2024-04-01").result()  # fmt: skip
    rc.resources.begin_create_or_update_by_id(ep, {  # an endpoint serves once traffic goes to a deployment
        "location": p.location, "kind": "Managed", "identity": {"type": "SystemAssigned"},
        "properties": {"authMode": "Key", "description": "reliability scenario", "traffic": {"blue": 100}}},
        api_version="2024-04-01").result()  # fmt: skip


# ---- threads -------------------------------------------------------------------------------
def in_thread(fn: Callable[[], Any], name: str = "runbook") -> tuple[threading.Thread, dict[str, Any]]:
    """Run ``fn`` in a daemon thread; its result or exception lands in the returned box."""
    box: dict[str, Any] = {}

    def target() -> None:
        box["started"] = time.time()
        try:
            box["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc
        box["ended"] = time.time()

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread, box


def after(seconds: float, action: Callable[[], Any]) -> threading.Thread:
    """Do ``action`` ``seconds`` from now, in a thread (a fault that starts mid-run)."""

    def target() -> None:
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def when(condition: Callable[[], bool], action: Callable[[], Any], timeout: float = 300,
         poll: float = 0.2) -> threading.Thread:  # fmt: skip
    """Do ``action`` as soon as ``condition()`` holds (polled), in a thread."""

    def target() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                action()
                return
            time.sleep(poll)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread
