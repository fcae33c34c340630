"""Secrets never leak; a reader cannot change anything and is told why, at once.

Both run on the suite's private "standby" sandbox (the pointer stays on the primary there).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from faultkit import PLAN_PATH, add_endpoint, cli, env_copy, pointed_at, requests_since

from foundry_dr.clients import ClientFactory
from foundry_dr.plan import Plan
from foundry_dr.secrets_scan import find_secrets
from foundry_dr.state_layout import STATE_CONTAINER

pytestmark = pytest.mark.usefixtures("prefect")
DEBUG = {"PREFECT_LOGGING_LEVEL": "DEBUG", "PREFECT_LOGGING_EXTRA_LOGGERS": "azure,foundry_dr,flows,tasks"}


# ---- secrets ------------------------------------------------------------------------------
def known_secrets(config: Any, factory: ClientFactory, plan: Plan) -> dict[str, str]:
    """Exact secret values of the sandbox: account keys, client secrets, signing key, endpoint and
    connection keys. Only labels are ever printed."""
    env = json.loads(config.env_path.read_text())
    found = {f"account key {name}": acct["key"] for name, acct in env["storage_accounts"].items()}
    found["owner client secret"] = env["credential"]["client_secret"]
    found["reader client secret"] = env["reader_credential"]["client_secret"]
    found["token signing key"] = config.token_signing_key
    found["token RSA key"] = config.token_rsa_key.splitlines()[1]  # a line of the PEM's key material
    for side in ("primary", "secondary"):
        for project in plan.side(side).projects:
            ml = factory.ml_client(side, project)  # type: ignore[arg-type]
            for ep in ml.online_endpoints.list():
                keys = ml.online_endpoints.get_keys(ep.name)
                for attr in ("primary_key", "secondary_key"):
                    if value := getattr(keys, attr, None):
                        found[f"endpoint key {side}/{project}/{ep.name}/{attr}"] = value
    for mapping in plan.connections:  # the seed's connection key (sandbox/seed.py)
        digest = hashlib.sha1(mapping.primary.encode()).hexdigest()[:24]
        found[f"connection key {mapping.primary}"] = f"sandbox-{digest}"
    return found


def prefect_texts(since: datetime) -> dict[str, str]:
    """Logs, artifacts, variables, parameters and persisted state data of every flow run since ``since``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterStartTime,
        LogFilter,
        LogFilterFlowRunId,
    )

    texts: dict[str, str] = {}
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)))
        ids = [r.id for r in runs]
        assert ids, "no flow run recorded since the drill started"
        for r in runs:
            texts[f"flow run {r.name} ({r.flow_id}) parameters/state"] = json.dumps(
                {"parameters": r.parameters, "state": r.state.model_dump(mode="json") if r.state else None},
                default=str)  # fmt: skip
        logs = _pages(lambda limit, offset: client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)), limit=limit, offset=offset))
        texts["logs"] = "\n".join(f"{log.name} {log.level} {log.message}" for log in logs)
        texts["log count"] = str(len(logs))
        texts["debug log count"] = str(sum(log.level <= 10 for log in logs))
        texts["azure log count"] = str(sum(log.name.startswith("azure") for log in logs))
        artifacts = _pages(lambda limit, offset: client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids)), limit=limit, offset=offset))
        texts["artifacts"] = "\n".join(f"{a.key} {a.type} {a.data} {a.description}" for a in artifacts)
        texts["artifact count"] = str(len(artifacts))
        texts["variables"] = "\n".join(f"{v.name} {v.value}" for v in client.read_variables(limit=200))
        texts["flow run count"] = str(len(ids))
        task_runs = _pages(lambda limit, offset: client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=limit, offset=offset))
        texts["task run states"] = "\n".join(
            json.dumps({"name": t.name, "state": t.state.model_dump(mode="json") if t.state else None}, default=str)
            for t in task_runs)  # fmt: skip
    return texts


def _pages(read: Any, size: int = 200) -> list[Any]:
    """Every item of a paged Prefect API read (the server caps ``limit`` at 200)."""
    items: list[Any] = []
    while True:
        page = read(size, len(items))
        items += page
        if len(page) < size:
            return items


