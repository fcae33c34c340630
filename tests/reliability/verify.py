"""Item-by-item comparison of the two regions, through the real SDKs (no product logic reused).

``verify_regions`` answers the question every fault scenario ends with: after the faults and the
re-runs, is the secondary a faithful copy of the primary?

- blobs: every blob of every primary blob datastore container (the hub's and every project's) is
  in the twin container of the secondary account (the same-named datastore of the twin workspace),
  and the MD5 of the bytes downloaded from both sides is equal (plus size,
  content type and metadata);
- asset versions (models, data, environments, components, archived ones too) of the hub and of
  every project: present in the secondary with equal description and tags, the data/model path
  rewritten to the secondary (same datastore and path, never the primary workspace), the same
  image (environments); no version in the secondary that the primary lacks (a duplicate or a
  half-created copy would be one), unless ``allow_extra`` says it was made there on purpose;
- online and batch endpoints and deployments of the secondary: complete (``Succeeded``) or absent;
- the active-hub pointer (the shared Key Vault secret): consistent with the last approved
  decision (``expected_active``/``expected_run``, or, when the caller cannot know, the runbook
  recorded in the pointer itself: cut-over -> secondary, fail-back -> primary, with an approver).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.ai.ml.constants import ListViewType
from azure.core.exceptions import ResourceNotFoundError

from foundry_dr.clients import ClientFactory
from foundry_dr.plan import Plan

ASSET_KINDS = ("models", "data", "environments", "components")
_URI = re.compile(
    r"^azureml://(?:subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)/workspaces/(?P<ws>[^/]+)/)?"
    r"datastores/(?P<ds>[^/]+)/paths/(?P<path>.*)$",
    re.IGNORECASE,
)


@dataclass
class Verification:
    """Problems found (empty = the regions agree) and how many items of each kind were checked."""

    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, n: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        return ", ".join(f"{v} {k}" for k, v in sorted(self.counts.items()))

    def assert_ok(self) -> None:
        shown = "\n".join(self.problems[:25])
        assert self.ok, f"{len(self.problems)} problem(s) after {self.summary()}:\n{shown}"


def verify_regions(
    factory: ClientFactory,
    *,
    blobs: bool = True,
    assets: bool = True,
    deployments: bool = True,
    pointer: bool = True,
    expected_active: str | None = None,
    expected_run: str | None = None,
    allow_extra: Callable[[str, str, str, str], bool] | None = None,
) -> Verification:
    """Compare primary and secondary item by item; see the module docstring for what is checked."""
    result = Verification()
    plan = factory.plan
    if blobs:
        for src, dst, container, dst_container in blob_pairs(factory, plan):
            compare_container(factory, src, dst, container, result, dst_container)
    if assets:
        for src_ws, dst_ws in workspace_pairs(plan):
            compare_assets(factory, plan, src_ws, dst_ws, result, allow_extra)
    if deployments:
        check_deployments(factory, plan, result)
    if pointer:
        check_pointer(factory, plan, result, expected_active, expected_run)
    return result


# ---- blobs ---------------------------------------------------------------------------------
def blob_pairs(factory: ClientFactory, plan: Plan) -> list[tuple[str, str, str, str]]:
    """(primary account, secondary account, primary container, secondary container) behind every
    blob datastore of the primary hub and of each primary project. The twin is the datastore of the
    same name in the twin workspace (hub -> hub, project -> project): each workspace's default
    datastore has its own container (a hub's azureml-blobstore-<workspace id>, a project's
    <workspace id>-azureml-blobstore)."""
    accounts = dict(zip([plan.primary.storage_account, *plan.primary.extra_storage_accounts],
                        [plan.secondary.storage_account, *plan.secondary.extra_storage_accounts], strict=True))
    pairs = set()
    for src_ws, dst_ws in workspace_pairs(plan):
        twins = {ds.name: getattr(ds, "container_name", None)
                 for ds in factory.ml_client("secondary", dst_ws).datastores.list()}  # fmt: skip
        for ds in factory.ml_client("primary", src_ws).datastores.list():
            account, container = getattr(ds, "account_name", None), getattr(ds, "container_name", None)
            if account in accounts and container:
                pairs.add((account, accounts[account], container, twins.get(ds.name) or container))
    return sorted(pairs)


def blob_digests(factory: ClientFactory, account: str, container: str) -> dict[str, tuple[str, int, str, dict]]:
    """name -> (MD5 of the downloaded bytes, size, content type, metadata)."""
    cc = factory.blob_service(account).get_container_client(container)
    out: dict[str, tuple[str, int, str, dict]] = {}
    try:
        for b in cc.list_blobs(include=["metadata"]):
            data = cc.download_blob(b.name).readall()
            out[b.name] = (hashlib.md5(data).hexdigest(), len(data), b.content_settings.content_type or "",
                           dict(b.metadata or {}))
    except ResourceNotFoundError:
        return {}
    return out


def compare_container(factory: ClientFactory, src: str, dst: str, container: str, result: Verification,
                      dst_container: str | None = None) -> None:
    source = blob_digests(factory, src, container)
    dest = blob_digests(factory, dst, dst_container or container)
    container = dst_container or container  # as named in the problems below
    for name, want in source.items():
        result.count("blobs (MD5)")
        got = dest.get(name)
        if got is None:
            result.problems.append(f"blob lost: {dst}/{container}/{name}")
        elif got[0] != want[0] or got[1] != want[1]:
            result.problems.append(f"blob corrupt: {dst}/{container}/{name} md5 {got[0]} size {got[1]} "
                                   f"!= primary {want[0]} size {want[1]}")
        elif got[2:] != want[2:]:
            result.problems.append(f"blob properties differ: {dst}/{container}/{name}: {got[2:]} != {want[2:]}")


# ---- asset versions ------------------------------------------------------------------------
def workspace_pairs(plan: Plan) -> list[tuple[str, str]]:
    return [(plan.primary.hub, plan.secondary.hub),
            *zip(plan.primary.projects, plan.secondary.projects, strict=True)]


def _operations(ml: Any, kind: str) -> Any:
    return {"models": ml.models, "data": ml.data, "environments": ml.environments, "components": ml.components}[kind]


def list_asset_versions(factory: ClientFactory, side: str, workspace: str, kind: str) -> dict[tuple[str, str], Any]:
    """(name, version) -> entity, archived versions included."""
    ops = _operations(factory.ml_client(side, workspace), kind)  # type: ignore[arg-type]
    out: dict[tuple[str, str], Any] = {}
    try:
        names = {c.name for c in ops.list(list_view_type=ListViewType.ALL)}
    except ResourceNotFoundError:
        return {}
    for name in sorted(names):
        for entity in ops.list(name=name, list_view_type=ListViewType.ALL):
            out[(name, str(entity.version))] = entity
    return out


# asset names that other tests create in both regions with different content (a deliberate conflict)
PLANTED_CONFLICTS = {"conflict-probe"}


def _split_uri(uri: str | None) -> tuple[str | None, str | None, str | None]:
    """(workspace or None for the short form, datastore, path) of an ``azureml://`` URI."""
    m = _URI.match(uri or "")
    if not m:
        return None, None, uri
    return m["ws"], m["ds"], m["path"].rstrip("/")


