"""The Key Vault secrets data plane, as ``azure-keyvault-secrets``' ``SecretClient`` uses it.

The runbooks keep the *active hub* pointer in a shared vault, so set/get/list versions must be
real, and deletion behaves like a vault with soft delete on (delete, get deleted, recover,
purge). The vault sits at the root of its own origin (``config.keyvault_uri``): the SDK
rejects secret ids that are not ``https://HOST[:PORT]/secrets/NAME/VERSION``.

Authentication follows Key Vault's challenge: a request without a valid token gets 401 with a
``WWW-Authenticate`` header naming the sandbox authority; the client then fetches a token for
``https://vault.azure.net/.default`` and retries. The reader principal may read, not write.

Faults: a vault fails over by itself in Azure, so an outage of the vault's region
(``VAULT_REGION``, any mode) does not make it unreachable: it makes it *read-only*, as Azure's
vault is while it runs failed over in the paired region. Reads (get/list secrets, versions and
deleted secrets) still answer; writes (set, update, delete, purge, recover, restore) answer 503
``ServiceUnavailable`` "Operation "SecretSet" is unavailable: the service is currently in a
read-only state." (see ``_read_only`` for the sources). The control document
``{"vault_read_only": true}`` makes the vault read-only without an outage; heal clears both.
Not modelled: the phase before Microsoft starts the failover, when the vault may be unreachable
for hours (emulate it with a fail-nth rule on service ``keyvault``). Throttling, latency and
fail-nth are applied as usual (service ``keyvault``). Note that azure-core retries a 503 (PUT and
DELETE, and POST/PATCH too) up to 10 times with exponential backoff, so a write during read-only
mode fails only after minutes unless the client is built with fewer retries.

State is a sqlite file, so a restart keeps the secrets.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from foundry_dr_sandbox.asgi_utils import read_body
from foundry_dr_sandbox.config import SandboxConfig
from foundry_dr_sandbox.fault_middleware import FaultMiddleware, Headers, set_principal
from foundry_dr_sandbox.faults import Decision, FaultEngine
from foundry_dr_sandbox.tokens import Caller, verify_authorization

SERVICE = "keyvault"
VAULT_REGION = "eastus"  # where the shared vault lives (the plan's primary); an outage there = read-only
AUDIENCE = "https://vault.azure.net"
RECOVERABLE_DAYS = 90
PAGE_SIZE = 25  # Key Vault's maximum maxresults
_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_WRITES = {"PUT", "PATCH", "DELETE", "POST"}


class KvError(Exception):
    """A Key Vault error answer: ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str, inner: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.inner = status, code, message, inner

    def body(self) -> dict:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner:
            error["innererror"] = {"code": self.inner}
        return {"error": error}


def _not_found(name: str) -> KvError:
    return KvError(
        404,
        "SecretNotFound",
        f"A secret with (name/id) {name} was not found in this key vault. If you recently deleted this "
        "secret you may be able to recover it using the correct recovery command.",
    )


def _deleted_not_found(name: str) -> KvError:
    return KvError(404, "SecretNotFound", f"Deleted Secret not found: {name}")


