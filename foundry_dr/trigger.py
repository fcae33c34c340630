"""Alert receiver: an Azure Monitor webhook starts the cut-over deployment, awaiting approval.

    FOUNDRY_DR_TRIGGER_TENANT_ID=... FOUNDRY_DR_TRIGGER_AUDIENCE=api://foundry-dr-alerts \
    PREFECT_API_URL=... foundry-dr trigger serve --port 8787

Azure Monitor (action group -> webhook, common alert schema on) POSTs to ``/alerts``. Rules
this module enforces, because an alert is an untrusted, retried, possibly replayed input:

- the caller proves itself (foundry_dr/trigger_auth.py): a secure webhook's Entra ID token
  (signature from the tenant's keys, issuer, audience), or a shared secret from the
  environment (``?secret=`` in the webhook URL, or the ``X-Foundry-DR-Secret`` header),
  compared in constant time; anything else is 401 and starts nothing;
- the body's size is checked before it is read (413);
- only ``monitorCondition: Fired`` starts a run; ``Resolved`` is acknowledged and ignored;
- one run per alert id, remembered in a small sqlite file, so Azure Monitor's retries and a
  restart of the receiver never start a second failover (the server-side idempotency key
  is a second guard);
- the run is started with ``approve=False``: an alert can ask for a failover, only a human
  can approve it (the cut-over pauses at its approval gate);
- errors are logged here, never echoed to the caller (a 503 says only "retry").
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations at runtime.
import json
import logging
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from foundry_dr.errors import BadAlert, TriggerConfigError
from foundry_dr.redact import redact_text as redact
from foundry_dr.trigger_auth import (
    MIN_SECRET_LENGTH,
    SECRET_ENV,
    SECRET_HEADER,
    ReceiverAuth,
    Unauthorized,
    auth_from_env,
)

STATE_ENV = "FOUNDRY_DR_TRIGGER_STATE"
SCHEMA_ID = "azureMonitorCommonAlertSchema"
RUNBOOK = "cut-over"
MAX_BODY_BYTES = 256 * 1024  # common-schema payloads are a few KiB
log = logging.getLogger("foundry_dr.trigger")
__all__ = ["MIN_SECRET_LENGTH", "SECRET_ENV", "SECRET_HEADER", "AlertStore", "create_app", "parse_alert", "serve"]


def default_state_file() -> Path:
    return Path(os.environ.get(STATE_ENV) or Path.home() / ".foundry-dr" / "trigger-alerts.sqlite3")


def secret_from_env() -> str:
    """The shared secret alone (kept for callers of the first receiver); see auth_from_env."""
    auth = auth_from_env()
    if auth.secret is None:
        raise TriggerConfigError(f"{SECRET_ENV} is not set")
    return auth.secret


class AlertStore:
    """Alert ids already handled, in sqlite: atomic claims across threads and restarts."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS alerts (alert_id TEXT PRIMARY KEY, received_at TEXT NOT NULL, "
                "rule TEXT, flow_run_id TEXT)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def claim(self, alert_id: str, rule: str | None) -> bool:
        """True for the first claim of ``alert_id``; False if it was claimed before."""
        with self._connect() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO alerts (alert_id, received_at, rule) VALUES (?, ?, ?)",
                (alert_id, datetime.now(UTC).isoformat(timespec="seconds"), rule),
            )
            return cur.rowcount == 1

    def record_run(self, alert_id: str, flow_run_id: str) -> None:
        with self._connect() as db:
            db.execute("UPDATE alerts SET flow_run_id = ? WHERE alert_id = ?", (flow_run_id, alert_id))

    def release(self, alert_id: str) -> None:
        """Forget a claim whose run could not be started, so the webhook's retry can try again."""
        with self._connect() as db:
            db.execute("DELETE FROM alerts WHERE alert_id = ? AND flow_run_id IS NULL", (alert_id,))

    def run_of(self, alert_id: str) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT flow_run_id FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
        return row[0] if row else None


