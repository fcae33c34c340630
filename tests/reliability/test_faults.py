"""Fault matrix: runbooks x injected faults. Each run completes through retries, or stops with a
clear message and a re-run (faults healed) completes; then the regions are verified item by item.

replicate-artifacts runs on the shared session sandbox (idempotent, order-independent: every
scenario first adds its own blobs and asset versions to the primary, so there is work to do).
recreate-deployments runs on a private sandbox whose pointer always stays on the primary (it
adds an endpoint of its own to the primary, which the run must create in the secondary), and
cut-over on another private sandbox (it flips the pointer). Expensive scenarios are ``slow``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from faultkit import (
    CLI,
    ROOT,
    add_endpoint,
    add_work,
    after,
    cli,
    cli_env,
    control_of,
    pointed_at,
    requests_since,
    when,
)
from verify import verify_regions

from foundry_dr.clients import ClientFactory
from foundry_dr.flows.cut_over import cut_over
from foundry_dr.flows.recreate_deployments import recreate_deployments
from foundry_dr.flows.replicate_artifacts import replicate_artifacts
from foundry_dr.plan import Plan
from foundry_dr_sandbox import lifecycle
from foundry_dr_sandbox.config import SandboxConfig

pytestmark = pytest.mark.usefixtures("prefect")
slow = pytest.mark.slow


@dataclass
class Fault:
    """A fault: what to POST to /faults before the run (``spec``) or do from a thread (``during``),
    and the request-log entries that prove it hit the run (``evidence``: status, service, method)."""

    spec: dict[str, Any] | None = None
    during: Callable[[SandboxConfig], Any] | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    keep: dict[str, Any] | None = None  # still in force for the re-run (e.g. the outage being failed over)


def _clear_message(exc: BaseException) -> str:
    """A failure must say what failed in one readable message (no bare status code, no traceback)."""
    text = str(exc)
    assert text and len(text) < 4000 and "Traceback" not in text, f"unclear failure: {type(exc).__name__}: {text!r}"
    return f"{type(exc).__name__}: {text.splitlines()[0][:300]}"


def run_with_fault(
    config: SandboxConfig, fault: Fault, run: Callable[[], Any], record_property: Callable[[str, Any], None]
) -> tuple[str, float, float]:
    """Inject ``fault``, run; on failure heal (but ``keep``) and run again, which must complete. Returns
    the outcome (``completed ...`` or ``failed cleanly (<message>); re-run completed``), start and end."""
    t0 = time.time()
    if fault.spec:
        control_of(config, "POST", "/faults", fault.spec)
    helper = after(0, lambda: fault.during(config)) if fault.during else None
    try:
        run()
        outcome = "completed through retries"
    except Exception as exc:  # noqa: BLE001 - judged, then re-run
        message = _clear_message(exc)
        if helper:
            helper.join(120)
        control_of(config, "POST", "/heal")
        if fault.keep:
            control_of(config, "POST", "/faults", fault.keep)
        run()
        outcome = f"failed cleanly ({message}); re-run" + (f" (still {list(fault.keep)})" if fault.keep else "") + \
            " completed"
    finally:
        if helper:
            helper.join(120)
        control_of(config, "POST", "/heal")
    if fault.evidence:
        hits = requests_since(config, t0, **fault.evidence)
        assert hits, f"the fault never hit the run: no {fault.evidence} in the request log"
        record_property("fault_hits", len(hits))
    record_property("outcome", outcome)
    return outcome, t0, time.time()


def record_verification(record_property: Callable[[str, Any], None], factory: ClientFactory, **kwargs: Any) -> None:
    result = verify_regions(factory, **kwargs)
    record_property("verified", result.summary())
    result.assert_ok()


# ---- mid-run faults driven from a thread --------------------------------------------------
def secondary_outage(config: SandboxConfig) -> None:
    """Take the secondary region down once the run has started writing blobs into it."""
    start = time.time()
    when(lambda: bool(requests_since(config, start, service="storage", region="westus", method="PUT")),
         lambda: control_of(config, "POST", "/faults", {"outage": {"region": "westus", "mode": "503"}})).join(300)


RESTARTS: list[tuple[float, float]] = []  # (stopped, answering again) of emulator_restart


def emulator_restart(config: SandboxConfig) -> None:
    """Stop and start the sandbox processes (state is persisted) once the run is under way."""
    start = time.time()

    def restart() -> None:
        stopped = time.time()
        lifecycle.down(config.dir, echo=lambda _: None)
        lifecycle.up(config.dir, detach=True, echo=lambda _: None)
        RESTARTS.append((stopped, time.time()))

    when(lambda: len(requests_since(config, start, service="storage", method="PUT")) >= 3, restart).join(300)


REPLICATE: list[Any] = [
    pytest.param(Fault({"throttle": {"rate": 0.3, "retry_after": 1, "service": "arm"}},
                       evidence={"status": 429, "service": "arm"}), id="arm-throttle-30pc", marks=slow),
    # Storage throttles with 503 ServerBusy (the sandbox maps it so, as Azure does)
    pytest.param(Fault({"throttle": {"rate": 0.3, "retry_after": 1, "service": "storage"}},
                       evidence={"status": 503, "service": "storage"}), id="storage-throttle-30pc", marks=slow),
    pytest.param(Fault({"fail_nth": {"n": 5, "status": 503, "code": "ServiceUnavailable", "service": "storage"}},
                       evidence={"status": 503, "service": "storage"}), id="storage-call-5-fails-503"),
    pytest.param(Fault({"fail_nth": {"n": 1, "status": 503, "service": "arm", "method": "PUT"}},
                       evidence={"status": 503, "service": "arm", "method": "PUT"}), id="arm-put-1-fails-503"),
    pytest.param(Fault({"latency_ms": 200}), id="latency-200ms", marks=slow),
    pytest.param(Fault({"fail_nth": {"n": 2, "status": 503, "service": "arm", "method": "PUT"}},
                       evidence={"status": 503, "service": "arm", "method": "PUT"}), id="arm-put-2-fails-503",
                 marks=slow),
    pytest.param(Fault(during=secondary_outage, evidence={"status": 503, "region": "westus"}),
                 id="secondary-outage-mid-run", marks=slow),
    pytest.param(Fault(during=emulator_restart), id="emulator-restart-mid-run", marks=slow),
]  # fmt: skip


@pytest.mark.parametrize("fault", REPLICATE)
def test_replicate_artifacts_under_fault(
    fault: Fault, provisioned: SandboxConfig, plan: Plan, request: pytest.FixtureRequest, record_property
) -> None:
    factory = ClientFactory(plan)
    add_work(factory, f"r-{request.node.callspec.id}"[:40])
    factory.close()
    RESTARTS.clear()
    _, t0, t1 = run_with_fault(provisioned, fault, lambda: replicate_artifacts(plan=plan, approve=True),
                               record_property)  # fmt: skip
    if fault.during is emulator_restart:
        assert RESTARTS and t0 < RESTARTS[0][0] < t1, f"the emulator was not restarted during the run: {RESTARTS}"
        record_property("restart", f"sandbox stopped and answering again in {RESTARTS[0][1] - RESTARTS[0][0]:.1f} s, "
                                    "mid-run")
    factory = ClientFactory(plan)
    try:
        record_verification(record_property, factory)
    finally:
        factory.close()


@slow
def test_replicate_artifacts_sigkilled_then_rerun(provisioned: SandboxConfig, plan: Plan, record_property) -> None:
    """The runbook's own process is SIGKILLed while it copies; a new run takes the dead run's lock
    over once its lease expires (the lock is a lease record in the secondary's storage, not a
    Prefect slot that a killed run leaks), completes the copy, and the regions verify item by item."""
    lease = 8
    factory = ClientFactory(plan)
    add_work(factory, "r-sigkill", blobs=60, size=96 * 1024)
    factory.close()
    env_file = provisioned.env_path
    args = ["run", "replicate-artifacts", "--plan", str(ROOT / "deployments/plans/sandbox.yaml"), "--approve",
            "--in-process", "--set", f"locks.lease_seconds={lease}"]  # fmt: skip
    t0 = time.time()
    proc = subprocess.Popen([*CLI, *args], env=cli_env(env_file), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if len(requests_since(provisioned, t0, service="storage", region="westus", method="PUT")) >= 5:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    killed_after = round(time.time() - t0, 1)
    started = time.monotonic()
    rerun = cli(args, env_file, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    took = time.monotonic() - started
    record_property("outcome", f"killed after {killed_after} s holding the replication lock; the re-run took the "
                               f"expired lease ({lease} s) over and completed ({took:.0f} s in all)")
    factory = ClientFactory(plan)
    try:
        record_verification(record_property, factory)
    finally:
        factory.close()


# ---- recreate-deployments (private sandbox, pointer always on the primary) -----------------
RECREATE: list[Any] = [
    pytest.param(Fault({"throttle": {"rate": 0.3, "retry_after": 1, "service": "arm"}},
                       evidence={"status": 429, "service": "arm"}), id="arm-throttle-30pc", marks=slow),
    pytest.param(Fault({"fail_nth": {"n": 2, "status": 503, "service": "arm", "method": "PUT",
                                     "region": "westus"}},
                       evidence={"status": 503, "service": "arm", "method": "PUT"}), id="arm-put-2-fails-503",
                 marks=slow),
    pytest.param(Fault({"latency_ms": 200}), id="latency-200ms", marks=slow),
]  # fmt: skip


@pytest.mark.parametrize("fault", RECREATE)
def test_recreate_deployments_under_fault(
    fault: Fault, private_sandboxes, plan: Plan, request: pytest.FixtureRequest, record_property
) -> None:
    config = private_sandboxes.get("standby")
    with pointed_at(config):
        factory = ClientFactory(plan)
        name = f"rel-{uuid.uuid4().hex[:6]}"
        add_endpoint(factory, name)
        factory.close()
        try:
            run_with_fault(config, fault, lambda: recreate_deployments(plan=plan, approve=True, sizing="standby"),
                           record_property)  # fmt: skip
        finally:
            control_of(config, "POST", "/heal")
        factory = ClientFactory(plan)
        try:
            ml = factory.ml_client("secondary", plan.secondary.projects[0])
            assert ml.online_deployments.get(name="blue", endpoint_name=name).provisioning_state == "Succeeded"
            record_verification(record_property, factory, expected_active="primary")
        finally:
            factory.close()


# ---- cut-over (private sandbox: the pointer flips) ------------------------------------------
@slow
def test_unplanned_cut_over_with_primary_down_and_secondary_throttled(
    private_sandboxes, plan: Plan, record_property
) -> None:
    config = private_sandboxes.get("failover")
    with pointed_at(config):
        outage = {"outage": {"region": plan.primary.location, "mode": "reset"}}
        fault = Fault({**outage, "throttle": {"rate": 0.3, "retry_after": 1, "service": "arm"}},
                      evidence={"status": 429, "service": "arm", "region": "westus"}, keep=outage)  # fmt: skip
        box: dict[str, Any] = {}

        def run() -> None:
            box["result"] = cut_over(plan=plan, approve=True, mode="unplanned", reason="reliability: eastus down")

        try:
            run_with_fault(config, fault, run, record_property)
        finally:
            control_of(config, "POST", "/heal")
        assert box["result"]["mode"] == "unplanned" and box["result"]["active"] == "secondary"
        factory = ClientFactory(plan)
        try:
            record_verification(record_property, factory, expected_active="secondary")
        finally:
            factory.close()


def test_cut_over_assessment_rides_out_one_throttled_probe(private_sandboxes, plan: Plan) -> None:
    """Primary down, the secondary answers one 429 to its hub probe: a dry-run cut-over must still
    assess (retry the throttled call); it changes nothing either way."""
    config = private_sandboxes.get("standby")
    with pointed_at(config):
        control_of(config, "POST", "/faults", {"outage": {"region": plan.primary.location, "mode": "reset"}})
        control_of(config, "POST", "/faults", {"fail_nth": {
            "n": 1, "status": 429, "code": "TooManyRequests", "service": "arm", "method": "GET", "region": "westus",
            "path_contains": f"/workspaces/{plan.secondary.hub}"}})  # fmt: skip
        try:
            result = cut_over(plan=plan, dry_run=True, mode="unplanned", lock_wait_seconds=30)
        finally:
            control_of(config, "POST", "/heal")
    assert result["dry_run"] and result["mode"] == "unplanned"
