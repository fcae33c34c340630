"""Health probes of a side: hub and projects (ARM), storage. Fast, with few retries: a probe
answers "is it up now", and a down region must not cost minutes of back-off."""

from __future__ import annotations

import time
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from foundry_dr.clients import ClientFactory
from foundry_dr.redact import redact_text
from foundry_dr.resource_ids import workspace_id
from foundry_dr.sides import Side

WORKSPACE_API = "2024-04-01"
# Two quick retries: a throttled (429 + Retry-After) but healthy region must pass its probe, while a
# region that is down (503, refused) still fails within seconds, not minutes of back-off.
PROBE_RETRIES = 2


def _probe(name: str, call: Any) -> dict[str, Any]:
    start = time.monotonic()
    try:
        detail = call()
        return {"probe": name, "ok": True, "detail": detail or "", "ms": round((time.monotonic() - start) * 1000)}
    except Exception as exc:  # noqa: BLE001 - a probe reports every failure
        status = getattr(exc, "status_code", None)
        text = f"{type(exc).__name__}{f' {status}' if status else ''}: {str(exc).splitlines()[0][:200]}"
        return {"probe": name, "ok": False, "detail": redact_text(text), "ms": round((time.monotonic() - start) * 1000)}


@task(cache_policy=NO_CACHE)
def probe_side(factory: ClientFactory, side: Side) -> dict[str, Any]:
    """Probe the side's hub, its projects and its default storage account; never raises."""
    plan = factory.plan
    s = plan.side(side)
    resources = factory.resource_client(s.subscription_id)

    def hub() -> str:
        ws = resources.resources.get_by_id(
            workspace_id(plan, side, s.hub), api_version=WORKSPACE_API, retry_total=PROBE_RETRIES
        )
        return f"{ws.name}: {ws.properties.get('provisioningState', '?') if ws.properties else '?'}"

    def storage() -> str:
        info = factory.blob_service(s.storage_account).get_account_information(retry_total=PROBE_RETRIES)
        return f"{s.storage_account}: {info.get('sku_name', 'ok')}"

    def projects() -> str:
        for project in s.projects:
            resources.resources.get_by_id(
                workspace_id(plan, side, project), api_version=WORKSPACE_API, retry_total=PROBE_RETRIES
            )
        return ", ".join(s.projects)

    probes = [_probe("hub", hub), _probe("storage", storage)]
    if probes[0]["ok"]:
        probes.append(_probe("projects", projects))
    return {"side": side, "healthy": all(p["ok"] for p in probes), "probes": probes}
