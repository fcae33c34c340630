"""The worst day (issue 13): the primary region is down, its vault included, and so is the
orchestrator that ran there. Every runbook here runs through the CLI in a brand-new Prefect home
with no PREFECT_API_URL (an embedded server of its own: no variables, no concurrency limits, no
history), so it can only work from the plan and what Azure holds in the surviving region.

One scenario, in order, on a private sandbox:
1. two cut-overs from two Prefect homes at once: exactly one takes the failover lock (it pauses
   for approval, holding it); the other exits 4 naming the holder;
2. the holder is SIGKILLed; a third cut-over, from a third home, takes the lock over once the
   dead run's lease expires, and completes with the vault read-only (the pointer flips in storage);
3. ``status`` from a fourth home shows the secondary serving and the lock free;
4. the region heals; fail-back from a fifth home brings production home.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from faultkit import CLI, PLAN_PATH, ROOT, control_of, pointed_at

from foundry_dr.clients import ClientFactory
from foundry_dr.exit_codes import ExitCode
from foundry_dr.plan import load_plan
from foundry_dr.stores.lock import read_lock
from foundry_dr.stores.pointer import read_pointer

LEASE_SECONDS = 8  # the plan's locks.lease_seconds for this test: a crashed holder costs seconds
OVERRIDES = ["--set", f"locks.lease_seconds={LEASE_SECONDS}"]


def fresh_home_env(env_file: Path, home: Path) -> dict[str, str]:
    """A process that has never seen a Prefect server: its own PREFECT_HOME, no API URL."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AZUREML_"))}
    env.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               FOUNDRY_DR_SANDBOX_ENV=str(env_file))  # fmt: skip
    return env


def start(args: list[str], env_file: Path, home: Path, log: Path) -> subprocess.Popen:
    out = log.open("w")
    return subprocess.Popen([*CLI, *args], env=fresh_home_env(env_file, home), cwd=ROOT, stdout=out,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip


def finish(args: list[str], env_file: Path, home: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=fresh_home_env(env_file, home), cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def wait_for(predicate, timeout: float, what: str, every: float = 0.5):  # noqa: ANN001, ANN201 - test helper
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_fresh_orchestrators_fail_over_and_back_with_the_primary_region_down(
    private_sandboxes, tmp_path: Path, record_property
) -> None:
    config = private_sandboxes.get("worst-day")
    plan = load_plan(PLAN_PATH)
    with pointed_at(config):
        factory = ClientFactory(plan)
        run_scenario(config, factory, tmp_path, record_property)


def run_scenario(config, factory: ClientFactory, tmp_path: Path, record_property) -> None:  # noqa: ANN001
    plan = factory.plan
    plan_file = str(PLAN_PATH)
    env_file = config.env_path
    try:
        assert read_pointer(factory)[0].active == "primary"
        control_of(config, "POST", "/faults", {"outage": {"region": plan.primary.location}})

        # 1. two orchestrators at once: one holds the lock (paused for approval), one exits 4
        racers = {
            name: start(["run", "cut-over", "--plan", plan_file, *OVERRIDES, "--set", "locks.wait_seconds=3"],
                        env_file, tmp_path / f"home-{name}", tmp_path / f"{name}.log")
            for name in ("a", "b")
        }  # fmt: skip
        loser = wait_for(lambda: next((n for n, p in racers.items() if p.poll() is not None), None), 300,
                         "one of the two cut-overs to end")  # fmt: skip
        winner = "b" if loser == "a" else "a"
        loser_out = (tmp_path / f"{loser}.log").read_text()
        assert racers[loser].returncode == ExitCode.LOCKED, loser_out[-3000:]
        holder = read_lock(factory)
        assert holder is not None and holder.held() and holder.runbook == "cut-over", holder
        assert f"held by cut-over (flow run {holder.flow_run_id}" in loser_out, loser_out[-3000:]
        assert racers[winner].poll() is None, "the lock holder should be waiting for approval"
        assert read_pointer(factory, allow_stale=True)[0].active == "primary"  # nobody flipped

        # 2. SIGKILL the holder; a third orchestrator takes over once the lease expires
        killed_token = holder.token
        os.killpg(racers[winner].pid, signal.SIGKILL)
        racers[winner].wait(30)
        killed = read_lock(factory)  # as the dead run left it: its lease runs out at expires_at
        assert killed is not None and killed.token == killed_token and killed.expires_at is not None
        killed_at = time.monotonic()
        taken: dict[str, Any] = {}

        def watch() -> None:
            def new_holder() -> bool:
                record = read_lock(factory)
                if record and record.held() and record.token > killed_token:
                    taken["acquired_at"] = record.acquired_at
                    return True
                return False

            wait_for(new_holder, 300, "a new lock holder", every=0.2)
            taken["after"] = time.monotonic() - killed_at

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        third = finish(["run", "cut-over", "--plan", plan_file, "--approve", *OVERRIDES,
                        "--set", "locks.wait_seconds=60"], env_file, tmp_path / "home-c")  # fmt: skip
        watcher.join(60)
        assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
        assert "took over the expired lease" in third.stdout + third.stderr
        # never before the dead run's lease ran out: the lock is only taken over once it expired
        assert taken.get("acquired_at") and taken["acquired_at"] >= killed.expires_at, (taken, killed)
        assert "after" in taken, "the watcher never saw the new holder"
        dead = read_lock(factory)  # released by the third run; its token tells whose it was
        assert dead is not None and dead.token > killed_token
        pointer, source = read_pointer(factory, allow_stale=True)
        assert pointer.active == "secondary" and pointer.fencing_token > killed_token, (pointer, source)
        assert source.startswith("storage (secondary)"), source  # the primary's mirror is down with it
        lock = read_lock(factory)
        assert lock is not None and not lock.held(), lock.describe()  # released at the end

        # 3. status from yet another home: the secondary serves, read from the surviving region
        status = finish(["status", "--plan", plan_file, "--strict"], env_file, tmp_path / "home-d", timeout=300)
        assert status.returncode == 0, status.stdout[-3000:] + status.stderr[-3000:]
        assert plan.secondary.hub in status.stdout and "free" in status.stdout, status.stdout

        # 4. the region heals: fail-back from a fifth home brings production home
        control_of(config, "POST", "/heal")
        back = finish(["run", "fail-back", "--plan", plan_file, "--approve", *OVERRIDES], env_file,
                      tmp_path / "home-e")  # fmt: skip
        assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
        pointer, source = read_pointer(factory)
        assert pointer.active == "primary" and source == "storage (secondary, primary)", source
        record_property(
            "outcome",
            f"one of two cut-overs ran, the other exited 4 naming it; the SIGKILLed holder's lease ({LEASE_SECONDS} s)"
            f" was taken over {taken['after']:.1f} s after the kill; cut-over, status and fail-back ran from"
            " brand-new Prefect homes",
        )
    finally:
        control_of(config, "POST", "/heal")
        for proc in locals().get("racers", {}).values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        factory.close()
