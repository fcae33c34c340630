"""Prefect task that makes the container images environments use available in the other region.

Two layouts, as the plan says:

- **one shared, geo-replicated Premium registry** (``shared.container_registry.geo_replicated``):
  ACR replicates the images itself; the runbook only makes sure a replication exists in the
  destination region and is Ready (it creates one unless dry-run). Nothing is imported.
- **one registry per side** (``primary.registry`` / ``secondary.registry``): every
  ``repository:tag`` that an environment version references in the source registry is imported
  into the other registry with ``importImage`` (server-side, no docker pull/push).

Skipping what is already present: before importing, the destination registry's data plane
(``azure-containerregistry``: ``get_tag_properties`` / ``get_manifest_properties``) is asked for the
tag, and the source's for its digest. Same digest: ``present``, nothing is called. Another digest:
``conflict``, a problem naming both digests -- the destination's image is never replaced behind its
users (the import runs with ``mode="NoForce"``). Only a missing tag is imported. This check is
needed, not an optimisation: ACR fails a NoForce import of *any* existing target tag, same digest
or not (ImportImageParameters.mode in the Microsoft.ContainerRegistry spec), so without it every
re-run would count its tags as failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import HttpResponseError
from prefect import get_run_logger, task

from foundry_dr.asset_sync import ImageRef, parse_image
from foundry_dr.errors import PermanentError
from foundry_dr.redact import redact_text
from foundry_dr.resource_ids import arm_id
from foundry_dr.retry import is_transient
from foundry_dr.sides import Direction, sides_of
from foundry_dr.tasks.retried import RETRIED_BULK

if TYPE_CHECKING:
    from foundry_dr.clients import ClientFactory

READY = "Ready"


@dataclass
class ImageReport:
    """What the images step saw and did; JSON-able (``to_dict``).

    ``mode``: ``geo-replication`` | ``import`` | ``none`` (no registry in the plan).
    ``replication``: for geo-replication, ``{registry, region, name, status, action}`` where
    action is ``exists`` | ``created`` | ``would-create``. ``imports``: per-tag rows
    ``{image, target, result}`` with result ``imported`` | ``present`` (same digest there) |
    ``conflict`` (another digest there: a problem) | ``would-import`` | ``skipped`` (not in the
    source registry) | ``failed``; ``counts`` sums them.
    ``problems``: actionable messages (a replication not Ready, a registry not Premium, ...).
    """

    mode: str
    dry_run: bool
    replication: dict[str, Any] | None = None
    imports: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.counts.get("failed")

    def to_dict(self) -> dict:
        return asdict(self)


def _first_line(exc: BaseException) -> str:
    text = redact_text(str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _norm_region(region: str | None) -> str:
    return (region or "").replace(" ", "").lower()


# ---- geo-replication -------------------------------------------------------------------------
def ensure_geo_replication(factory: ClientFactory, direction: Direction, dry_run: bool) -> ImageReport:
    """The shared registry has a replication in the destination region, and it is Ready."""
    from azure.mgmt.containerregistry.models import Replication

    plan = factory.plan
    acr = plan.shared.container_registry
    assert acr is not None
    sub = acr.subscription_id or plan.primary.subscription_id
    region = plan.side(sides_of(direction)[1]).location  # type: ignore[arg-type]
    client = factory.registry_client(sub)
    report = ImageReport("geo-replication", dry_run)
    registry = client.registries.get(acr.resource_group, acr.name)
    if (registry.sku.name if registry.sku else None) != "Premium":
        raise PermanentError(
            f"registry {acr.name} is {registry.sku.name if registry.sku else 'of unknown SKU'}: geo-replication "
            "needs Premium. Upgrade it, or set shared.container_registry.geo_replicated: false and name a "
            "registry per side (primary.registry / secondary.registry) so images are imported instead."
        )
    found = next(
        (r for r in client.replications.list(acr.resource_group, acr.name) if _norm_region(r.location) == region),
        None,
    )
    row: dict[str, Any] = {"registry": acr.name, "region": region}
    if found is None and dry_run:
        report.replication = {**row, "name": region, "status": None, "action": "would-create"}
        return report
    action = "exists"
    if found is None:
        poller = client.replications.begin_create(acr.resource_group, acr.name, region, Replication(location=region))
        poller.result()
        found = client.replications.get(acr.resource_group, acr.name, region)
        action = "created"
    status = found.status.display_status if found.status else None
    state = getattr(found.provisioning_state, "value", found.provisioning_state)  # an enum in the SDK
    report.replication = {**row, "name": found.name, "status": status, "action": action,
                          "provisioning_state": state}  # fmt: skip
    if status != READY or state != "Succeeded":
        report.problems.append(
            f"replication {found.name} of {acr.name} in {region} is {status or 'of unknown status'} "
            f"(provisioning {state}); images are not yet served from {region}. "
            "Re-run later; if it stays so, check the replication in the portal."
        )
    return report


# ---- imports between two registries --------------------------------------------------------
def referenced_images(factory: ClientFactory, side: str) -> list[str]:
    """Every image any environment version (archived included) of the side's hub and projects names."""
    from azure.ai.ml.constants import ListViewType

    s = factory.plan.side(side)  # type: ignore[arg-type]
    images: set[str] = set()
    for workspace in [None, *s.projects]:
        ops = factory.ml_client(side, workspace).environments  # type: ignore[arg-type]
        for container in ops.list(list_view_type=ListViewType.ALL):
            for env in ops.list(name=container.name, list_view_type=ListViewType.ALL):
                if env.image:
                    images.add(env.image)
    return sorted(images)


