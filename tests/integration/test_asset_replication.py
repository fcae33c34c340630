"""Asset metadata, images, datastores and connections replicated into the sandbox's secondary.

The primary is seeded once per module; the secondary is provisioned bare (resource group,
storage accounts, hub, projects) with plain ARM PUTs, since provision-secondary is another
runbook. Every check reads the destination back through MLClient / the ACR management client,
item by item. Tests run in file order and build on each other (first run, re-run, additions).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.ai.ml.constants import ListViewType
from azure.ai.ml.entities import Model
from azure.core.exceptions import ResourceExistsError
from azure.core.rest import HttpRequest
from prefect import flow
from prefect.testing.utilities import prefect_test_harness

from foundry_dr.asset_sync import KIND_ORDER, rewrite_uri
from foundry_dr.clients import ClientFactory
from foundry_dr.plan import Plan, load_plan
from foundry_dr.tasks.assets import AssetReplicationReport, replicate_assets
from foundry_dr.tasks.registry import ImageReport, replicate_images
from foundry_dr.tasks.workspace_links import WorkspaceLinksReport, replicate_workspace_links
from foundry_dr_sandbox.config import SandboxConfig
from foundry_dr_sandbox.seed import seed

PLAN_PATH = Path(__file__).resolve().parents[2] / "deployments" / "plans" / "sandbox.yaml"
ARM_API = "2024-04-01"
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
pytestmark = pytest.mark.timeout(900)


# ---- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def prefect_api() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=60):
        yield


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(PLAN_PATH)


@pytest.fixture(scope="module")
def factory(sandbox: SandboxConfig, plan: Plan) -> Iterator[ClientFactory]:
    f = ClientFactory(plan, sandbox_env=sandbox.env())
    yield f
    f.close()


def provision_bare_secondary(factory: ClientFactory, plan: Plan) -> None:
    """Resource group, storage accounts, hub and projects of the secondary (plain ARM PUTs)."""
    s = plan.secondary
    rc = factory.resource_client(s.subscription_id)
    rc.resource_groups.create_or_update(s.resource_group, {"location": s.location})
    rg = f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}"

    def put(rid: str, body: dict, api: str = ARM_API) -> None:
        rc.resources.begin_create_or_update_by_id(rid, body, api_version=api).result()

    for acct in [s.storage_account, *s.extra_storage_accounts]:
        put(f"{rg}/providers/Microsoft.Storage/storageAccounts/{acct}",
            {"location": s.location, "kind": "StorageV2", "sku": {"name": "Standard_RAGRS"}, "properties": {}},
            "2023-05-01")  # fmt: skip
    ws = f"{rg}/providers/Microsoft.MachineLearningServices/workspaces"
    put(f"{ws}/{s.hub}", {"location": s.location, "kind": "Hub", "identity": {"type": "SystemAssigned"},
                          "properties": {"storageAccount": f"{rg}/providers/Microsoft.Storage/storageAccounts/"
                                                           f"{s.storage_account}"}})  # fmt: skip
    for p in s.projects:
        put(f"{ws}/{p}", {"location": s.location, "kind": "Project", "identity": {"type": "SystemAssigned"},
                          "properties": {"hubResourceId": f"{ws}/{s.hub}"}})  # fmt: skip


@pytest.fixture(scope="module")
def seeded(sandbox: SandboxConfig, factory: ClientFactory, plan: Plan) -> None:
    seed(sandbox, echo=lambda *_: None)
    provision_bare_secondary(factory, plan)


@flow(name="test-replicate-assets", validate_parameters=False)
def assets_flow(factory: ClientFactory, dry_run: bool = False, direction: str = "to-secondary") -> Any:
    return replicate_assets(factory, direction, dry_run)  # type: ignore[arg-type]


@flow(name="test-replicate-images", validate_parameters=False)
def images_flow(factory: ClientFactory, dry_run: bool = False) -> ImageReport:
    return replicate_images(factory, "to-secondary", dry_run)


@flow(name="test-replicate-links", validate_parameters=False)
def links_flow(factory: ClientFactory, dry_run: bool = False) -> WorkspaceLinksReport:
    return replicate_workspace_links(factory, "to-secondary", dry_run)


# ---- helpers -----------------------------------------------------------------------------------
def workspaces(plan: Plan) -> list[tuple[str | None, str | None]]:
    """(primary workspace, secondary workspace) for MLClient: None is the hub."""
    return [(None, None), *[(p, p) for p in plan.primary.projects]]


def inventory(factory: ClientFactory, side: str, workspace: str | None) -> dict[tuple, dict]:
    """(kind, name, version) -> the fields checked, archived state included, via MLClient."""
    ml = factory.ml_client(side, workspace)  # type: ignore[arg-type]
    out: dict[tuple, dict] = {}
    for kind in KIND_ORDER:
        if kind == "codes":  # MLClient has no public code listing: ARM's REST, through the mgmt SDK
            out.update(code_inventory(factory, side, workspace))
            continue
        ops = getattr(ml, kind)
        for container in ops.list(list_view_type=ListViewType.ALL):
            archived = {v.version for v in ops.list(name=container.name, list_view_type=ListViewType.ARCHIVED_ONLY)}
            for v in ops.list(name=container.name, list_view_type=ListViewType.ALL):
                out[(kind, v.name, v.version)] = {
                    "description": v.description,
                    "tags": dict(v.tags or {}),
                    "archived": v.version in archived,
                    "path": getattr(v, "path", None),
                    "image": getattr(v, "image", None),
                }
    return out


def code_inventory(factory: ClientFactory, side: str, workspace: str | None) -> dict[tuple, dict]:
    site = factory.plan.side(side)  # type: ignore[arg-type]
    ws = (f"/subscriptions/{site.subscription_id}/resourceGroups/{site.resource_group}/providers/"
          f"Microsoft.MachineLearningServices/workspaces/{workspace or site.hub}")  # fmt: skip
    client = factory.resource_client(site.subscription_id)

    def items(path: str) -> list[dict]:
        response = client.send_request(HttpRequest("GET", f"{path}?api-version=2024-04-01"))
        response.raise_for_status()
        return response.json()["value"]

    out: dict[tuple, dict] = {}
    for container in items(f"{ws}/codes"):
        for v in items(f"{ws}/codes/{container['name']}/versions"):
            props = v["properties"]
            out[("codes", container["name"], v["name"])] = {
                "description": props.get("description"), "tags": dict(props.get("tags") or {}),
                "archived": bool(props.get("isArchived")), "path": props.get("codeUri"), "image": None,
            }  # fmt: skip
    return out


def full_inventory(factory: ClientFactory, side: str, plan: Plan) -> dict:
    return {ws: inventory(factory, side, ws) for ws, _ in workspaces(plan)}


def expected_path(path: str | None, plan: Plan) -> str | None:
    if path is None:
        return None
    if path.startswith(f"https://{plan.primary.storage_account}.blob."):  # a code version's snapshot
        return path.replace(plan.primary.storage_account, plan.secondary.storage_account, 1)
    return rewrite_uri(path, {}, workspace_map={plan.primary.hub: plan.secondary.hub},
                       subscription_id=plan.secondary.subscription_id,
                       resource_group=plan.secondary.resource_group)  # fmt: skip


def same_uri(a: str | None, b: str | None) -> bool:
    """Equal, up to the short/full spelling of the owner workspace's datastore URI."""
    if a == b:
        return True
    if not a or not b:
        return False
    tail = lambda u: u.split("/datastores/", 1)[-1]  # noqa: E731
    return tail(a) == tail(b)