# Read-only mode while the vault is failed over.
# Source (what is documented): learn.microsoft.com, "Azure Key Vault availability and redundancy",
# section "Failover across regions" (https://learn.microsoft.com/azure/key-vault/general/disaster-recovery-guidance):
# "During failover, your key vault is in read-only mode. The following operations are supported in
# read-only mode: List certificates, Get certificates, List secrets, Get secrets, List keys, Get
# (properties of) keys, Encrypt, Decrypt, Wrap, Unwrap, Verify, Sign, Backup"; and "After a failover is
# failed back, all request types (including read and write requests) are available." The same list is
# in "Reliability in Azure Key Vault" (learn.microsoft.com/azure/reliability/reliability-key-vault),
# "Microsoft-managed failover to a paired region" > "Considerations". Neither page gives the HTTP
# status or error code of a refused write.
# Inferred (from what users reported, not from Microsoft docs): on 2023-03-08 a secret write logged
# "Operation returned an invalid status code 'ServiceUnavailable' / Code: ServiceUnavailable / Message:
# Operation "SecretSet" is unavailable: the service is currently in a read-only state."
# (github.com/MSEndpointMgr/CloudLAPS/issues/70), i.e. HTTP 503 with that error code and message; on
# 2023-03-06 `az keyvault secret set` failed with 503 while the portal said "KeyVault is in read only
# mode" (github.com/Azure/azure-cli/issues/25693). So: 503 + "ServiceUnavailable" for every refused
# write; the other operation names (SecretUpdate, SecretDelete, ...) follow Key Vault's logging names
# and are our extrapolation from "SecretSet". Whether Azure sends Retry-After is unknown: none is sent.
_READ_ONLY_OPS = {
    ("PUT", "secrets"): "SecretSet",
    ("PATCH", "secrets"): "SecretUpdate",
    ("DELETE", "secrets"): "SecretDelete",
    ("DELETE", "deletedsecrets"): "SecretPurge",
    ("POST", "deletedsecrets"): "SecretRecover",
    ("POST", "secrets"): "SecretRestore",  # POST /secrets/restore (backup, also a POST, is allowed)
}


def _read_only(method: str, parts: list[str]) -> KvError | None:
    """The refusal of a write while the vault is read-only; None for a request it still serves."""
    if method not in _WRITES:
        return None
    if method == "POST" and parts[-1:] == ["backup"]:
        return None  # "Backup" is in the documented list of operations read-only mode supports
    operation = _READ_ONLY_OPS.get((method, parts[0] if parts else ""), "Secret" + method.title())
    return KvError(
        503,
        "ServiceUnavailable",
        f'Operation "{operation}" is unavailable: the service is currently in a read-only state.',
    )


class SecretStore:
    """Secrets and their versions in sqlite. Names are case-insensitive, as in Key Vault.

    Used from the event loop thread only (the handlers are not run in a thread pool).
    """

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(
            """
            CREATE TABLE IF NOT EXISTS versions (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL COLLATE NOCASE,
                version TEXT NOT NULL,
                value TEXT NOT NULL,
                content_type TEXT,
                tags TEXT,
                enabled INTEGER NOT NULL DEFAULT 1,
                nbf INTEGER,
                exp INTEGER,
                created INTEGER NOT NULL,
                updated INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS versions_name ON versions(name);
            CREATE TABLE IF NOT EXISTS deleted (
                name TEXT PRIMARY KEY COLLATE NOCASE,
                deleted_date INTEGER NOT NULL,
                scheduled_purge INTEGER NOT NULL
            );
            """
        )

    def is_deleted(self, name: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM deleted WHERE name=?", (name,)).fetchone()

    def latest(self, name: str) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT * FROM versions WHERE name=? ORDER BY seq DESC LIMIT 1", (name,)
        ).fetchone()

    def version(self, name: str, version: str) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT * FROM versions WHERE name=? AND version=?", (name, version.lower())
        ).fetchone()

    def versions(self, name: str) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM versions WHERE name=? ORDER BY seq", (name,)).fetchall()

    def names(self, deleted: bool) -> list[sqlite3.Row]:
        """Latest version of each live (or soft-deleted) secret, by name."""
        op = "IN" if deleted else "NOT IN"
        return self.db.execute(
            f"""SELECT v.* FROM versions v
                JOIN (SELECT name, MAX(seq) AS seq FROM versions GROUP BY name) m ON v.seq = m.seq
                WHERE v.name {op} (SELECT name FROM deleted) ORDER BY v.name"""
        ).fetchall()

    def add(self, name: str, body: dict) -> sqlite3.Row:
        attrs = body.get("attributes") or {}
        now = int(time.time())
        existing = self.latest(name)
        stored_name = existing["name"] if existing else name  # keep the first spelling
        self.db.execute(
            """INSERT INTO versions (name, version, value, content_type, tags, enabled, nbf, exp,
                                     created, updated) VALUES (?,?,?,?,?,?,?,?,?,?)""",
            (
                stored_name,
                uuid.uuid4().hex,
                body["value"],
                body.get("contentType"),
                json.dumps(body["tags"]) if body.get("tags") is not None else None,
                1 if attrs.get("enabled", True) else 0,
                attrs.get("nbf"),
                attrs.get("exp"),
                now,
                now,
            ),
        )
        row = self.latest(name)
        assert row is not None
        return row

    def update(self, row: sqlite3.Row, body: dict) -> sqlite3.Row:
        attrs = body.get("attributes") or {}
        fields = {
            "content_type": body.get("contentType", row["content_type"]),
            "tags": json.dumps(body["tags"]) if "tags" in body else row["tags"],
            "enabled": (1 if attrs["enabled"] else 0) if "enabled" in attrs else row["enabled"],
            "nbf": attrs.get("nbf", row["nbf"]),
            "exp": attrs.get("exp", row["exp"]),
            "updated": int(time.time()),
        }
        sets = ", ".join(f"{k}=?" for k in fields)
        self.db.execute(f"UPDATE versions SET {sets} WHERE seq=?", (*fields.values(), row["seq"]))
        return self.db.execute("SELECT * FROM versions WHERE seq=?", (row["seq"],)).fetchone()

    def delete(self, name: str) -> sqlite3.Row:
        now = int(time.time())
        self.db.execute(
            "INSERT INTO deleted (name, deleted_date, scheduled_purge) VALUES (?,?,?)",
            (name, now, now + RECOVERABLE_DAYS * 86400),
        )
        row = self.is_deleted(name)
        assert row is not None
        return row

    def purge(self, name: str) -> None:
        self.db.execute("DELETE FROM versions WHERE name=?", (name,))
        self.db.execute("DELETE FROM deleted WHERE name=?", (name,))

    def recover(self, name: str) -> None:
        self.db.execute("DELETE FROM deleted WHERE name=?", (name,))