def parse_alert(body: bytes) -> dict[str, Any]:
    """The fields we act on from a common-alert-schema payload; :class:`BadAlert` otherwise."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadAlert(f"body is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("schemaId") != SCHEMA_ID:
        raise BadAlert(f"schemaId must be {SCHEMA_ID!r} (enable the common alert schema on the action group)")
    essentials = (doc.get("data") or {}).get("essentials") if isinstance(doc.get("data"), dict) else None
    if not isinstance(essentials, dict):
        raise BadAlert("data.essentials is missing")
    alert_id, condition = essentials.get("alertId"), essentials.get("monitorCondition")
    if not isinstance(alert_id, str) or not alert_id.strip():
        raise BadAlert("data.essentials.alertId is missing")
    if condition not in ("Fired", "Resolved"):
        raise BadAlert("data.essentials.monitorCondition must be 'Fired' or 'Resolved'")
    fired = essentials.get("firedDateTime")
    return {
        "alert_id": alert_id.strip(),
        "condition": condition,
        "rule": essentials.get("alertRule") if isinstance(essentials.get("alertRule"), str) else None,
        "severity": essentials.get("severity"),
        "fired": fired if isinstance(fired, str) else None,
    }


def cut_over_parameters(alert: dict[str, Any], plan: str | None) -> dict[str, Any]:
    """Parameters of the alert's cut-over run: never approved, the alert recorded as the reason."""
    params: dict[str, Any] = {
        "approve": False,  # an alert may ask for a failover; only a human approves it
        "dry_run": False,
        "reason": f"Azure Monitor alert {alert['rule'] or ''} {alert['alert_id']}".replace("  ", " "),
    }
    if plan:
        params["plan"] = plan
    if alert["fired"]:
        try:
            datetime.fromisoformat(alert["fired"].replace("Z", "+00:00"))
            params["outage_started_at"] = alert["fired"]
        except ValueError:
            pass  # an unreadable timestamp only costs the RTO-from-outage figure
    return params


def create_app(auth: ReceiverAuth | str, store: AlertStore, plan: str | None = None, start: Any = None) -> Any:
    """The FastAPI app. ``auth`` is who may call (a plain string: a shared secret).
    ``start(runbook, parameters, tags=, idempotency_key=)`` starts a run (default:
    :func:`foundry_dr.remote.start_deployment`); tests may pass their own."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    from foundry_dr import remote

    start = start or remote.start_deployment
    auth = ReceiverAuth(secret=auth) if isinstance(auth, str) else auth
    app = FastAPI(title="foundry-dr alert receiver", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/alerts")
    async def alerts(request: Request) -> JSONResponse:
        try:  # the token check may fetch the tenant's keys: off the event loop
            how = await run_in_threadpool(auth.check, request.headers, request.query_params)
        except Unauthorized as exc:
            log.warning("alert refused (401): %s", exc)
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        except Exception as exc:  # noqa: BLE001 - the tenant's keys could not be fetched
            log.error("alert not authenticated, keys unavailable: %s", redact(f"{type(exc).__name__}: {exc}"))
            return JSONResponse({"error": "authentication unavailable; retry"}, status_code=503)
        body = await _read_body(request)
        if body is None:
            return JSONResponse({"error": f"payload too large (over {MAX_BODY_BYTES} bytes)"}, status_code=413)
        try:
            alert = parse_alert(body)
        except BadAlert as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if alert["condition"] != "Fired":
            return JSONResponse({"status": "acknowledged", "alert_id": alert["alert_id"], "started": False})
        if not await run_in_threadpool(store.claim, alert["alert_id"], alert["rule"]):
            return JSONResponse({"status": "duplicate", "alert_id": alert["alert_id"], "started": False,
                                 "flow_run_id": await run_in_threadpool(store.run_of, alert["alert_id"])})
        try:
            flow_run = await run_in_threadpool(
                lambda: start(RUNBOOK, cut_over_parameters(alert, plan), tags=["foundry-dr", "alert-triggered"],
                              idempotency_key=f"foundry-dr-alert:{alert['alert_id']}")
            )
        except Exception as exc:  # noqa: BLE001 - server down or deployment missing: 503 so Azure Monitor retries
            await run_in_threadpool(store.release, alert["alert_id"])
            log.error("could not start %s for alert %s: %s", RUNBOOK, alert["alert_id"],
                      redact(f"{type(exc).__name__}: {exc}"))  # fmt: skip
            return JSONResponse({"error": f"could not start {RUNBOOK}; retry (the receiver's log says why)"},
                                status_code=503)  # fmt: skip
        await run_in_threadpool(store.record_run, alert["alert_id"], str(flow_run.id))
        log.info("alert %s (%s) started %s run %s", alert["alert_id"], how, RUNBOOK, flow_run.id)
        return JSONResponse(
            {"status": "started", "alert_id": alert["alert_id"], "started": True, "flow_run_id": str(flow_run.id),
             "awaiting_approval": True, "run_url": remote.run_url(flow_run.id)},
            status_code=202,
        )

    return app


async def _read_body(request: Any) -> bytes | None:
    """The body, or None when it is over MAX_BODY_BYTES: a declared length is checked before
    anything is read, a chunked body is read only up to the limit."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > MAX_BODY_BYTES:
                return None
        except ValueError:
            return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def serve(host: str = "127.0.0.1", port: int = 8787, state_file: Path | None = None, plan: str | None = None) -> None:
    """Run the receiver until interrupted (uvicorn). Put TLS in front of it when exposed.

    uvicorn's access log is off: a webhook URL may carry the shared secret in its query, and
    the access log prints the query. The receiver logs each alert itself, without it."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(auth_from_env(), AlertStore(state_file or default_state_file()), plan=plan)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