def persisted_results(since: float) -> dict[str, str]:
    """Result files Prefect wrote to local storage since ``since`` (flow/task results, if persisted)."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    root = Path(str(PREFECT_LOCAL_STORAGE_PATH.value()))
    files = [p for p in root.rglob("*") if p.is_file() and p.stat().st_mtime >= since] if root.exists() else []
    return {f"result file {p.name}": p.read_bytes().decode("utf-8", "replace") for p in files}


def checkpoint_texts(factory: ClientFactory, plan: Plan) -> dict[str, str]:
    """Every blob of the checkpoint container, on both sides (what the runbooks write to storage)."""
    out = {}
    for side in ("primary", "secondary"):
        cc = factory.blob_service(plan.side(side).storage_account).get_container_client(STATE_CONTAINER)  # type: ignore[arg-type]
        if not cc.exists():
            continue
        for b in cc.list_blobs():
            out[f"checkpoint blob {side}/{b.name}"] = cc.download_blob(b.name).readall().decode("utf-8", "replace")
    return out


def scan(texts: dict[str, str], secrets: dict[str, str]) -> list[str]:
    """Hits as ``where: what`` (pattern kinds from find_secrets, or the label of an exact value)."""
    hits = []
    for where, text in texts.items():
        hits += [f"{where}: {kind}" for kind in find_secrets(text)]
        hits += [f"{where}: exact {label}" for label, value in secrets.items() if value and value in text]
    return hits


def test_no_secret_in_logs_artifacts_results_output_or_files_after_a_full_drill(
    private_sandboxes, plan: Plan, tmp_path: Path, record_property
) -> None:
    from foundry_dr.flows.provision_secondary import provision_secondary

    config = private_sandboxes.get("standby")
    env_file = env_copy(config)
    since, since_ts = datetime.now(UTC), time.time()
    texts: dict[str, str] = {}
    drill = cli(["drill", "--plan", str(PLAN_PATH), "--approve"], env_file, **DEBUG)
    texts["CLI drill output"] = drill.stdout + drill.stderr
    assert drill.returncode == 0, texts["CLI drill output"][-3000:]
    for args in (["status", "--plan", str(PLAN_PATH), "--json"],
                 ["run", "replicate-artifacts", "--plan", str(PLAN_PATH), "--approve"]):  # fmt: skip
        done = cli(args, env_file, **DEBUG)
        texts[f"CLI {args[0]} {args[1]} output"] = done.stdout + done.stderr
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    template = tmp_path / "secondary-template.json"
    with pointed_at(config):
        provision_secondary(plan=plan, approve=True, template_out=str(template))
        factory = ClientFactory(plan)
        try:
            secrets = known_secrets(config, factory, plan)
            texts.update(checkpoint_texts(factory, plan))
        finally:
            factory.close()
    assert template.is_file()
    texts["template_out file"] = template.read_text()
    texts.update(prefect_texts(since))
    texts.update(persisted_results(since_ts))
    assert int(texts["log count"]) > 50 and int(texts["artifact count"]) > 3, "nothing to scan?"
    hits = scan(texts, secrets)
    t = texts
    record_property("verified", f"{len(t)} sources, {len(secrets)} exact secret values, {t['log count']} log lines "
                                f"({t['debug log count']} DEBUG, {t['azure log count']} from azure.*), "
                                f"{t['artifact count']} artifacts, {t['flow run count']} flow runs")  # fmt: skip
    assert hits == [], "\n".join(hits)


def test_scanner_finds_what_it_is_meant_to_find(private_sandboxes) -> None:
    """The scan above is only worth something if it sees a planted secret of each kind."""
    config = private_sandboxes.get("standby")
    env = json.loads(config.env_path.read_text())
    key = next(iter(env["storage_accounts"].values()))["key"]
    planted = {
        "key": f"AccountName=x;AccountKey={key}",
        "sas": "https://a.blob.core.windows.net/c/b?sv=2024-08-04&se=2030-01-01&sp=r&sig=abcdEFGH1234%2Bxyz%3D",
        "jwt": "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzYW5kYm94In0.c2lnbmF0dXJlc2lnbmF0dXJl",
        "secret": f"client secret {env['credential']['client_secret']}",
    }
    secrets = {"owner client secret": env["credential"]["client_secret"], "account key": key}
    hits = scan(planted, secrets)
    for where in planted:
        assert any(h.startswith(f"{where}:") for h in hits), (where, hits)


# ---- authorization -----------------------------------------------------------------------
@pytest.mark.parametrize("runbook", ["recreate-deployments", "provision-secondary"])
def test_reader_fails_at_the_first_write_without_retrying(
    runbook: str, private_sandboxes, plan: Plan, record_property
) -> None:
    from foundry_dr.flows.provision_secondary import provision_secondary
    from foundry_dr.flows.recreate_deployments import recreate_deployments

    config = private_sandboxes.get("standby")
    with pointed_at(config):  # as the owner: give recreate-deployments something to write
        factory = ClientFactory(plan)
        add_endpoint(factory, f"rel-ro-{uuid.uuid4().hex[:6]}")
        factory.close()
    with pointed_at(config, "reader"):
        t0 = time.time()
        with pytest.raises(Exception) as info:
            if runbook == "recreate-deployments":
                recreate_deployments(plan=plan, approve=True, sizing="standby")
            else:
                provision_secondary(plan=plan, approve=True)
    message = str(info.value)
    # the lock record (acquire, release) is the runbook's own bookkeeping in storage, which the
    # sandbox reaches with account keys whatever the principal: not a write to the hub's resources
    writes = [e for e in requests_since(config, t0) if e["method"] not in ("GET", "HEAD")
              and e["service"] != "identity" and "/foundry-dr/locks/" not in e["path"]]  # fmt: skip
    denied = [e for e in writes if e["status"] == 403]
    assert len(denied) == 1, f"expected exactly one 403, got: {writes}"
    assert writes == denied, f"the run went on writing after the 403: {writes}"
    assert denied[0]["principal"] == "reader", denied[0]
    assert "/write" in message or "/action" in message, f"the error does not name the operation: {message}"
    assert "Contributor" in message or "Owner" in message, f"the error does not name the role it needs: {message}"
    record_property("outcome", f"one 403 on {denied[0]['method']} {denied[0]['path'].rsplit('/', 2)[-2]}; "
                               f"{type(info.value).__name__}")  # fmt: skip