def compare_assets(
    factory: ClientFactory,
    plan: Plan,
    src_ws: str,
    dst_ws: str,
    result: Verification,
    allow_extra: Callable[[str, str, str, str], bool] | None = None,
) -> None:
    for kind in ASSET_KINDS:
        source = list_asset_versions(factory, "primary", src_ws, kind)
        dest = list_asset_versions(factory, "secondary", dst_ws, kind)
        for key, want in source.items():
            result.count("asset versions")
            where = f"{dst_ws}/{kind}/{key[0]}:{key[1]}"
            got = dest.get(key)
            if key[0] in PLANTED_CONFLICTS:
                # planted on purpose with other content in the secondary: replication must report it and
                # keep the secondary's version, so the two stay different (never an overwrite)
                if got is not None and _split_uri(str(got.path))[1:] == _split_uri(str(want.path))[1:]:
                    result.problems.append(f"planted conflict overwritten: {where}")
                continue
            if got is None:
                result.problems.append(f"asset version lost: {where}")
                continue
            if (got.description or None) != (want.description or None):
                result.problems.append(f"description differs: {where}: {got.description!r} != {want.description!r}")
            if dict(got.tags or {}) != dict(want.tags or {}):
                result.problems.append(f"tags differ: {where}: {got.tags} != {want.tags}")
            if kind in ("models", "data"):
                w_ws, w_ds, w_path = _split_uri(str(want.path))
                g_ws, g_ds, g_path = _split_uri(str(got.path))
                if (g_ds, g_path) != (w_ds, w_path):
                    result.problems.append(f"path not rewritten faithfully: {where}: {got.path} (primary {want.path})")
                if g_ws is not None and g_ws.lower() != dst_ws.lower():
                    result.problems.append(f"path still points at workspace {g_ws}: {where}: {got.path}")
            if kind == "environments" and getattr(got, "image", None) != getattr(want, "image", None):
                result.problems.append(f"image differs: {where}: {got.image} != {want.image}")
        for key in sorted(set(dest) - set(source)):
            if allow_extra and allow_extra(dst_ws, kind, *key):
                continue
            result.problems.append(f"asset version in the secondary only (duplicate or half-created?): "
                                   f"{dst_ws}/{kind}/{key[0]}:{key[1]}")