def totals(report: AssetReplicationReport, key: str) -> int:
    return sum(c[key] for c in report.totals.values())


# ---- tests -----------------------------------------------------------------------------------
def test_dry_run_changes_nothing(seeded: None, factory: ClientFactory, plan: Plan) -> None:
    before = full_inventory(factory, "secondary", plan)
    report = assets_flow(factory, dry_run=True)
    assert report.dry_run and report.ok, report.item_failures
    assert full_inventory(factory, "secondary", plan) == before
    source_versions = sum(len(v) for v in full_inventory(factory, "primary", plan).values())
    assert sum(len(ws.items) for ws in report.workspaces) == source_versions
    if not any(before.values()):  # a fresh secondary: everything would be created
        assert totals(report, "created") == source_versions


def test_first_run_copies_every_version(seeded: None, factory: ClientFactory, plan: Plan) -> None:
    report = assets_flow(factory)
    assert report.ok, report.item_failures
    # a reused sandbox holds the conflict probes of earlier runs: reported, and left alone
    conflicted = {(c["kind"], c["name"], c["version"]) for c in report.conflicts}
    assert all(name == "conflict-probe" for _, name, _ in conflicted), conflicted
    for src_ws, dst_ws in workspaces(plan):
        source = inventory(factory, "primary", src_ws)
        dest = inventory(factory, "secondary", dst_ws)
        assert source or src_ws is None, f"nothing seeded in {src_ws}"  # the seed's hub holds no assets
        for key, want in source.items():
            if key in conflicted:
                continue
            have = dest.get(key)
            assert have is not None, f"{key} missing in {dst_ws or plan.secondary.hub}"
            assert have["description"] == want["description"], key
            assert have["tags"] == want["tags"], key
            assert have["archived"] == want["archived"], key
            assert have["image"] == want["image"], key
            assert same_uri(have["path"], expected_path(want["path"], plan)), (key, have["path"])
            assert "rg-foundry-eastus" not in (have["path"] or ""), key
    # the seed archives version 1 of each project's model: archived in the copy too
    chat = inventory(factory, "secondary", "proj-chat")
    assert chat[("models", "churn-classifier", "1")]["archived"] is True
    assert chat[("models", "churn-classifier", "2")]["archived"] is False
    # the component references the copied environment
    comp = factory.ml_client("secondary", "proj-chat").components.get("train-churn-classifier", "1")
    assert "rg-foundry-westus" in str(comp.environment) and "sklearn-env" in str(comp.environment)


