"""Smoke test of a recreated online endpoint: get its key, POST a sample to the scoring URI.

A failover is only done when inference answers in the target region, so this is a real HTTPS
request with the endpoint's own credential, verified with the same CA bundle as the clients
(the sandbox's CA, or the system's for Azure). The key is never logged, returned or reported.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from prefect import task
from prefect.cache_policies import NO_CACHE

from foundry_dr.clients import ClientFactory
from foundry_dr.redact import redact_text
from foundry_dr.sides import Side
from foundry_dr.tasks.endpoints import read_endpoint

DEFAULT_SAMPLE: dict[str, Any] = {"input_data": [[1, 2, 3]]}
ATTEMPTS = 3  # 429/5xx/connection errors are retried; a 4xx answer is the result
AML_SCOPE = "https://ml.azure.com/.default"


def _credential(factory: ClientFactory, side: Side, workspace: str, endpoint: str) -> str:
    creds = factory.ml_client(side, workspace).online_endpoints.get_keys(endpoint)
    for attr in ("primary_key", "access_token"):
        value = getattr(creds, attr, None)
        if value:
            return str(value)
    return factory.credential.get_token(AML_SCOPE).token  # AADToken endpoints


@task(cache_policy=NO_CACHE)
def smoke_test(factory: ClientFactory, side: Side, workspace: str, endpoint: str, resource_id: str,
               sample: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    """``{"endpoint", "workspace", "ok", "status", "latency_ms", "deployment", "error"}``; never raises.

    The scoring URI is read from the endpoint itself: the target region's, not the source's."""
    result: dict[str, Any] = {"endpoint": endpoint, "workspace": workspace, "ok": False, "status": None,
                              "latency_ms": None, "deployment": None, "error": None}  # fmt: skip
    key = ""
    try:
        doc = read_endpoint(factory, side, resource_id)
        scoring_uri = ((doc or {}).get("properties") or {}).get("scoringUri")
        if not scoring_uri:
            raise LookupError(f"{resource_id} has no scoring URI (missing or not provisioned)")
        key = _credential(factory, side, workspace, endpoint)
        verify: Any = factory.sandbox_env["ca_bundle"] if factory.is_sandbox else True
        with httpx.Client(verify=verify, timeout=30, trust_env=not factory.is_sandbox) as client:
            for attempt in range(ATTEMPTS):
                t0 = time.monotonic()
                try:
                    resp = client.post(scoring_uri, json=sample or DEFAULT_SAMPLE,
                                       headers={"Authorization": f"Bearer {key}"})  # fmt: skip
                except httpx.TransportError as exc:
                    result["error"] = f"{type(exc).__name__}: {exc}"
                    time.sleep(attempt + 1)
                    continue
                result["latency_ms"] = round((time.monotonic() - t0) * 1000, 1)
                result["status"] = resp.status_code
                result["deployment"] = resp.headers.get("azureml-model-deployment")
                result["ok"] = 200 <= resp.status_code < 300
                result["error"] = None if result["ok"] else resp.text[:300]
                if resp.status_code == 429 or resp.status_code >= 500:
                    time.sleep(min(float(resp.headers.get("Retry-After", attempt + 1)), 10))
                    continue
                break
    except Exception as exc:  # noqa: BLE001 - a failed smoke test is a result, judged by the flow
        result["error"] = f"{type(exc).__name__}: {exc}"
    if result["error"]:
        result["error"] = redact_text(str(result["error"]), [key])
    return result