class KeyVaultApp:
    """The ASGI app (behind FaultMiddleware, which applies faults): the auth challenge, then a small
    hand-written router."""

    def __init__(self, config: SandboxConfig, faults: FaultEngine, region: str = VAULT_REGION) -> None:
        self.config = config
        self.faults = faults
        self.region = region  # the vault's home region: its outage makes the vault read-only
        self.base = config.keyvault_uri.rstrip("/")
        config.dir.mkdir(parents=True, exist_ok=True)
        self.store = SecretStore(config.dir / "keyvault.sqlite")
        self.challenge = (
            f'Bearer authorization="{config.authority}/{config.tenant_id}", resource="{AUDIENCE}"'
        )

    # ---- ASGI ------------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # Faults and the request log: FaultMiddleware, around this app (create_keyvault_app).
        method: str = scope["method"]
        path: str = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        caller = verify_authorization(self.config, headers.get("authorization"))
        set_principal(scope, caller.principal if caller else None)
        status, body, extra = 200, None, {}
        try:
            if caller is None or not caller.audience.startswith(AUDIENCE):
                extra = {"WWW-Authenticate": self.challenge}
                raise KvError(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
            raw = await read_body(receive, partial_on_disconnect=True)
            status, body = self.route(
                method, path, parse_qs(scope.get("query_string", b"").decode()), raw, caller
            )
        except KvError as err:
            status, body = err.status, err.body()
        await _send_json(send, status, body, extra)

    # ---- routing ---------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict, raw: bytes, caller: Caller) -> tuple[int, Any]:
        if not query.get("api-version"):
            raise KvError(400, "BadParameter", "The request URI contains an invalid or missing api-version.")
        if method in _WRITES and caller.role != "Owner":
            raise KvError(
                403,
                "Forbidden",
                f"Caller is not authorized to perform action on resource. Caller: appid={caller.client_id};"
                f"oid={caller.object_id}; Assignment: (not found); DecisionReason: 'DeniedWithNoValidRBAC'.",
                inner="ForbiddenByRbac",
            )
        parts = [p for p in path.split("/") if p]
        if self.faults.vault_is_read_only(self.region):
            refusal = _read_only(method, parts)
            if refusal is not None:
                raise refusal
        body = _json(raw) if raw else {}
        skip = int(query.get("$skiptoken", ["0"])[0] or 0)
        size = max(1, min(PAGE_SIZE, int(query.get("maxresults", [PAGE_SIZE])[0])))
        page = (skip, size, query["api-version"][0])
        match method, parts:
            case "GET", ["secrets"]:
                return 200, self.list_secrets(page)
            case "PUT", ["secrets", name]:
                return 200, self.set_secret(name, body)
            case "GET", ["secrets", name]:
                return 200, self.get_secret(name, None)
            case "GET", ["secrets", name, "versions"]:
                return 200, self.list_versions(name, page)
            case "GET", ["secrets", name, version]:
                return 200, self.get_secret(name, version)
            case "PATCH", ["secrets", name, *version]:
                return 200, self.update_secret(name, version[0] if version else None, body)
            case "DELETE", ["secrets", name]:
                return 200, self.delete_secret(name)
            case "GET", ["deletedsecrets"]:
                return 200, self.list_deleted(page)
            case "GET", ["deletedsecrets", name]:
                return 200, self.get_deleted(name)
            case "DELETE", ["deletedsecrets", name]:
                self._deleted_row(name)
                self.store.purge(name)
                return 204, None
            case "POST", ["deletedsecrets", name, "recover"]:
                self._deleted_row(name)
                self.store.recover(name)
                return 200, self.bundle(self._live_row(name, None))
        raise KvError(400, "BadParameter", f"The sandbox vault does not support {method} {path}.")

    # ---- operations ------------------------------------------------------------------------
    def set_secret(self, name: str, body: dict) -> dict:
        _check_name(name)
        if not isinstance(body.get("value"), str):
            raise KvError(400, "BadParameter", "Property 'value' is required and must be a string.")
        if self.store.is_deleted(name):
            raise KvError(
                409,
                "Conflict",
                f"Secret {name} is currently in a deleted but recoverable state, and its name cannot be "
                "reused; in this state, the secret can only be recovered or purged.",
            )
        return self.bundle(self.store.add(name, body))

    def get_secret(self, name: str, version: str | None) -> dict:
        row = self._live_row(name, version)
        if not row["enabled"]:
            raise KvError(
                403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled"
            )
        return self.bundle(row)

    def update_secret(self, name: str, version: str | None, body: dict) -> dict:
        row = self._live_row(name, version)
        return self.bundle(self.store.update(row, body), with_value=False)

    def delete_secret(self, name: str) -> dict:
        row = self._live_row(name, None)
        self.store.delete(name)
        return self.deleted_bundle(row)

    def get_deleted(self, name: str) -> dict:
        self._deleted_row(name)
        row = self.store.latest(name)
        assert row is not None
        return self.deleted_bundle(row)

    def list_secrets(self, page: tuple[int, int, str]) -> dict:
        items = [self.item(r, versioned=False) for r in self.store.names(deleted=False)]
        return self._page(items, page, "secrets")

    def list_versions(self, name: str, page: tuple[int, int, str]) -> dict:
        rows = [] if self.store.is_deleted(name) else self.store.versions(name)
        return self._page([self.item(r, versioned=True) for r in rows], page, f"secrets/{name}/versions")

    def list_deleted(self, page: tuple[int, int, str]) -> dict:
        items = []
        for row in self.store.names(deleted=True):
            item = self.item(row, versioned=False)
            item.update(self._deleted_fields(row["name"]))
            items.append(item)
        return self._page(items, page, "deletedsecrets")

    # ---- helpers ---------------------------------------------------------------------------
    def _live_row(self, name: str, version: str | None) -> sqlite3.Row:
        if self.store.is_deleted(name):
            raise _not_found(name)
        row = self.store.version(name, version) if version else self.store.latest(name)
        if row is None:
            raise _not_found(name)
        return row

    def _deleted_row(self, name: str) -> sqlite3.Row:
        row = self.store.is_deleted(name)
        if row is None:
            raise _deleted_not_found(name)
        return row

    def _page(self, items: list[dict], page: tuple[int, int, str], what: str) -> dict:
        skip, size, api_version = page
        doc: dict[str, Any] = {"value": items[skip : skip + size], "nextLink": None}
        if skip + size < len(items):
            doc["nextLink"] = (
                f"{self.base}/{what}?api-version={api_version}&$skiptoken={skip + size}&maxresults={size}"
            )
        return doc

    def attributes(self, row: sqlite3.Row) -> dict:
        attrs: dict[str, Any] = {
            "enabled": bool(row["enabled"]),
            "created": row["created"],
            "updated": row["updated"],
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": RECOVERABLE_DAYS,
        }
        for key in ("nbf", "exp"):
            if row[key] is not None:
                attrs[key] = row[key]
        return attrs

    def item(self, row: sqlite3.Row, versioned: bool) -> dict:
        sid = f"{self.base}/secrets/{row['name']}" + (f"/{row['version']}" if versioned else "")
        doc: dict[str, Any] = {"id": sid, "attributes": self.attributes(row)}
        if row["content_type"] is not None:
            doc["contentType"] = row["content_type"]
        if row["tags"] is not None:
            doc["tags"] = json.loads(row["tags"])
        return doc

    def bundle(self, row: sqlite3.Row, with_value: bool = True) -> dict:
        doc = self.item(row, versioned=True)
        if with_value:
            doc["value"] = row["value"]
        return doc

    def _deleted_fields(self, name: str) -> dict:
        d = self.store.is_deleted(name)
        assert d is not None
        return {
            "recoveryId": f"{self.base}/deletedsecrets/{d['name']}",
            "deletedDate": d["deleted_date"],
            "scheduledPurgeDate": d["scheduled_purge"],
        }

    def deleted_bundle(self, row: sqlite3.Row) -> dict:
        doc = self.bundle(row, with_value=False)
        doc.update(self._deleted_fields(row["name"]))
        return doc


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise KvError(
            400,
            "BadParameter",
            f"The request URI contains an invalid name: {name}. Follow this link for more information on "
            "naming: https://aka.ms/keyvaultnaming",
        )


def _json(raw: bytes) -> dict:
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise KvError(400, "BadParameter", "The request body is not valid JSON.") from exc
    if not isinstance(doc, dict):
        raise KvError(400, "BadParameter", "The request body must be a JSON object.")
    return doc


def _json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Headers, bytes]:
    payload = b"" if body is None else json.dumps(body).encode()
    out = [(b"content-length", str(len(payload)).encode())]
    if body is not None:
        out.append((b"content-type", b"application/json; charset=utf-8"))
    out += [(k.lower().encode(), str(v).encode()) for k, v in (headers or {}).items()]
    return status, out, payload


async def _send_json(send: Any, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    status, out, payload = _json_answer(status, body, headers)
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": payload})


def _fault_answer(decision: Decision) -> tuple[int, Headers, bytes]:
    """A Key Vault error answer for an injected fault (throttling, fail-nth)."""
    error = KvError(decision.status, decision.code, decision.message)
    return _json_answer(decision.status, error.body(), decision.headers)


def create_keyvault_app(config: SandboxConfig, faults: FaultEngine, region: str = VAULT_REGION) -> FaultMiddleware:
    """The ASGI app that ``foundry_dr_sandbox.server`` serves over HTTPS on the ``keyvault`` port.

    An outage does not take the vault down (``outage_takes_down=False``): it makes it read-only,
    which :meth:`KeyVaultApp.route` applies; throttling/latency/fail-nth are applied by the
    middleware. Requests are logged under the vault's home region."""
    app = KeyVaultApp(config, faults, region)
    return FaultMiddleware(app, faults, SERVICE, lambda _scope: region, _fault_answer, outage_takes_down=False)