def test_second_run_creates_nothing(seeded: None, factory: ClientFactory, plan: Plan) -> None:
    report = assets_flow(factory)
    assert report.ok, report.item_failures
    assert report.changes == 0, [a for ws in report.workspaces for a in ws.actions]
    assert totals(report, "skipped") > 0


def test_new_version_is_the_only_change(seeded: None, factory: ClientFactory, plan: Plan) -> None:
    version = str(random.randint(10_000, 10_000_000))
    factory.ml_client("primary", "proj-vision").models.create_or_update(
        Model(name="defect-detector", version=version, type="custom_model",
              path=f"azureml://datastores/workspaceblobstore/paths/models/defect-detector/{version}/",
              description="added after the first replication", tags={"new": "yes"})
    )  # fmt: skip
    report = assets_flow(factory)
    assert report.ok, report.item_failures
    created = [a for ws in report.workspaces for a in ws.actions if a["op"] == "create"]
    assert [(a["workspace"], a["kind"], a["name"], a["version"]) for a in created] == [
        ("proj-vision", "models", "defect-detector", version)
    ]
    assert report.changes == 1
    copy = factory.ml_client("secondary", "proj-vision").models.get("defect-detector", version)
    assert copy.description == "added after the first replication" and copy.tags == {"new": "yes"}


def test_conflicting_version_is_reported_and_left_alone(seeded: None, factory: ClientFactory) -> None:
    name, version = "conflict-probe", str(random.randint(10_000, 10_000_000))

    def probe(path: str) -> Model:
        return Model(name=name, version=version, type="custom_model",
                     path=f"azureml://datastores/workspaceblobstore/paths/{path}/")  # fmt: skip

    factory.ml_client("primary", "proj-chat").models.create_or_update(probe("primary-content"))
    dst = factory.ml_client("secondary", "proj-chat")
    dst.models.create_or_update(probe("secondary-content"))
    report = assets_flow(factory)
    conflicts = [c for c in report.conflicts if c["name"] == name and c["version"] == version]
    assert len(conflicts) == 1 and conflicts[0]["changes"] == ["path"], report.conflicts
    assert "immutable" in conflicts[0]["reason"]
    assert report.ok  # a conflict is reported, not a failure
    assert "secondary-content" in dst.models.get(name, version).path
    with pytest.raises(ResourceExistsError):  # and the RP agrees the versions differ
        dst.models.create_or_update(probe("primary-content"))


def test_images_geo_replication_is_ready(seeded: None, factory: ClientFactory, plan: Plan) -> None:
    acr = plan.shared.container_registry
    assert acr is not None and acr.geo_replicated
    dry = images_flow(factory, dry_run=True)
    assert dry.mode == "geo-replication" and dry.replication is not None
    assert dry.replication["action"] in ("would-create", "exists")
    report = images_flow(factory)
    assert report.ok, report.problems
    assert report.replication is not None and report.replication["action"] in ("created", "exists")
    client = factory.registry_client(plan.primary.subscription_id)
    westus = [r for r in client.replications.list(acr.resource_group, acr.name) if r.location == "westus"]
    assert len(westus) == 1
    assert westus[0].status.display_status == "Ready" and westus[0].provisioning_state == "Succeeded"
    again = images_flow(factory)
    assert again.replication is not None and again.replication["action"] == "exists"


