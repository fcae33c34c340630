"""replicate-artifacts end to end on the seeded sandbox, through the real SDKs and Prefect."""

from __future__ import annotations

import hashlib

import pytest
from azure.core.exceptions import ResourceNotFoundError

from foundry_dr.checkpoint import Checkpoint
from foundry_dr.clients import ClientFactory
from foundry_dr.flows.replicate_artifacts import replicate_artifacts
from foundry_dr.plan import Plan
from foundry_dr.state_layout import STATE_CONTAINER

pytestmark = pytest.mark.usefixtures("prefect")


def blob_state(factory: ClientFactory, account: str, container: str) -> dict[str, tuple]:
    """name -> (md5 of the content read back, content type, metadata, size): checked item by item."""
    cc = factory.blob_service(account).get_container_client(container)
    out = {}
    try:
        for b in cc.list_blobs(include=["metadata"]):
            data = cc.download_blob(b.name).readall()
            out[b.name] = (
                hashlib.md5(data).hexdigest(),
                b.content_settings.content_type,
                dict(b.metadata or {}),
                b.size,
            )
    except ResourceNotFoundError:
        return {}
    return out


def replicated_containers(factory: ClientFactory, plan: Plan) -> list[tuple[str, str, str, str]]:
    """(source account, destination account, source container, destination container): each hub's
    default datastore has its own container, so the default one maps to the other hub's."""
    primary = factory.ml_client("primary").datastores.get_default()
    secondary = factory.ml_client("secondary").datastores.get_default()
    return [
        (
            plan.primary.storage_account,
            plan.secondary.storage_account,
            primary.container_name,
            secondary.container_name,
        ),
        (
            plan.primary.extra_storage_accounts[0],
            plan.secondary.extra_storage_accounts[0],
            "training-data",
            "training-data",
        ),
    ]


def test_full_run_then_no_change_then_incremental(provisioned, plan: Plan) -> None:
    factory = ClientFactory(plan)
    containers = replicated_containers(factory, plan)

    before = {(dst, dc): blob_state(factory, dst, dc) for _, dst, _, dc in containers}
    dry = replicate_artifacts(plan=plan, dry_run=True)
    assert dry["dry_run"]
    assert {(dst, dc): blob_state(factory, dst, dc) for _, dst, _, dc in containers} == before, "dry run changed"

    first = replicate_artifacts(plan=plan)
    assert first["blobs"]["failed"] == 0
    for src, dst, container, dcontainer in containers:
        source = blob_state(factory, src, container)
        assert source, f"seed left {src}/{container} empty"
        assert blob_state(factory, dst, dcontainer) == source

    second = replicate_artifacts(plan=plan)
    assert second["blobs"]["copied"] == 0 and second["changed"] == 0

    src, dst, container, dcontainer = containers[0]
    cc = factory.blob_service(src).get_container_client(container)
    changed = sorted(b.name for b in cc.list_blobs())[:5]
    for name in changed:
        cc.upload_blob(name, b"changed " + name.encode(), overwrite=True)
    third = replicate_artifacts(plan=plan)
    assert third["blobs"]["copied"] == 5
    assert blob_state(factory, dst, dcontainer) == blob_state(factory, src, container)

    # the checkpoint is in the secondary region and says when the recovery point is
    raw = (
        factory.blob_service(plan.secondary.storage_account)
        .get_blob_client(STATE_CONTAINER, Checkpoint.latest_name(plan.name))
        .download_blob()
        .readall()
    )
    checkpoint = Checkpoint.model_validate_json(raw)
    assert checkpoint.direction == "to-secondary"
    assert third["rpo"]["met"] and third["rpo"]["rpo_seconds"] < 60
    # the snapshot records every job with its status, as the primary lists them
    snapshot = {(ws, j["name"]): j["status"] for ws, c in checkpoint.inventory["workspaces"].items() for j in c["jobs"]}
    live = {
        (p, j.name): str(getattr(j.status, "value", j.status))
        for p in plan.primary.projects
        for j in factory.ml_client("primary", p).jobs.list()
    }
    assert snapshot and set(snapshot) == set(live)
    # statuses keep their wire values (cut-over matches them) and move only forward in time
    statuses = {"NotStarted", "Queued", "Preparing", "Starting", "Provisioning", "Running", "Finalizing",
                "CancelRequested", "Completed", "Failed", "Canceled"}
    assert set(snapshot.values()) <= statuses, snapshot
    endpoints = [e for ws in checkpoint.inventory["workspaces"].values() for e in ws["online_endpoints"]]
    assert any(e["traffic"] for e in endpoints)