# ---- deployments ---------------------------------------------------------------------------
def _state(entity: Any) -> str:
    value = getattr(entity, "provisioning_state", None)
    return str(getattr(value, "value", value))


def check_deployments(factory: ClientFactory, plan: Plan, result: Verification) -> None:
    """Every endpoint and deployment of the secondary is Succeeded (absent ones are not listed)."""
    for project in plan.secondary.projects:
        ml = factory.ml_client("secondary", project)
        for ep in ml.online_endpoints.list():
            result.count("endpoints/deployments")
            if _state(ep) != "Succeeded":
                result.problems.append(f"online endpoint {project}/{ep.name} is {_state(ep)}")
            for d in ml.online_deployments.list(endpoint_name=ep.name):
                result.count("endpoints/deployments")
                if _state(d) != "Succeeded":
                    result.problems.append(f"online deployment {project}/{ep.name}/{d.name} is {_state(d)}")
            for name in (ep.traffic or {}):
                try:
                    ml.online_deployments.get(name=name, endpoint_name=ep.name)
                except ResourceNotFoundError:
                    result.problems.append(f"traffic of {project}/{ep.name} goes to missing deployment {name}")
        for bep in ml.batch_endpoints.list():
            result.count("endpoints/deployments")
            if _state(bep) != "Succeeded":
                result.problems.append(f"batch endpoint {project}/{bep.name} is {_state(bep)}")
            for d in ml.batch_deployments.list(endpoint_name=bep.name):
                result.count("endpoints/deployments")
                if _state(d) != "Succeeded":
                    result.problems.append(f"batch deployment {project}/{bep.name}/{d.name} is {_state(d)}")


# ---- the active-hub pointer ----------------------------------------------------------------
def read_pointer_document(factory: ClientFactory, plan: Plan) -> dict | None:
    """The pointer record as stored in the secondary's storage, the authority (None when no
    decision was ever made)."""
    from foundry_dr.stores.pointer import pointer_path
    from foundry_dr.stores.records import read_record

    data, _ = read_record(factory.blob_service(plan.secondary.storage_account), pointer_path(plan.name))
    return data


def check_pointer(
    factory: ClientFactory,
    plan: Plan,
    result: Verification,
    expected_active: str | None = None,
    expected_run: str | None = None,
) -> None:
    doc = read_pointer_document(factory, plan)
    result.count("pointer")
    if doc is None:
        if expected_active not in (None, "primary") or expected_run:
            result.problems.append(f"no pointer stored, expected {expected_active} (run {expected_run})")
        return
    active = doc.get("active")
    if expected_active and active != expected_active:
        result.problems.append(f"pointer says {active}, the last approved decision says {expected_active}")
    if expected_run and doc.get("flow_run_id") != expected_run:
        result.problems.append(f"pointer written by run {doc.get('flow_run_id')}, expected {expected_run}")
    implied = {"cut-over": "secondary", "fail-back": "primary"}.get(doc.get("runbook") or "")
    if implied is None or active != implied:
        result.problems.append(f"pointer active={active} written by runbook {doc.get('runbook')!r}: inconsistent")
    if not doc.get("approver"):
        result.problems.append("pointer has no approver recorded")
    hub = plan.side(active).hub if active in ("primary", "secondary") else None
    if doc.get("hub") != hub:
        result.problems.append(f"pointer hub {doc.get('hub')} does not match the {active} hub {hub}")