def test_datastores_and_connections(seeded: None, factory: ClientFactory, plan: Plan) -> None:
    dst = factory.ml_client("secondary")
    before = {d.name for d in dst.datastores.list()}
    dry = links_flow(factory, dry_run=True)
    assert {d.name for d in dst.datastores.list()} == before
    row = next(d for d in dry.datastores if d["name"] == "trainingdata")
    assert row["action"] in ("would-create", "exists")

    report = links_flow(factory)
    by_name = {d["name"]: d for d in report.datastores}
    assert by_name["workspaceblobstore"]["action"] == "system"
    assert by_name["trainingdata"]["action"] in ("created", "exists")
    copy = dst.datastores.get("trainingdata")
    assert copy.account_name == "stfdrwestusdata" and copy.container_name == "training-data"
    assert type(copy.credentials).__name__ == "NoneCredentialConfiguration"  # identity-based
    # the default datastore of the secondary hub is still its own
    assert dst.datastores.get("workspaceblobstore").account_name == plan.secondary.storage_account
    # a mapped twin that nobody created is a problem with the fix, never an invented connection
    from foundry_dr.plan import apply_overrides

    overridden = apply_overrides(plan, ["connections=[{primary: aoai-eastus, secondary: aoai-nowhere}]"])
    unmapped = ClientFactory(overridden, sandbox_env=factory.sandbox_env)
    missing = replicate_workspace_links(unmapped, "to-secondary", False)
    conn = next(c for c in missing.connections if c["source"] == "aoai-eastus")
    assert conn["action"] == "missing"
    assert any("create connection aoai-nowhere in hub hub-contoso-westus" in p for p in missing.problems)
    assert "aoai-nowhere" not in {c.name for c in dst.connections.list()}
    again = links_flow(factory)
    assert again.changes == 0


def test_images_imported_between_two_registries(
    seeded: None, sandbox: SandboxConfig, plan: Plan, control: Any
) -> None:
    """The two-registry layout: each referenced repo:tag is imported with NoForce; a re-run finds
    them present (the destination's digest is read first: ACR fails NoForce over any existing
    tag); a tag that holds another digest in the destination is never overwritten, and is a
    named conflict, not "present"."""
    uid = f"{random.randint(0, 16**6):06x}"
    src_name, dst_name = f"acrfdre{uid}", f"acrfdrw{uid}"
    two = plan.model_copy(update={
        "shared": plan.shared.model_copy(update={"container_registry": None}),
        "primary": plan.primary.model_copy(update={"registry": src_name}),
        "secondary": plan.secondary.model_copy(update={"registry": dst_name}),
    })  # fmt: skip
    f = ClientFactory(two, sandbox_env=sandbox.env())
    try:
        rc = f.resource_client(two.primary.subscription_id)
        for side in (two.primary, two.secondary):
            rid = (f"/subscriptions/{side.subscription_id}/resourceGroups/{side.resource_group}/providers/"
                   f"Microsoft.ContainerRegistry/registries/{side.registry}")  # fmt: skip
            rc.resources.begin_create_or_update_by_id(
                rid, {"location": side.location, "sku": {"name": "Standard"}, "properties": {}},
                api_version="2023-07-01",
            ).result()
        # the registries' contents are data plane: the test seeds them through the control API
        control(sandbox, "PUT", f"/registries/{src_name}/repositories",
                {"repositories": {"sklearn": {"tags": {"1.4": None, "1.5": None}}, "serve": {"tags": {"2": None}}}})
        control(sandbox, "PUT", f"/registries/{dst_name}/repositories",
                {"repositories": {"serve": {"tags": {"2": "sha256:" + "0" * 64}}}})  # fmt: skip
        images = [f"{src_name}.azurecr.io/sklearn:1.4", f"{src_name}.azurecr.io/sklearn:1.5",
                  f"{src_name}.azurecr.io/serve:2", "mcr.microsoft.com/azureml/base:latest"]  # fmt: skip

        @flow(name="test-import-images", validate_parameters=False)
        def import_flow(dry_run: bool) -> ImageReport:
            return replicate_images(f, "to-secondary", dry_run, images)

        dry = import_flow(True)
        assert dry.mode == "import" and dry.counts == {"would-import": 3, "skipped": 1}
        assert "sklearn" not in control(sandbox, "GET", f"/registries/{dst_name}/repositories")["repositories"]

        report = import_flow(False)
        assert report.counts == {"imported": 2, "conflict": 1, "skipped": 1}, report.imports
        assert not report.ok and any("serve:2" in p and "sha256:" + "0" * 64 in p for p in report.problems)
        src_repos = control(sandbox, "GET", f"/registries/{src_name}/repositories")["repositories"]
        dst_repos = control(sandbox, "GET", f"/registries/{dst_name}/repositories")["repositories"]
        assert dst_repos["sklearn"]["tags"] == src_repos["sklearn"]["tags"]
        assert dst_repos["serve"]["tags"]["2"] == "sha256:" + "0" * 64  # NoForce: not overwritten

        # a re-run imports nothing: the two tags are present with the source's digest, the
        # conflict stays a conflict, and the destination is as it was
        again = import_flow(False)
        assert again.counts == {"present": 2, "conflict": 1, "skipped": 1}, again.imports
        assert not any(row["result"] == "failed" for row in again.imports)
        assert control(sandbox, "GET", f"/registries/{dst_name}/repositories")["repositories"] == dst_repos
    finally:
        f.close()
