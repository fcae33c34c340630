"""Alert receiver: an Azure Monitor webhook starts the cut-over deployment, awaiting approval.

    FOUNDRY_DR_TRIGGER_SECRET=... PREFECT_API_URL=... foundry-dr trigger serve --port 8787

Azure Monitor (action group -> webhook, common alert schema on) POSTs to ``/alerts`` with the
shared secret in the ``X-Foundry-DR-Secret`` header. Rules this module enforces, because an
alert is an untrusted, retried, possibly replayed input:

- the secret comes from the environment, never from the plan, and is compared in constant
  time; a wrong or missing secret is 401 and starts nothing;
- only ``monitorCondition: Fired`` starts a run; ``Resolved`` is acknowledged and ignored;
- one run per alert id, remembered in a small sqlite file, so Azure Monitor's retries and a
  restart of the receiver never start a second failover (the server-side idempotency key
  is a second guard);
- the run is started with ``approve=False``: an alert can ask for a failover, only a human
  can approve it (the cut-over pauses at its approval gate).
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations at runtime.
import hmac
import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from foundry_dr.errors import BadAlert, TriggerConfigError

SECRET_ENV = "FOUNDRY_DR_TRIGGER_SECRET"
SECRET_HEADER = "X-Foundry-DR-Secret"
STATE_ENV = "FOUNDRY_DR_TRIGGER_STATE"
SCHEMA_ID = "azureMonitorCommonAlertSchema"
RUNBOOK = "cut-over"
MIN_SECRET_LENGTH = 16
MAX_BODY_BYTES = 256 * 1024  # common-schema payloads are a few KiB






def default_state_file() -> Path:
    return Path(os.environ.get(STATE_ENV) or Path.home() / ".foundry-dr" / "trigger-alerts.sqlite3")


def secret_from_env() -> str:
    secret = os.environ.get(SECRET_ENV, "")
    if len(secret) < MIN_SECRET_LENGTH:
        raise TriggerConfigError(
            f"{SECRET_ENV} must be set to a shared secret of at least {MIN_SECRET_LENGTH} characters "
            "(e.g. `openssl rand -hex 32`); the receiver does not start without it"
        )
    return secret


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


def create_app(secret: str, store: AlertStore, plan: str | None = None, start: Any = None) -> Any:
    """The FastAPI app. ``start(runbook, parameters, tags=, idempotency_key=)`` starts a run
    (default: :func:`foundry_dr.remote.start_deployment`); tests may pass their own."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    from foundry_dr import remote

    start = start or remote.start_deployment
    app = FastAPI(title="foundry-dr alert receiver", docs_url=None, redoc_url=None, openapi_url=None)
    expected = secret.encode()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/alerts")
    async def alerts(request: Request) -> JSONResponse:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return JSONResponse({"error": "payload too large"}, status_code=413)
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
            return JSONResponse({"error": f"could not start {RUNBOOK}: {type(exc).__name__}: {exc}"},
                                status_code=503)
        await run_in_threadpool(store.record_run, alert["alert_id"], str(flow_run.id))
        return JSONResponse(
            {"status": "started", "alert_id": alert["alert_id"], "started": True, "flow_run_id": str(flow_run.id),
             "awaiting_approval": True, "run_url": remote.run_url(flow_run.id)},
            status_code=202,
        )

    return app


def serve(host: str = "127.0.0.1", port: int = 8787, state_file: Path | None = None, plan: str | None = None) -> None:
    """Run the receiver until interrupted (uvicorn). Put TLS in front of it when exposed."""
    import uvicorn

    app = create_app(secret_from_env(), AlertStore(state_file or default_state_file()), plan=plan)
    uvicorn.run(app, host=host, port=port, log_level="info")
