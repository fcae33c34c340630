"""Runbook replicate-artifacts: blobs, asset metadata, images and hub links into the other side.

Order: approval (if the plan asks) -> inventory of the source -> blobs -> datastores and
connections -> asset metadata -> images -> checkpoint (only when everything succeeded) ->
report. ``direction="to-primary"`` is the reverse used by fail-back.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.states import State

from foundry_dr.checkpoint import Checkpoint, recovery_point_of, rpo_status
from foundry_dr.clients import ClientFactory
from foundry_dr.errors import ReplicationFailed, ReplicationRefused
from foundry_dr.flows.common import (
    approval_gate,
    flow_run_id,
    plan_lock,
    publish_report,
    rejections_end_cancelled,
    run_name,
    runbook_run,
)
from foundry_dr.plan import Plan
from foundry_dr.pointer import source_serving
from foundry_dr.sides import Direction, Side, sides_of
from foundry_dr.stores.checkpoint import read_checkpoint
from foundry_dr.stores.pointer import read_pointer
from foundry_dr.tasks.assets import replicate_assets
from foundry_dr.tasks.checkpoint import write_checkpoint
from foundry_dr.tasks.inventory import snapshot_inventory
from foundry_dr.tasks.registry import replicate_images
from foundry_dr.tasks.storage import BlobReplicationFailed, replicate_blobs
from foundry_dr.tasks.workspace_links import replicate_workspace_links

RUNBOOK = "replicate-artifacts"


@flow(name=RUNBOOK, flow_run_name=run_name(RUNBOOK, "direction"),
      description="Replicate blobs, asset metadata, images and hub links into the other region.")  # fmt: skip
@rejections_end_cancelled
def replicate_artifacts(
    plan: Plan | str,
    approve: bool = False,
    dry_run: bool = False,
    direction: Direction = "to-secondary",
    verify: Literal["changed", "all"] = "changed",
    since: datetime | None = None,
    source_since: datetime | None = None,
) -> dict[str, Any] | State:
    """``since`` (fail-back): copy back only blobs changed after that recovery point; blobs
    changed on both sides are resolved by ``failback.conflict_policy`` (never overwritten silently)."""
    logger = get_run_logger()
    source, destination = sides_of(direction)
    with runbook_run(RUNBOOK, plan, direction=direction, dry_run=dry_run) as run:
        plan, factory, started_at, t0, timings = run.plan, run.factory, run.started, run.t0, run.timeline
        # Only from the side that serves: fails closed when the pointer can't be read.
        pointer, _ = read_pointer(factory)
        refused = source_serving(pointer, direction)
        if refused:
            raise ReplicationRefused(refused)
        with plan_lock(plan, RUNBOOK, "replication", plan.approvals.timeout_minutes * 60, factory):
            # again under the lock: a cut-over may have flipped while this run waited for it
            if refused := source_serving(read_pointer(factory)[0], direction):
                raise ReplicationRefused(refused)
            decision = approval_gate(
                RUNBOOK, plan, approve=approve,
                summary=f"Replicate {source} -> {destination} ({'dry run' if dry_run else 'changes data'}).",
            )  # fmt: skip
            with run.step("inventory"):
                inventory = snapshot_inventory(factory, source)
            with run.step("blobs"):
                try:
                    blobs = replicate_blobs(plan, factory, direction, dry_run, verify, since=since,
                                            source_since=source_since)
                except BlobReplicationFailed as exc:
                    _report(plan, direction, dry_run, decision, exc.report, None, None, timings, failed=str(exc))
                    raise
            _require_destination_hub(factory, destination)
            with run.step("datastores and connections"):
                links = replicate_workspace_links(factory, direction, dry_run)
            with run.step("asset metadata"):
                assets = replicate_assets(factory, direction, dry_run)
            with run.step("images"):
                images = replicate_images(factory, direction, dry_run)
            parts = Parts(blobs, links, assets, images)
            failures = parts.failures()
            checkpoint = None
            if not dry_run and not failures:
                checkpoint = Checkpoint(
                    plan=plan.name, direction=direction, started_at=started_at, completed_at=datetime.now(UTC),
                    recovery_point=recovery_point_of(started_at, [s.listed_at for s in blobs.shards]),
                    flow_run_id=flow_run_id(), source_side=source, counts=parts.counts(),
                    assets={f"{i['workspace']}/{i['kind']}/{i['name']}/{i['version']}": i["fingerprint"]
                            for ws in assets.workspaces for i in ws.items},
                    blob_shards=blobs.table(), inventory=inventory,
                    unprotected=blobs.unprotected()[:1000], unprotected_count=blobs.totals.archived,
                    conflict_copies=blobs.conflict_copies(),
                )  # fmt: skip
                with run.step("checkpoint"):
                    write_checkpoint(factory, checkpoint, destination)
            recovery_point = checkpoint or read_checkpoint(factory, plan.name)
            result = _report(
                plan,
                direction,
                dry_run,
                decision,
                blobs,
                parts,
                recovery_point,
                timings,
                failed="; ".join(failures) or None,
            )
            if failures:
                raise ReplicationFailed(
                    f"replicate-artifacts {direction} failed (no checkpoint written): " + "; ".join(failures)
                )
    result["seconds"] = round(time.monotonic() - t0, 2)
    logger.info("replicate-artifacts %s: %s", direction, result["summary"])
    run.emit("completed", direction=direction, dry_run=dry_run, changed=result["changed"])
    return result


def _require_destination_hub(factory: ClientFactory, destination: Side) -> None:
    """Asset metadata needs the other hub and its projects; say so instead of a bare 404."""
    from azure.core.exceptions import ResourceNotFoundError

    side = factory.plan.side(destination)
    for workspace in [side.hub, *side.projects]:
        try:
            factory.ml_client(destination, workspace).workspaces.get(workspace)
        except ResourceNotFoundError as exc:
            raise ReplicationFailed(
                f"the {destination} workspace {workspace} does not exist (blobs were replicated; asset metadata "
                "needs the workspaces): run provision-secondary first, then re-run replicate-artifacts"
            ) from exc






@dataclass
class Parts:
    """The four parts of one replication run, for the checkpoint and the report."""

    blobs: Any
    links: Any
    assets: Any
    images: Any

    def failures(self) -> list[str]:
        out = []
        if not self.blobs.ok:
            out.append(f"blobs: {len(self.blobs.failures)} shard(s) failed")
        if not self.assets.ok:
            shown = "; ".join(
                f"{f.get('workspace', '?')}/{f.get('name', '?')}: {f.get('error', '?')}"
                for f in self.assets.item_failures[:3]
            )
            out.append(f"assets: {len(self.assets.item_failures)} failure(s): {shown}")
        if self.images.counts.get("failed"):
            out.append(f"images: {self.images.counts['failed']} import(s) failed")
        datastore_failures = [d for d in self.links.datastores if d.get("action") in ("failed",)]
        if datastore_failures:
            out.append(f"datastores: {len(datastore_failures)} failed")
        return out

    def warnings(self) -> list[str]:
        return [*self.links.problems, *self.images.problems]

    def counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {"blobs": asdict(self.blobs.totals)}
        for kind, c in self.assets.totals.items():
            counts[f"assets.{kind}"] = dict(c)
        counts["images"] = dict(self.images.counts)
        counts["datastores"] = {"created": self.links.changes}
        return counts

    def changed(self) -> int:
        return (
            self.blobs.changed
            + self.assets.changes
            + self.links.changes
            + int(self.images.counts.get("imported", 0))
            + int(bool(self.images.replication and self.images.replication.get("action") == "created"))
        )


def _report(
    plan: Plan,
    direction: str,
    dry_run: bool,
    decision: dict,
    blobs: Any,
    parts: Parts | None,
    checkpoint: Checkpoint | None,
    timings: dict[str, float],
    failed: str | None = None,
) -> dict[str, Any]:
    rpo = rpo_status(checkpoint, plan.objectives.rpo_minutes)
    unprotected = blobs.unprotected()
    conflict_copies = blobs.conflict_copies()
    lines = [
        f"# Replicate-artifacts {direction}{' (dry run)' if dry_run else ''}: plan `{plan.name}`",
        "",
        f"- outcome: **{'FAILED: ' + failed if failed else 'completed'}**",
        f"- approval: {decision['decision']} by {decision['approver']} ({decision['reason']})",
        # the summary names its subject ("blobs to-secondary: copied ..."): not twice
        f"- blobs: {blobs.summary().removeprefix(f'blobs {direction}: ')}",
    ]
    conflicts: list[dict] = []
    if parts is not None:
        t = parts.assets.totals
        lines.append(
            "- asset versions: "
            + "; ".join(
                f"{kind} " + ", ".join(f"{k} {v}" for k, v in c.items() if v)
                for kind, c in t.items()
                if any(c.values())
            )
        )
        rep = parts.images.replication or {}
        lines.append(
            f"- images ({parts.images.mode}): "
            + (f"replication {rep.get('region')} {rep.get('action')} ({rep.get('status')}); " if rep else "")
            + ", ".join(f"{k} {v}" for k, v in parts.images.counts.items())
        )
        lines.append("- datastores: " + ", ".join(f"{d['name']} {d['action']}" for d in parts.links.datastores))
        lines.append(
            "- connections: "
            + ", ".join(f"{c['source']} -> {c['dest']} {c['action']}" for c in parts.links.connections)
        )
        warnings = parts.warnings()
        if warnings:
            lines += ["", "## Warnings (action needed, nothing lost)", *(f"- {w}" for w in warnings)]
        conflicts = parts.assets.conflicts
    if blobs.totals.archived:
        lines += ["", f"## Not protected ({blobs.totals.archived} blobs: no recovery point for them)",
                  *(f"- {u}" for u in unprotected[:20])]
    if conflict_copies:
        lines += ["", f"## Conflict copies ({blobs.totals.conflicts}: the version that is not live, kept here)",
                  *(f"- {c}" for c in conflict_copies[:50])]
    lines += [
        f"- RPO after the run: {rpo['rpo_seconds']} s (objective {rpo['objective_seconds']:.0f} s, "
        f"{'met' if rpo['met'] else 'NOT met'}"
        + (f"; {rpo['unprotected']} blobs NOT protected" if rpo.get("unprotected") else "")
        + f"); recovery point {rpo['checkpoint']}",
        "",
        "| step | seconds |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in timings.items()),
    ]
    rows = [{"kind": "blob-shard", **r} for r in blobs.table() if r.get("failed") or r.get("error")]
    rows += [{"kind": "not-protected", "item": u} for u in unprotected]
    rows += [{"kind": "conflict-copy", "item": c} for c in conflict_copies]
    rows += [{"kind": "asset-conflict", **{k: str(v) for k, v in c.items()}} for c in conflicts]
    if parts is not None:
        rows += [{"kind": "asset-failure", **{k: str(v) for k, v in f.items()}} for f in parts.assets.item_failures]
    publish_report("replicate-artifacts-report", "\n".join(lines), rows or None, "replicate-artifacts-problems",
                   description=f"Replicate-artifacts report ({direction}) for plan {plan.name}",
                   table_description=f"Replication problems ({direction}) for plan {plan.name}")  # fmt: skip
    return {
        "summary": blobs.summary(), "changed": parts.changed() if parts else blobs.changed,
        "blobs": asdict(blobs.totals), "assets": parts.assets.totals if parts else None,
        "images": parts.images.to_dict() if parts else None, "links": parts.links.to_dict() if parts else None,
        "conflicts": conflicts, "blob_conflicts": blobs.totals.conflicts,
        "blob_conflict_samples": [x for shard in blobs.shards for x in shard.samples.get("conflict", [])],
        "rpo": rpo, "dry_run": dry_run, "direction": direction,
        "recovery_point": checkpoint.point if checkpoint else None,
        "replicated_until": checkpoint.completed_at if checkpoint else None,
        "conflict_copies": conflict_copies, "unprotected": unprotected,
    }  # fmt: skip
