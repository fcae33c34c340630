"""Prefect tasks that copy asset metadata (models, data, environments, code, components) between hubs.

The seed's warning is that service-side metadata (tags, descriptions, versions) cannot be
recovered after a regional disaster, so it is copied ahead of time, through the public
MLClient API only. One task per workspace pair (hub -> hub, project -> same-named project):
a pair is a few hundred calls at most, and a retry of a pair is safe because every step is
idempotent (an identical version is skipped, never re-created).

Decisions (create / skip / update / conflict) are made by :mod:`foundry_dr.asset_sync`; this
module only reads entities into plain mappings and applies the actions.

Known limits: container-level archive (``archive(name)`` without a version) is not copied;
an environment's ``inference_config`` is not copied (curated/inference images only); a
build-context environment keeps its source build path (it lives in the source's storage).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from prefect import get_run_logger, task

from foundry_dr.asset_sync import (
    KIND_ORDER,
    Action,
    RefMap,
    fingerprint,
    normalise,
    plan_asset_actions,
    translate,
)
from foundry_dr.errors import PermanentError
from foundry_dr.redact import redact_text
from foundry_dr.retry import is_transient
from foundry_dr.sides import Direction, sides_of
from foundry_dr.tasks.retried import RETRIED_BULK

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

    from foundry_dr.clients import ClientFactory

COUNT_KEYS = ("created", "skipped", "updated", "conflicts", "failed")
_OP_COUNT = {"create": "created", "skip": "skipped", "update": "updated", "conflict": "conflicts"}
# load_component validates names client-side more strictly than the RP stores them; a copy is
# loaded under this name and renamed before it is sent (the RP is the judge of the name).
_PLACEHOLDER = "foundry_dr_component"


# ---- results -------------------------------------------------------------------------------
def _zero_counts() -> dict[str, dict[str, int]]:
    return {kind: dict.fromkeys(COUNT_KEYS, 0) for kind in KIND_ORDER}


@dataclass
class WorkspaceAssetResult:
    """What one workspace pair saw and did. Plain data: JSON-able for reports and checkpoints.

    ``counts``: kind -> {created, skipped, updated, conflicts, failed} (in a dry run: what *would*
    happen). ``items``: every source version with its fingerprint (for the checkpoint).
    ``actions``: every non-skip action, for the report. ``conflicts``/``failures``: with reasons.
    """

    source_workspace: str
    dest_workspace: str
    dry_run: bool
    counts: dict[str, dict[str, int]] = field(default_factory=_zero_counts)
    items: list[dict] = field(default_factory=list)
    actions: list[dict] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)


@dataclass
class AssetReplicationReport:
    """All workspace pairs of one run, plus per-kind totals (what the flow's report shows)."""

    direction: str
    dry_run: bool
    workspaces: list[WorkspaceAssetResult] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)  # pairs that failed as a whole

    @property
    def totals(self) -> dict[str, dict[str, int]]:
        out = _zero_counts()
        for ws in self.workspaces:
            for kind, counts in ws.counts.items():
                for key, n in counts.items():
                    out.setdefault(kind, dict.fromkeys(COUNT_KEYS, 0))[key] += n
        return out

    @property
    def conflicts(self) -> list[dict]:
        return [c for ws in self.workspaces for c in ws.conflicts]

    @property
    def item_failures(self) -> list[dict]:
        return [f for ws in self.workspaces for f in ws.failures] + self.failures

    @property
    def ok(self) -> bool:
        """No failures. Conflicts do not make a run fail: they are reported, by design."""
        return not self.item_failures

    @property
    def changes(self) -> int:
        t = self.totals
        return sum(t[k]["created"] + t[k]["updated"] for k in t)

    def to_dict(self) -> dict:
        return {
            "direction": self.direction,
            "dry_run": self.dry_run,
            "totals": self.totals,
            "workspaces": [asdict(ws) for ws in self.workspaces],
            "failures": self.failures,
        }


