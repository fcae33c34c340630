"""prefect.yaml end to end: a real `prefect server start`, `scripts/deploy.sh` (`prefect deploy
--all`), a process worker, and the CLI's remote mode against the seeded sandbox.

What it proves: every runbook deploys with its schedule, parameters and concurrency limit;
replicate-artifacts started through the API runs on a worker and leaves its artifacts; and
`foundry-dr run` (PREFECT_API_URL set) follows a cut-over that pauses for approval until
`foundry-dr reject` answers it, exiting 3 with nothing changed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from foundry_dr import runbooks
from foundry_dr.clients import ClientFactory
from foundry_dr.plan import load_plan
from foundry_dr.stores.pointer import read_pointer

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
PLAN = "deployments/plans/sandbox.yaml"
RUNBOOKS = list(runbooks.NAMES)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """Stop a process group this test started (server, worker), politely then firmly."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server_env(provisioned, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A `prefect server start` on loopback with its own PREFECT_HOME; the env to talk to it."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_CLI_PROMPT": "false",
        # no scheduled runs racing the runs this test starts (the schedules are still checked)
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "FOUNDRY_DR_HOME": str(ROOT),
        "FOUNDRY_DR_SANDBOX_ENV": str(provisioned.env_path),
    }
    env.pop("PREFECT_PROFILES_PATH", None)
    # azure-ai-ml records the current cloud in os.environ (AZUREML_CURRENT_CLOUD) when this
    # process seeds the sandbox; a fresh flow-run process inheriting it fails with "Unknown cloud
    # environment" before its MLClient registers that cloud. Workers start with a clean slate.
    for name in [n for n in env if n.startswith("AZUREML_")]:
        env.pop(name)
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{env['PREFECT_API_URL']}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not start:\n{(home / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield env
    finally:
        stop(server)
        log.close()


@pytest.fixture(scope="module")
def deployed(server_env: dict[str, str]) -> dict[str, str]:
    """scripts/deploy.sh run twice (idempotent): work pool + `prefect deploy --all --no-prompt`."""
    for _ in range(2):
        env = {**server_env, "PREFECT": str(BIN / "prefect")}
        out = subprocess.run(["bash", "scripts/deploy.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=300)  # fmt: skip
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return server_env


@pytest.fixture(scope="module")
def worker(deployed: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen]:
    log = (tmp_path_factory.mktemp("worker") / "worker.log").open("w")
    proc = subprocess.Popen([str(BIN / "prefect"), "worker", "start", "--pool", "foundry-dr"], cwd="/",
                            env=deployed, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        yield proc
    finally:
        stop(proc)
        log.close()


def in_env(env: dict[str, str]):
    """Prefect settings of the test server for in-process client calls."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    return temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]})


def wait_final(flow_run_id: UUID, timeout: float = 300):
    from prefect import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            state = client.read_flow_run(flow_run_id).state
            if state.is_final():
                return state
            assert time.monotonic() < deadline, f"run {flow_run_id} still {state.name}"
            time.sleep(1)


def test_every_runbook_is_deployed(deployed: dict[str, str]) -> None:
    from prefect import get_client

    with in_env(deployed), get_client(sync_client=True) as client:
        deployments = {name: client.read_deployment_by_name(f"{name}/{name}") for name in RUNBOOKS}
    for name, dep in deployments.items():
        assert dep.work_pool_name == "foundry-dr", name
        assert dep.parameters["plan"] == PLAN and dep.parameters["approve"] is False, name
        assert dep.enforce_parameter_schema, name
        assert dep.global_concurrency_limit and dep.global_concurrency_limit.limit == 1, name
        # FOUNDRY_DR_HOME was set at deploy time, so the checkout is fixed in the deployment
        assert dep.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]
        assert "foundry-dr" in dep.tags
    [interval] = deployments["replicate-artifacts"].schedules
    assert interval.schedule.interval.total_seconds() == 900
    [weekly] = deployments["dr-drill"].schedules
    assert weekly.schedule.cron == "0 3 * * 1"
    assert not deployments["cut-over"].schedules


def test_replicate_artifacts_runs_on_a_worker(worker: subprocess.Popen, deployed: dict[str, str]) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.deployments import run_deployment

    with in_env(deployed):
        flow_run = run_deployment("replicate-artifacts/replicate-artifacts", parameters={"plan": PLAN}, timeout=0)
        with get_client(sync_client=True) as client:
            assert client.read_flow_run(flow_run.id).deployment_id is not None
        state = wait_final(flow_run.id)
        assert state.is_completed(), f"{state.name}: {state.message}"
        with get_client(sync_client=True) as client:
            artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])))
    report = next(a for a in artifacts if a.key == "replicate-artifacts-report")
    assert "replicate-artifacts to-secondary" in report.data and "completed" in report.data


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "foundry-dr"), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def test_cli_run_follows_a_deployment(worker: subprocess.Popen, deployed: dict[str, str]) -> None:
    out = run_cli(deployed, "run", "replicate-artifacts", "--plan", PLAN, "--dry-run", timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "started replicate-artifacts run" in out.stderr and "Completed" in out.stderr


def test_cli_run_paused_cut_over_then_reject(worker: subprocess.Popen, deployed: dict[str, str]) -> None:
    """The CLI follows a cut-over into its approval pause; `foundry-dr reject` ends it: exit 3."""
    plan = load_plan(ROOT / PLAN)
    factory = ClientFactory(plan)
    before, _ = read_pointer(factory)
    follower = subprocess.Popen([str(BIN / "foundry-dr"), "run", "cut-over", "--plan", PLAN], cwd=ROOT, env=deployed,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        from prefect import get_client
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

        with in_env(deployed), get_client(sync_client=True) as client:
            deadline = time.monotonic() + 240
            paused = None
            while paused is None:
                runs = client.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(
                    any_=["cut-over"])))  # fmt: skip
                paused = next((r for r in runs if r.state and r.state.is_paused()), None)
                assert time.monotonic() < deadline and follower.poll() is None, "cut-over never paused"
                time.sleep(1)
        bad = run_cli(deployed, "approve", "123", "--approver", "ops", "--reason", "x")
        assert bad.returncode == 2 and "not a flow run id" in bad.stderr
        out = run_cli(deployed, "reject", str(paused.id), "--approver", "ops@contoso", "--reason", "INC-42 false alarm")
        assert out.returncode == 0, out.stderr
        again = run_cli(deployed, "approve", str(paused.id), "--approver", "ops", "--reason", "late")
        assert again.returncode == 2 and "not paused" in again.stderr
        stdout, stderr = follower.communicate(timeout=240)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 3, stderr[-3000:]
    assert f"foundry-dr approve {paused.id}" in stderr and "Paused" in stderr
    after, _ = read_pointer(factory)
    assert after.active == before.active and after.version == before.version, "a rejected cut-over changed nothing"
    factory.close()


def wait_paused(flow_run_id: UUID, timeout: float = 240):
    from prefect import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            state = client.read_flow_run(flow_run_id).state
            if state.is_paused():
                return state
            assert not state.is_final() and time.monotonic() < deadline, f"run {flow_run_id}: {state.name}"
            time.sleep(1)


def test_ui_screenshot_of_the_approval_form(worker: subprocess.Popen, deployed: dict[str, str],
                                           tmp_path: Path) -> None:
    """Headless chromium on the Prefect UI of a paused cut-over: a PNG of the approval form.

    FOUNDRY_DR_UPDATE_SCREENSHOT=1 writes it to docs/img/approval-form.png (the docs' image).
    """
    import importlib.util

    installer = subprocess.run(["bash", "scripts/install-chromium.sh"], cwd=ROOT, capture_output=True, text=True)
    spec = importlib.util.spec_from_file_location("ui_screenshot", ROOT / "scripts" / "ui_screenshot.py")
    ui_screenshot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ui_screenshot)
    if ui_screenshot.find_chromium() is None:
        pytest.skip(f"chromium is not installed ({installer.stderr.strip() or 'scripts/install-chromium.sh failed'})")

    from prefect.deployments import run_deployment

    from foundry_dr.remote import resume

    with in_env(deployed):
        flow_run = run_deployment("cut-over/cut-over", parameters={"plan": PLAN, "reason": "UI screenshot"},
                                  timeout=0)  # fmt: skip
        try:
            wait_paused(flow_run.id)
            docs_image = ROOT / "docs" / "img" / "approval-form.png"
            out = docs_image if os.environ.get("FOUNDRY_DR_UPDATE_SCREENSHOT") == "1" else tmp_path / docs_image.name
            ui = deployed["PREFECT_API_URL"].removesuffix("/api")
            ui_screenshot.screenshot_approval_form(ui, str(flow_run.id), out)
            assert out.stat().st_size > 10_000 and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        finally:
            resume(str(flow_run.id), approve=False, approver="test", reason="screenshot taken")
            assert not wait_final(flow_run.id).is_completed()


def test_the_ui_is_told_the_api_url_exported_before_the_server_started(server_env: dict[str, str]) -> None:
    """The README's order (export PREFECT_API_URL, then `prefect server start --port`): the UI's
    settings point browsers at that URL's port, not at 4200."""
    ui = server_env["PREFECT_API_URL"].removesuffix("/api")
    settings = httpx.get(f"{ui}/ui-settings", timeout=10).json()
    assert settings["api_url"] == server_env["PREFECT_API_URL"], settings


def test_deploy_sh_puts_every_deployment_on_the_pool_it_is_given(deployed: dict[str, str]) -> None:
    """`prefect deploy --all --pool X` ignores X (prefect.yaml names the pool): deploy.sh must not."""
    from prefect import get_client

    def pools() -> set[str]:
        with in_env(deployed), get_client(sync_client=True) as client:
            return {d.work_pool_name for d in client.read_deployments() if d.name in runbooks.NAMES}

    env = {**deployed, "PREFECT": str(BIN / "prefect")}
    try:
        for how in ({"FOUNDRY_DR_WORK_POOL": "foundry-dr-alt"}, {"args": ["--pool", "foundry-dr-alt2"]}):
            args = how.pop("args", [])
            out = subprocess.run(["bash", "scripts/deploy.sh", *args], cwd=ROOT, env={**env, **how},
                                 capture_output=True, text=True, timeout=300)  # fmt: skip
            assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
            assert "will be ignored" not in out.stdout + out.stderr
            assert pools() == {how.get("FOUNDRY_DR_WORK_POOL") or args[1]}
        assert not list(ROOT.glob(".prefect-deploy-*.yaml"))  # the pool's copy of prefect.yaml is removed
    finally:
        subprocess.run(["bash", "scripts/deploy.sh"], cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert pools() == {"foundry-dr"}