def import_images(
    factory: ClientFactory, direction: Direction, dry_run: bool, images: Iterable[str] | None = None
) -> ImageReport:
    """Import each referenced ``repo:tag`` of the source side's registry into the other side's."""
    from azure.mgmt.containerregistry.models import ImportImageParameters, ImportSource

    src_side, dst_side = sides_of(direction)
    src, dst = factory.plan.side(src_side), factory.plan.side(dst_side)  # type: ignore[arg-type]
    assert src.registry and dst.registry
    report = ImageReport("import", dry_run)
    src_client = factory.registry_client(src.subscription_id)
    dst_client = factory.registry_client(dst.subscription_id)
    login = (src_client.registries.get(src.resource_group, src.registry).login_server or "").lower()
    dst_login = (dst_client.registries.get(dst.resource_group, dst.registry).login_server or "").lower()
    source_id = arm_id(src.subscription_id, src.resource_group, "Microsoft.ContainerRegistry/registries", src.registry)
    refs: list[tuple[str, ImageRef]] = [(i, parse_image(i)) for i in (images or referenced_images(factory, src_side))]
    counts: dict[str, int] = {}
    for image, ref in refs:
        row = {"image": image, "target": f"{dst.registry}/{ref.source_image}"}
        if ref.registry != login:
            row["result"] = "skipped"
            row["reason"] = f"not in the source registry {login}"
        elif dry_run:
            row["result"] = "would-import"
        else:
            try:
                state = _destination_state(factory, login, dst_login, ref)
            except HttpResponseError as exc:
                if is_transient(exc):
                    raise
                state = {"result": "failed", "reason": "could not read the tags (the identity needs AcrPull or "
                         f"Reader on both registries): {_first_line(exc)}"}  # fmt: skip
            if state is not None:
                row.update(state)
                counts[row["result"]] = counts.get(row["result"], 0) + 1
                report.imports.append(row)
                if row["result"] == "conflict":
                    report.problems.append(f"{dst.registry}: {row['reason']}")
                continue
            target = f"{ref.repository}:{ref.tag}" if ref.tag else None
            params = ImportImageParameters(
                source=ImportSource(resource_id=source_id, source_image=ref.source_image),
                target_tags=[target] if target else None,
                untagged_target_repositories=None if target else [ref.repository],
                mode="NoForce",
            )
            try:
                dst_client.registries.begin_import_image(dst.resource_group, dst.registry, params).result()
                row["result"] = "imported"
            except HttpResponseError as exc:
                if is_transient(exc):
                    raise
                else:
                    row["result"] = "failed"
                    row["reason"] = _first_line(exc)
        counts[row["result"]] = counts.get(row["result"], 0) + 1
        report.imports.append(row)
    report.counts = counts
    return report


def _digest(client: Any, ref: ImageRef) -> str | None:
    """The digest ``ref`` names in a registry (its tag's, or its own if present), None if absent."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        if ref.digest:
            return client.get_manifest_properties(ref.repository, ref.digest).digest
        return client.get_tag_properties(ref.repository, ref.tag or "latest").digest
    except ResourceNotFoundError:
        return None


def _destination_state(factory: ClientFactory, src_login: str, dst_login: str, ref: ImageRef) -> dict | None:
    """``{"result": "present"|"conflict", ...}`` when the destination already has ``ref``'s tag
    (or digest); None when it must be imported."""
    there = _digest(factory.registry_data_client(dst_login), ref)
    if there is None:
        return None
    if ref.digest:
        return {"result": "present", "digest": there}
    here = _digest(factory.registry_data_client(src_login), ref)
    if here == there:
        return {"result": "present", "digest": there}
    return {
        "result": "conflict",
        "reason": f"{ref.source_image} holds {there} here but {here or 'nothing'} in the source registry; "
        "left as it is (NoForce). Re-tag or remove it in the destination, then re-run.",
    }


# ---- the task ----------------------------------------------------------------------------------
@task(
    name="replicate-images",
    **RETRIED_BULK,
)
def replicate_images(
    factory: ClientFactory,
    direction: Direction = "to-secondary",
    dry_run: bool = False,
    images: list[str] | None = None,
) -> ImageReport:
    """Images step of replicate-artifacts: geo-replication check/create, or per-tag imports.

    ``images``: the image references to import (two-registry layout); None lists them from the
    source side's environments. Transient failures retry the task (idempotent: an existing
    replication or tag is left as it is); a 4xx fails at once or is reported per tag.
    """
    plan = factory.plan
    acr = plan.shared.container_registry
    if acr is not None and acr.geo_replicated:
        report = ensure_geo_replication(factory, direction, dry_run)
    elif plan.primary.registry and plan.secondary.registry:
        report = import_images(factory, direction, dry_run, images)
    else:
        report = ImageReport("none", dry_run)
        if acr is not None:
            report.problems.append(
                f"registry {acr.name} is shared but not geo-replicated: images are not available in "
                f"{plan.secondary.location} if {plan.primary.location} fails. Set geo_replicated: true "
                "(Premium), or name a registry per side (primary.registry / secondary.registry)."
            )
    get_run_logger().info(
        "images (%s)%s: %s%s", report.mode, " [dry run]" if dry_run else "",
        report.replication or report.counts, f"; problems: {report.problems}" if report.problems else "",
    )  # fmt: skip
    return report
