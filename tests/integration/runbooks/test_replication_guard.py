"""Forward replication never runs while the secondary serves (issue 12, defect 2).

replicate-artifacts towards a side refuses while the pointer says the other side serves: a
clear message, exit 1, nothing written in either region. Cut-over pauses the replication
deployment's schedules and fail-back resumes them (``tasks/replication_schedule``).

Each test uses a plan name of its own, so its pointer record touches no other test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from foundry_dr.clients import ClientFactory
from foundry_dr.errors import ReplicationRefused
from foundry_dr.exit_codes import ExitCode
from foundry_dr.flows.replicate_artifacts import replicate_artifacts
from foundry_dr.plan import Plan
from foundry_dr.pointer import build_pointer
from foundry_dr.stores.pointer import AUTHORITY, pointer_path
from foundry_dr.stores.records import write_record
from foundry_dr.tasks.replication_schedule import set_replication_schedules

pytestmark = pytest.mark.usefixtures("provisioned", "prefect")
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def own_plan(plan: Plan) -> Plan:
    return plan.model_copy(update={"name": f"guard-{uuid.uuid4().hex[:8]}"})


def flip_to_secondary(plan: Plan) -> None:
    """The pointer record a cut-over of ``plan`` writes in the authority's store."""
    factory = ClientFactory(plan)
    try:
        pointer = build_pointer(plan, "secondary", runbook="cut-over", reason="test")
        write_record(factory.blob_service(plan.side(AUTHORITY).storage_account), pointer_path(plan.name),
                     pointer.model_dump_json().encode(), None)  # fmt: skip
    finally:
        factory.close()


def writes_since(request_log, sandbox, t0: float) -> list[dict]:  # noqa: ANN001
    return [e for e in request_log(sandbox, service="storage") if e["t"] >= t0 and e["method"] in ("PUT", "DELETE")]


def test_forward_replication_refused_while_the_secondary_serves(own_plan: Plan, request_log, sandbox) -> None:
    flip_to_secondary(own_plan)
    t0 = time.time()
    with pytest.raises(ReplicationRefused, match="refused: the secondary serves .* nothing written"):
        replicate_artifacts(plan=own_plan, approve=True)
    assert writes_since(request_log, sandbox, t0) == []


def test_the_cli_exits_1_naming_why(own_plan: Plan, request_log, sandbox, tmp_path: Path) -> None:
    flip_to_secondary(own_plan)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    t0 = time.time()
    done = subprocess.run(
        [sys.executable, "-m", "foundry_dr.cli", "run", "replicate-artifacts", "--plan",
         str(ROOT / "deployments/plans/sandbox.yaml"), "--set", f"name={own_plan.name}", "--approve", "--in-process"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == ExitCode.FAILED, done.stdout[-2000:] + done.stderr[-2000:]
    # the CLI's own last word (Prefect's engine logs the failed flow's traceback above it)
    assert "replicate-artifacts failed: ReplicationRefused: replication to-secondary refused: the secondary " \
        "serves" in done.stderr, done.stderr[-2000:]
    assert writes_since(request_log, sandbox, t0) == []


def test_cut_over_pauses_and_fail_back_resumes_only_this_plans_replication_schedules(own_plan: Plan) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import IntervalSchedule

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("replicate-artifacts")
        ids = {}
        for which, name in (("ours", own_plan.name), ("other", f"other-{uuid.uuid4().hex[:6]}")):
            ids[which] = client.create_deployment(
                flow_id, f"replicate-{name}", parameters={"plan": {"name": name}},
                schedules=[DeploymentScheduleCreate(schedule=IntervalSchedule(interval=900), active=True)],
            )  # fmt: skip

        def active(which: str) -> list[bool]:
            return [s.active for s in client.read_deployment_schedules(ids[which])]

        paused = set_replication_schedules(own_plan, active=False)  # what cut-over calls
        assert len(paused) == 1 and active("ours") == [False] and active("other") == [True], paused
        resumed = set_replication_schedules(own_plan, active=True)  # what fail-back calls
        assert len(resumed) == 1 and active("ours") == [True] and active("other") == [True], resumed
        for deployment_id in ids.values():
            client.delete_deployment(deployment_id)