def _first_line(exc: BaseException) -> str:
    text = redact_text(str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ---- reading entities ----------------------------------------------------------------------
def _value(x: Any) -> Any:
    """An enum's value (os_type comes back as OperatingSystemType.LINUX)."""
    return getattr(x, "value", x)


def _fields(kind: str, entity: Any) -> dict:
    """The public attributes of an asset entity that matter for replication."""
    if kind == "components":
        buf = io.StringIO()
        entity.dump(buf)  # the public YAML form: the spec as a user would write it
        return yaml.safe_load(buf.getvalue()) or {}
    common = {
        "name": entity.name,
        "version": entity.version,
        "description": entity.description,
        "tags": dict(entity.tags or {}),
        "properties": dict(entity.properties or {}),
    }
    if kind == "models":
        return {**common, "type": entity.type, "path": entity.path, "stage": entity.stage,
                "flavors": entity.flavors}  # fmt: skip
    if kind == "data":
        return {**common, "type": entity.type, "path": entity.path}
    build = entity.build
    return {
        **common,
        "image": entity.image,
        "conda_file": entity.conda_file if isinstance(entity.conda_file, Mapping) else None,
        "build": {"path": build.path, "dockerfile_path": build.dockerfile_path} if build else None,
        "os_type": _value(entity.os_type),
    }


def list_versions(ml: MLClient, kind: str, workspace: str) -> list[dict]:
    """Every version of every container of ``kind``, archived ones included, normalised.

    The archived state is not an entity attribute, so it is read as membership in the
    ``ARCHIVED_ONLY`` listing of the container (one extra call per container).
    """
    from azure.ai.ml.constants import ListViewType

    ops = getattr(ml, kind)
    out: list[dict] = []
    names = sorted({c.name for c in ops.list(list_view_type=ListViewType.ALL)})
    for name in names:
        archived = {str(v.version) for v in ops.list(name=name, list_view_type=ListViewType.ARCHIVED_ONLY)}
        for entity in ops.list(name=name, list_view_type=ListViewType.ALL):
            fields = _fields(kind, entity)
            fields["archived"] = str(entity.version) in archived
            out.append(normalise(kind, fields, workspace=workspace))
    return out


# ---- writing entities ----------------------------------------------------------------------
def _entity(version: Mapping[str, Any]) -> Any:
    """A new SDK entity for a normalised (translated) version."""
    from azure.ai.ml.entities import BuildContext, Data, Environment, Model

    kind = version["kind"]
    common = {
        "name": version["name"],
        "version": version["version"],
        "description": version.get("description"),
        "tags": dict(version.get("tags") or {}),
        "properties": dict(version.get("properties") or {}),
    }
    if kind == "models":
        return Model(**common, type=version.get("type"), path=version.get("path"), stage=version.get("stage"),
                     flavors=version.get("flavors"))  # fmt: skip
    if kind == "data":
        return Data(**common, type=version.get("type") or "uri_folder", path=version.get("path"))
    if kind == "environments":
        build = version.get("build")
        env = Environment(
            **common,
            image=version.get("image"),
            conda_file=version.get("conda_file"),
            build=BuildContext(**build) if build else None,
        )
        if version.get("os_type"):
            env.os_type = version["os_type"].capitalize()
        return env
    return _component(version)


def _component(version: Mapping[str, Any]) -> Any:
    from azure.ai.ml import load_component

    doc = dict(version.get("spec") or {})
    doc.update(name=_PLACEHOLDER, version=version["version"])
    if version.get("description"):
        doc["description"] = version["description"]
    if version.get("tags"):
        doc["tags"] = dict(version["tags"])
    component = load_component(source=io.StringIO(yaml.safe_dump(doc)))
    component.name = version["name"]
    return component


def _create_or_update(ml: MLClient, version: Mapping[str, Any]) -> None:
    ops = getattr(ml, version["kind"])
    if version["kind"] == "components":
        # skip_validation: the client-side name rule is stricter than what the source holds
        ops.create_or_update(_entity(version), skip_validation=True)
    else:
        ops.create_or_update(_entity(version))


def _set_archived(ml: MLClient, version: Mapping[str, Any], archived: bool) -> None:
    ops = getattr(ml, version["kind"])
    (ops.archive if archived else ops.restore)(name=version["name"], version=version["version"])


def apply_action(ml: MLClient, action: Action) -> None:
    """Carry out one create/update in the destination (archive after create: the RP creates
    active versions). Skips and conflicts change nothing."""
    src = action.source
    if action.op == "create":
        _create_or_update(ml, src)
        if src.get("archived"):
            _set_archived(ml, src, True)
    elif action.op == "update":
        if set(action.changes) - {"archived"}:
            _create_or_update(ml, src)  # same content: the RP accepts new mutable fields
        if "archived" in action.changes:
            _set_archived(ml, src, bool(src.get("archived")))


# ---- the task --------------------------------------------------------------------------------
def workspace_pairs(factory: ClientFactory, direction: Direction) -> list[tuple[str, str]]:
    """(source, destination) workspace names: hub -> hub, then each project -> same name."""
    src_side, dst_side = sides_of(direction)
    src, dst = factory.plan.side(src_side), factory.plan.side(dst_side)  # type: ignore[arg-type]
    return [(src.hub, dst.hub), *[(p, p) for p in src.projects]]


def ref_map(factory: ClientFactory, direction: Direction) -> RefMap:
    """Source references -> destination: hub name mapped (projects keep their names, datastores
    too), subscription and resource group of the destination, and the storage accounts (the hub's,
    then the extra ones pairwise) for blob URLs such as a code version's codeUri."""
    src_side, dst_side = sides_of(direction)
    src, dst = factory.plan.side(src_side), factory.plan.side(dst_side)  # type: ignore[arg-type]
    accounts = dict(zip([src.storage_account, *src.extra_storage_accounts],
                        [dst.storage_account, *dst.extra_storage_accounts], strict=False))  # fmt: skip
    return RefMap({}, {src.hub: dst.hub}, dst.subscription_id, dst.resource_group, accounts)


# ---- code versions: no public azure-ai-ml operations list or write them (MLClient has none),
# so they go through the management SDK's pipeline: ARM's own REST for them
# (.../stable/2024-04-01/examples/Workspace/CodeContainer/list.json, CodeVersion/list.json,
# CodeVersion/createOrUpdate.json).
CODE_API = "2024-04-01"


def _arm_pages(factory: ClientFactory, side: str, path: str) -> Iterable[dict]:
    """Every item of an ARM list (``value`` pages, following ``nextLink``)."""
    from azure.core.rest import HttpRequest

    client = factory.resource_client(factory.plan.side(side).subscription_id)  # type: ignore[arg-type]
    url: str | None = f"{path}?api-version={CODE_API}"
    while url:
        response = client.send_request(HttpRequest("GET", url))
        if response.status_code == 404:
            raise ResourceNotFoundError(response=response)
        response.raise_for_status()
        page = response.json()
        yield from page.get("value", [])
        url = page.get("nextLink")


def list_code_versions(factory: ClientFactory, side: str, workspace: str) -> list[dict]:
    """Every code version of the workspace, archived ones included, normalised."""
    from foundry_dr.resource_ids import workspace_id

    ws = workspace_id(factory.plan, side, workspace)  # type: ignore[arg-type]
    out = []
    for container in _arm_pages(factory, side, f"{ws}/codes"):
        for version in _arm_pages(factory, side, f"{ws}/codes/{container['name']}/versions"):
            props = version.get("properties") or {}
            fields = {"name": container["name"], "version": version["name"], "description": props.get("description"),
                      "tags": props.get("tags"), "properties": props.get("properties"),
                      "code_uri": props.get("codeUri"), "archived": bool(props.get("isArchived"))}  # fmt: skip
            out.append(normalise("codes", fields, workspace=workspace))
    return out


def put_code_version(factory: ClientFactory, side: str, workspace: str, version: Mapping[str, Any]) -> None:
    """Create (or update the mutable fields of) a code version; its snapshot stays where
    ``code_uri`` says (the blob step copies the datastore containers it lives in)."""
    from foundry_dr.resource_ids import workspace_id

    rid = f"{workspace_id(factory.plan, side, workspace)}/codes/{version['name']}/versions/{version['version']}"  # type: ignore[arg-type]
    body = {"properties": {"codeUri": version.get("code_uri"), "description": version.get("description"),
                           "tags": dict(version.get("tags") or {}), "properties": dict(version.get("properties") or {}),
                           "isArchived": bool(version.get("archived"))}}  # fmt: skip
    client = factory.resource_client(factory.plan.side(side).subscription_id)  # type: ignore[arg-type]
    client.resources.begin_create_or_update_by_id(rid, body, api_version=CODE_API).result()


def _client(factory: ClientFactory, side: str, workspace: str) -> MLClient:
    hub = factory.plan.side(side).hub  # type: ignore[arg-type]
    return factory.ml_client(side, None if workspace == hub else workspace)  # type: ignore[arg-type]


def _code_listing(factory: ClientFactory, side: str, workspace: str) -> list[dict]:
    try:
        return list_code_versions(factory, side, workspace)
    except ResourceNotFoundError as exc:
        raise _no_workspace(workspace, side, exc) from exc


def _no_workspace(workspace: str, where: str, exc: Exception) -> PermanentError:
    return PermanentError(
        f"workspace {workspace!r} not found in the {where} region ({_first_line(exc)}); "
        "run provision-secondary first, or fix the plan's workspace names"
    )


def _listing(ml: MLClient, kind: str, workspace: str, where: str) -> list[dict]:
    try:
        return list_versions(ml, kind, workspace)
    except ResourceNotFoundError as exc:
        raise _no_workspace(workspace, where, exc) from exc


@task(
    name="replicate-workspace-assets",
    task_run_name="assets-{source_workspace}-to-{dest_workspace}",
    **RETRIED_BULK,
)
def replicate_workspace_assets(
    factory: ClientFactory,
    direction: Direction,
    source_workspace: str,
    dest_workspace: str,
    kinds: list[str],
    dry_run: bool = False,
) -> WorkspaceAssetResult:
    """Copy every version of ``kinds`` from one workspace to its twin, in dependency order.

    Transient failures (429/5xx/connection) propagate, so Prefect retries the pair (a retry
    skips what the failed attempt already created). A permanent failure of one item (4xx) is
    recorded with its message and the rest continue. Dry run: actions only, no writes.
    """
    src_side, dst_side = sides_of(direction)
    src_ml = _client(factory, src_side, source_workspace)
    dst_ml = _client(factory, dst_side, dest_workspace)
    refs = ref_map(factory, direction)
    result = WorkspaceAssetResult(source_workspace, dest_workspace, dry_run)
    wanted = [k for k in KIND_ORDER if k in kinds]

    source: list[dict] = []
    dest: list[dict] = []
    for kind in wanted:
        if kind == "codes":
            found = _code_listing(factory, src_side, source_workspace)
            dest += _code_listing(factory, dst_side, dest_workspace)
        else:
            found = _listing(src_ml, kind, source_workspace, src_side)
            dest += _listing(dst_ml, kind, dest_workspace, dst_side)
        source += [translate(v, refs, dest_workspace) for v in found]
        result.items += [
            {"workspace": source_workspace, "kind": kind, "name": v["name"], "version": v["version"],
             "fingerprint": fingerprint(v), "archived": v["archived"]}
            for v in found
        ]  # fmt: skip

    for action in plan_asset_actions(source, dest):
        where = {"workspace": dest_workspace, "kind": action.kind, "name": action.name, "version": action.version}
        if action.op != "skip":
            result.actions.append({**where, "op": action.op, "changes": list(action.changes)})
        if action.op == "conflict":
            result.conflicts.append({**where, "changes": list(action.changes), "reason": action.reason})
        if dry_run or action.op in ("skip", "conflict"):
            result.counts[action.kind][_OP_COUNT[action.op]] += 1
            continue
        try:
            if action.kind == "codes":
                put_code_version(factory, dst_side, dest_workspace, action.source)
            else:
                apply_action(dst_ml, action)
        except ResourceExistsError as exc:  # content changed between listing and writing
            reason = _first_line(exc)
            result.conflicts.append({**where, "changes": [], "reason": reason})
            result.counts[action.kind]["conflicts"] += 1
            continue
        except Exception as exc:
            if is_transient(exc):
                raise
            result.failures.append({**where, "op": action.op, "error": _first_line(exc)})
            result.counts[action.kind]["failed"] += 1
            continue
        result.counts[action.kind][_OP_COUNT[action.op]] += 1

    get_run_logger().info(
        "assets %s -> %s%s: %s", source_workspace, dest_workspace, " [dry run]" if dry_run else "",
        ", ".join(f"{k} {_brief(c)}" for k, c in result.counts.items() if k in wanted),
    )  # fmt: skip
    return result


def _brief(counts: Mapping[str, int]) -> str:
    return "/".join(f"{n} {k}" for k, n in counts.items() if n) or "none"


# ---- the entry the flows call --------------------------------------------------------------
def replicate_assets(
    factory: ClientFactory,
    direction: Direction = "to-secondary",
    dry_run: bool = False,
    kinds: Iterable[str] | None = None,
) -> AssetReplicationReport:
    """Replicate asset metadata of the hub and every project of the plan, pairs in parallel.

    Call it inside a flow. A pair that fails as a whole (after retries) is reported in
    ``failures`` with its message; the other pairs still complete.
    """
    chosen = list(kinds if kinds is not None else factory.plan.replication.asset_kinds)
    report = AssetReplicationReport(direction, dry_run)
    futures = [
        (pair, replicate_workspace_assets.submit(factory, direction, pair[0], pair[1], chosen, dry_run))
        for pair in workspace_pairs(factory, direction)
    ]
    for (source_ws, dest_ws), future in futures:
        try:
            report.workspaces.append(future.result())
        except Exception as exc:  # noqa: BLE001 - reported per pair; the flow decides to fail
            report.failures.append(
                {"workspace": dest_ws, "source_workspace": source_ws, "error": _first_line(exc)}
            )
    return report
