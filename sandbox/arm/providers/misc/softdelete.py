"""Soft delete, as Key Vault and Cognitive Services do it: a deleted resource is kept under a
subscription-level ``locations/{loc}/deleted...`` id until purged, and a PUT with the RP's
recover flag brings it back with its original properties. A plain PUT of a soft-deleted name
is refused, which is the trap a DR runbook must handle when it re-creates a vault or account.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from foundry_dr_sandbox.arm.core.engine import Engine, normalize_location, now_iso


def remember(engine: Engine, deleted_id: str, deleted_type: str, doc: dict, meta: dict, view: dict) -> None:
    """Keep a deleted resource (``view`` is what GET of the deleted id shows)."""
    sub = "/".join(doc["id"].split("/")[:3])
    kept_meta = {
        "parent": sub,
        "region": meta.get("region"),
        "original": copy.deepcopy(doc),
        "original_meta": {k: v for k, v in meta.items() if k not in ("ready_at", "op")},
    }
    engine.store.put(
        deleted_id, sub, deleted_type, {"id": deleted_id, "type": deleted_type, **view}, kept_meta
    )


def find(engine: Engine, deleted_type: str, resource_id: str) -> tuple[dict, dict] | None:
    """The soft-deleted twin of ``resource_id`` (same original id), if any."""
    sub = "/".join(resource_id.split("/")[:3])
    for doc, meta in engine.store.by_type(deleted_type, sub):
        if meta.get("original", {}).get("id", "").lower() == resource_id.lower():
            return doc, meta
    return None


def restored(found: tuple[dict, dict]) -> tuple[dict, dict]:
    """The original document and meta of a soft-deleted resource, ready to be stored again."""
    doc, meta = found
    original = {
        k: v
        for k, v in copy.deepcopy(meta["original"]).items()
        if k not in ("id", "name", "type", "systemData")
    }
    original_meta = dict(meta.get("original_meta", {}))
    original_meta["restored_from"] = doc["id"]
    return original, original_meta


def forget_restored(engine: Engine, meta: dict) -> None:
    """Call from on_settled: the deleted entry goes once the recovered resource exists."""
    deleted_id = meta.pop("restored_from", None)
    if deleted_id:
        engine.store.delete_tree(deleted_id)


def dates(days: int) -> tuple[str, str]:
    now = datetime.now(UTC)
    return now_iso(), (now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def location_of(doc: dict) -> str:
    return normalize_location(doc.get("location")) or "global"
