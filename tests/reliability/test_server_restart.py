"""A Prefect server restart during the approval pause leaves no stuck lock (issue 20, point 3).

A user saw a cut-over crash when its Prefect server restarted during the pause (a concurrency
lease renewal answered 410 Gone), leaving a lock no run held. The lock now lives in the
secondary's storage (foundry_dr/stores/lock.py). Here a real `prefect server start` is
restarted (same database, same port) while a cut-over is paused for approval: afterwards the
paused run is still answerable, and once answered (rejected: nothing is changed in the shared
sandbox) the CLI exits 3 and the lock is free. A run that could not survive the restart would
have to end with its lock released too: either way no lock may stay held.

The plan gets a name of its own, so its lock and pointer records touch no other test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from faultkit import CLI, PLAN_PATH, ROOT

from foundry_dr.clients import ClientFactory
from foundry_dr.exit_codes import ExitCode
from foundry_dr.plan import apply_overrides, load_plan
from foundry_dr.stores.lock import read_lock

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
BIN = Path(os.environ.get("VIRTUAL_ENV") or ROOT / ".venv") / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`prefect server start` on a fixed port and home, which can be stopped and started again."""

    def __init__(self, home: Path, port: int) -> None:
        self.home, self.port, self.proc = home, port, None
        self.url = f"http://127.0.0.1:{port}/api"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AZUREML_"))},
            "PREFECT_HOME": str(home), "PREFECT_API_URL": self.url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1", "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        }  # fmt: skip

    def start(self) -> None:
        log = (self.home / "server.log").open("a")
        self.proc = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                                      str(self.port)], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"prefect server did not start:\n{(self.home / 'server.log').read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    home = tmp_path / "prefect-home"
    home.mkdir()
    srv = Server(home, free_port())
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def paused_run(server: Server, plan_name: str) -> Any:
    """The paused cut-over of ``plan_name`` on the server, or None."""
    runs = httpx.post(f"{server.url}/flow_runs/filter", json={"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}},
                      timeout=10).json()  # fmt: skip
    return next((r for r in runs if plan_name in r["name"]), None)


def wait_for(predicate, timeout: float, what: str):  # noqa: ANN001, ANN201 - test helper
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_a_server_restart_during_the_approval_pause_leaves_no_stuck_lock(
    provisioned: Any, server: Server, tmp_path: Path, record_property: Any
) -> None:
    name = f"restart-{uuid.uuid4().hex[:6]}"
    plan = apply_overrides(load_plan(PLAN_PATH), [f"name={name}"])
    env = {**server.env, "FOUNDRY_DR_SANDBOX_ENV": str(provisioned.env_path)}
    log = (tmp_path / "cut-over.log").open("w")
    runbook = subprocess.Popen([*CLI, "run", "cut-over", "--plan", str(PLAN_PATH), "--set", f"name={name}",
                                "--in-process"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)  # fmt: skip
    factory = ClientFactory(plan)
    try:
        run = wait_for(lambda: paused_run(server, name) or (runbook.poll() is not None and "ended"), 300,
                       "the cut-over to pause for approval")  # fmt: skip
        assert run != "ended", (tmp_path / "cut-over.log").read_text()[-3000:]
        held = read_lock(factory)
        assert held is not None and held.held() and held.flow_run_id == run["id"], held

        server.stop()  # the restart: same database, same port
        time.sleep(5)
        server.start()

        if runbook.poll() is None:  # it survived: the pause can still be answered
            answered = subprocess.run([*CLI, "reject", run["id"], "--approver", "test", "--reason", "after restart"],
                                      env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
            assert answered.returncode == 0, answered.stdout[-2000:] + answered.stderr[-2000:]
        code = runbook.wait(300)
        output = (tmp_path / "cut-over.log").read_text()
        lock = read_lock(factory)
        assert lock is not None and not lock.held(), (lock.describe() if lock else None, output[-3000:])
        assert code == ExitCode.REJECTED, output[-3000:]
        record_property("outcome", "the paused cut-over survived a Prefect server restart, was rejected after it "
                                   "(exit 3) and released its lock")  # fmt: skip
    finally:
        if runbook.poll() is None:
            os.killpg(runbook.pid, signal.SIGKILL)
        log.close()
        factory.close()
