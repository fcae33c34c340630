"""Prefect task that gives the other hub the datastores and connections of the source hub.

Datastores: each user datastore of the source hub is created in the destination hub under the
same name, pointing at the *destination side's* account with the same index in the plan
(``storage_account`` first, then ``extra_storage_accounts``) and the same container -- the
container blob replication fills. The hub's system datastores (``workspaceblobstore`` and
friends) are made by the RP with every hub and are never recreated.

Credentials: a datastore's secret is not readable through a GET (only through listSecrets,
which needs more rights than replication should hold), and copying a key would move a
credential of one account onto another anyway. So every datastore is created
**credential-less** (identity-based data access, Microsoft's recommendation). When the source
used an account key or SAS, the row says so and the report names the role to grant
(Storage Blob Data Reader/Contributor on the destination account) -- nothing is invented.

Connections: the plan maps each source connection to its twin in the other region (two AI
Services resources). A missing twin is a *problem* with the fix; the runbook never creates a
connection, because it would have to invent the credentials of the other region's service.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceNotFoundError
from prefect import get_run_logger, task

from foundry_dr.sides import Direction, sides_of
from foundry_dr.tasks.retried import RETRIED_BULK

if TYPE_CHECKING:
    from foundry_dr.clients import ClientFactory

# Created by the RP with every hub/project; recreating them would fight the RP.
SYSTEM_DATASTORES = frozenset(
    {"workspaceblobstore", "workspacefilestore", "workspaceartifactstore", "workspaceworkingdirectory"}
)


@dataclass
class WorkspaceLinksReport:
    """Rows per datastore ``{name, account, container, dest_account, action, credentials, note}``
    (action: ``exists`` | ``created`` | ``would-create`` | ``system`` | ``conflict`` | ``unmapped``)
    and per connection ``{source, dest, action, note}`` (action: ``exists`` | ``missing`` |
    ``source-missing`` | ``unmapped``); ``problems`` are actionable messages."""

    dry_run: bool
    datastores: list[dict] = field(default_factory=list)
    connections: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def changes(self) -> int:
        return sum(1 for d in self.datastores if d["action"] == "created")

    def to_dict(self) -> dict:
        return asdict(self)


def account_map(factory: ClientFactory, direction: Direction) -> dict[str, str]:
    """Source account -> destination account, by position in the plan (lower-case names)."""
    src_side, dst_side = sides_of(direction)
    src, dst = factory.plan.side(src_side), factory.plan.side(dst_side)  # type: ignore[arg-type]
    sources = [src.storage_account, *src.extra_storage_accounts]
    dests = [dst.storage_account, *dst.extra_storage_accounts]
    return {s.lower(): d for s, d in zip(sources, dests, strict=False)}


def _credential_kind(datastore: Any) -> str:
    """``account_key`` | ``sas`` | ``service_principal`` | ``identity`` (no credential)."""
    name = type(getattr(datastore, "credentials", None)).__name__
    return {
        "AccountKeyConfiguration": "account_key",
        "SasTokenConfiguration": "sas",
        "ServicePrincipalConfiguration": "service_principal",
        "CertificateConfiguration": "service_principal",
    }.get(name, "identity")


def sync_datastores(factory: ClientFactory, direction: Direction, report: WorkspaceLinksReport) -> None:
    from azure.ai.ml.entities import AzureBlobDatastore

    src_side, dst_side = sides_of(direction)
    dst_hub = factory.plan.side(dst_side).hub  # type: ignore[arg-type]
    accounts = account_map(factory, direction)
    src_ml, dst_ml = factory.ml_client(src_side), factory.ml_client(dst_side)  # type: ignore[arg-type]
    existing = {d.name.lower(): d for d in dst_ml.datastores.list()}
    for ds in src_ml.datastores.list():
        account = getattr(ds, "account_name", None)
        container = getattr(ds, "container_name", None)
        row: dict[str, Any] = {"name": ds.name, "account": account, "container": container,
                               "dest_account": accounts.get((account or "").lower()),
                               "credentials": _credential_kind(ds), "note": ""}  # fmt: skip
        report.datastores.append(row)
        if ds.name.lower() in SYSTEM_DATASTORES or getattr(ds, "is_default", False):
            row.update(action="system", note="made by the RP with the hub; not recreated")
            continue
        if not isinstance(ds, AzureBlobDatastore):
            row.update(action="unmapped", note=f"{type(ds).__name__} is not replicated")
            report.problems.append(
                f"datastore {ds.name} ({type(ds).__name__}) is not replicated by foundry-dr; create it in hub "
                f"{dst_hub} by hand, pointing at the secondary region's copy of its data."
            )
            continue
        if row["dest_account"] is None:
            row.update(action="unmapped")
            report.problems.append(
                f"datastore {ds.name} points at storage account {account}, which the plan does not list; "
                f"add it to {src_side}.extra_storage_accounts and its twin to {dst_side}.extra_storage_accounts "
                "at the same position."
            )
            continue
        have = existing.get(ds.name.lower())
        if have is not None:
            same = (getattr(have, "account_name", "") or "").lower() == row["dest_account"].lower() and getattr(
                have, "container_name", None
            ) == container
            if same:
                row["action"] = "exists"
            else:
                row.update(action="conflict", note=f"points at {getattr(have, 'account_name', None)}/"
                           f"{getattr(have, 'container_name', None)}")  # fmt: skip
                report.problems.append(
                    f"datastore {ds.name} in hub {dst_hub} points at {getattr(have, 'account_name', None)}/"
                    f"{getattr(have, 'container_name', None)}, not {row['dest_account']}/{container}; left "
                    "unchanged. Fix or delete it, then re-run."
                )
            continue
        if row["credentials"] != "identity":
            row["note"] = (
                f"source uses {row['credentials']}; created identity-based: grant users and the hub's identity "
                f"Storage Blob Data Reader (or Contributor) on {row['dest_account']}"
            )
        if report.dry_run:
            row["action"] = "would-create"
            continue
        dst_ml.datastores.create_or_update(
            AzureBlobDatastore(
                name=ds.name,
                account_name=row["dest_account"],
                container_name=container,
                description=ds.description,
                tags=dict(ds.tags or {}),
                endpoint=getattr(ds, "endpoint", None),
                protocol=getattr(ds, "protocol", None) or "https",
            )
        )
        row["action"] = "created"


def check_connections(factory: ClientFactory, direction: Direction, report: WorkspaceLinksReport) -> None:
    src_side, dst_side = sides_of(direction)
    plan = factory.plan
    dst = plan.side(dst_side)  # type: ignore[arg-type]
    src_ml, dst_ml = factory.ml_client(src_side), factory.ml_client(dst_side)  # type: ignore[arg-type]
    pairs = [(m.primary, m.secondary) if direction == "to-secondary" else (m.secondary, m.primary)
             for m in plan.connections]  # fmt: skip
    source_names = {c.name.lower(): c for c in src_ml.connections.list()}
    for source, dest in pairs:
        row: dict[str, Any] = {"source": source, "dest": dest, "note": ""}
        report.connections.append(row)
        src_conn = source_names.get(source.lower())
        if src_conn is None:
            row["action"] = "source-missing"
            report.problems.append(
                f"connection {source} (mapped in the plan) is not in hub {plan.side(src_side).hub}; "  # type: ignore[arg-type]
                "fix the plan's connections mapping."
            )
            continue
        try:
            twin = dst_ml.connections.get(dest)
        except ResourceNotFoundError:
            row["action"] = "missing"
            target = f" ({dst.ai_services})" if dst.ai_services else ""
            report.problems.append(
                f"connection {dest} is missing in hub {dst.hub}: create connection {dest} in hub {dst.hub} "
                f"pointing at the {dst.location} AI Services{target}, of the same type as {source} "
                f"({getattr(src_conn, 'type', 'unknown')}); foundry-dr does not invent credentials."
            )
            continue
        row["action"] = "exists"
        twin_type, src_type = getattr(twin, "type", None), getattr(src_conn, "type", None)
        if twin_type != src_type:
            row["note"] = f"type {twin_type} differs from the source's {src_type}"
            report.problems.append(f"connection {dest} in hub {dst.hub}: {row['note']}")
    mapped = {s.lower() for s, _ in pairs}
    for name, conn in source_names.items():
        if name not in mapped:
            report.connections.append({"source": conn.name, "dest": None, "action": "unmapped",
                                       "note": "not in the plan's connections mapping"})  # fmt: skip


@task(
    name="replicate-workspace-links",
    **RETRIED_BULK,
)
def replicate_workspace_links(
    factory: ClientFactory, direction: Direction = "to-secondary", dry_run: bool = False
) -> WorkspaceLinksReport:
    """Datastores (created credential-less in the destination hub) and connections (checked
    against the plan's mapping, never created). Idempotent: existing datastores are left."""
    report = WorkspaceLinksReport(dry_run)
    sync_datastores(factory, direction, report)
    check_connections(factory, direction, report)
    get_run_logger().info(
        "datastores: %s; connections: %s; %d problem(s)",
        ", ".join(f"{d['name']} {d['action']}" for d in report.datastores),
        ", ".join(f"{c['source']}->{c['dest']} {c['action']}" for c in report.connections),
        len(report.problems),
    )
    return report
