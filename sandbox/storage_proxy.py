"""The storage proxy: a fault-injecting pass-through in front of Azurite.

Every storage account of the sandbox is reached at ``http://127.0.0.1:{storage}/{account}``.
The proxy forwards each request to Azurite unchanged -- method, raw path, query, headers
including ``Host`` (Azurite allows a cross-account server-side copy only when the copy
source's host equals the request's host; every account shares this origin, so it does) --
and streams both bodies, so Azurite's real semantics hold for every call that passes.
Before forwarding, :class:`~foundry_dr_sandbox.fault_middleware.FaultMiddleware` asks the shared
:class:`~foundry_dr_sandbox.faults.FaultEngine` whether the account's region is down, throttled or
due to fail, and logs every request (a client that leaves mid-request: 499).

It sits on the replication hot path (benchmarked against rclone), hence plain ASGI without a
router, a small pooled HTTP/1.1 client for the hop to Azurite (:mod:`foundry_dr_sandbox.upstream`; httpx
cost ~2.4 ms CPU per request there), small bodies sent in one piece and large ones streamed.

One Azure rule Azurite does not enforce is added here: synchronous Copy Blob From URL accepts
only a block blob as its source (see :meth:`StorageProxy._sync_copy_rejection`).
"""

from __future__ import annotations

import email.utils
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from foundry_dr_sandbox.asgi_utils import ClientGone, read_body
from foundry_dr_sandbox.config import SandboxConfig
from foundry_dr_sandbox.fault_middleware import FaultMiddleware
from foundry_dr_sandbox.faults import Decision, FaultEngine
from foundry_dr_sandbox.upstream import Pool, UpstreamError

SERVICE = "storage"
MAX_CONNECTIONS = 256  # the replicator runs 64+ concurrent transfers
SMALL_BODY = 256 * 1024  # bodies up to this size are read whole: cheaper than a stream

# Hop-by-hop headers (RFC 9110 7.6.1) are for one connection, not for the next hop. Azurite's
# Date/Server are dropped because uvicorn adds its own; duplicates would break date parsing.
_REQUEST_SKIP = {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"upgrade",
                 b"transfer-encoding", b"expect"}  # fmt: skip
_RESPONSE_SKIP = {
    b"connection",
    b"keep-alive",
    b"transfer-encoding",
    b"trailer",
    b"upgrade",
    b"date",
    b"server",
}

# Azure Storage throttles with 503 ServerBusy, never 429, and its SDK retries 5xx but not 429
# (azure.storage.blob._shared.policies.is_retry). Generic fault codes are mapped accordingly.
_STORAGE_CODES = {
    "TooManyRequests": (503, "ServerBusy"),
    "ServiceUnavailable": (503, "ServerBusy"),
    "InternalServerError": (500, "InternalError"),
}


def storage_error(decision: Decision) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of an Azure-Storage-shaped XML error for a fault decision."""
    status, code = _STORAGE_CODES.get(decision.code, (decision.status, decision.code))
    request_id = str(uuid.uuid4())
    message = f"{decision.message}\nRequestId:{request_id}\nTime:{email.utils.formatdate(usegmt=True)}"
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    ).encode()
    headers = [
        (b"content-type", b"application/xml"),
        (b"content-length", str(len(body)).encode()),
        (b"x-ms-error-code", code.encode()),
        (b"x-ms-request-id", request_id.encode()),
    ]
    headers += [(k.lower().encode(), str(v).encode()) for k, v in decision.headers.items()]
    return status, headers, body


class StorageProxy:
    """The ASGI app. The upstream pool is created lazily, inside the server's event loop."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._pool: Pool | None = None

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            self._pool = Pool("127.0.0.1", self.config.ports["azurite"], max_idle=MAX_CONNECTIONS)
        return self._pool

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # Faults and the request log: FaultMiddleware, around this app (create_storage_proxy_app).
        if scope["method"] == "PUT":
            rejection = await self._sync_copy_rejection(scope)
            if rejection is not None:
                await _send_error(send, rejection)
                return
        await self._forward(scope, receive, send)

    async def _sync_copy_rejection(self, scope: dict[str, Any]) -> Decision | None:
        """Copy Blob From URL (``x-ms-requires-sync: true``) of an append or page blob: Azure's 409.

        "The source for a Copy Blob From URL operation can be any committed block blob" -- Copy
        Blob From URL, https://learn.microsoft.com/rest/api/storageservices/copy-blob-from-url.
        Azure answers any other source type with 409 CannotVerifyCopySource "The copy source must
        be a block blob." (seen for append blobs in Azure/azure-sdk-for-go#20942 and for page
        blobs in Azure/azure-cli#13478). Azurite copies them instead, so the proxy looks the
        source's type up with one HEAD (its URL carries the caller's SAS) before forwarding.
        Only sync-copy PUTs pay for it; the asynchronous Copy Blob copies any type, as Azurite
        does. Anything but a clear AppendBlob/PageBlob answer -- a source outside this Azurite,
        a 403/404, Azurite unreachable -- forwards the request unchanged: Azurite's own error
        then. The source URL is never logged or echoed (its query is a SAS).
        """
        source: bytes | None = None
        sync = False
        version: bytes | None = None
        for name, value in scope["headers"]:  # ASGI header names are lower-case
            if name == b"x-ms-copy-source":
                source = value.strip()
            elif name == b"x-ms-requires-sync":
                sync = value.strip().lower() == b"true"
            elif name == b"x-ms-version":
                version = value
        if not sync or not source:
            return None
        target = self._local_blob_target(source)
        if target is None:
            return None
        host, path_query = target
        headers = [(b"host", host)] + ([(b"x-ms-version", version)] if version else [])
        try:
            response = await self.pool.request("HEAD", path_query, headers, None)
        except UpstreamError:
            return None
        try:
            async for _ in response.body():  # empty for a HEAD; lets the connection be pooled
                pass
        finally:
            response.release()
        if response.status != 200:
            return None
        blob_type = next((v for k, v in response.headers if k == b"x-ms-blob-type"), b"")
        if blob_type.lower() not in (b"appendblob", b"pageblob"):
            return None
        return Decision(409, "CannotVerifyCopySource", "The copy source must be a block blob.")

    def _local_blob_target(self, source: bytes) -> tuple[bytes, bytes] | None:
        """``(host, path?query)`` of a copy source served by this sandbox's Azurite, else None."""
        try:
            url = urlsplit(source)
            port = url.port
        except ValueError:
            return None
        local_ports = (self.config.ports["storage"], self.config.ports["azurite"])
        if url.scheme not in (b"http", b"https") or url.hostname not in (b"127.0.0.1", b"localhost"):
            return None
        if port not in local_ports or not url.path.startswith(b"/"):
            return None
        return url.netloc, url.path + (b"?" + url.query if url.query else b"")

    async def _forward(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Relay the request to Azurite and its answer back; nothing is sent if the client left."""
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string") or b""
        target = raw_path + (b"?" + query if query else b"")

        headers: list[tuple[bytes, bytes]] = []
        length: int | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = True
                continue  # the upstream client re-frames a body of unknown length
            if name not in _REQUEST_SKIP:
                headers.append((name, value))

        content: bytes | AsyncIterator[bytes] | None
        if chunked or (length is not None and length > SMALL_BODY):
            content = _request_body(receive)
        elif length:
            try:
                content = await read_body(receive)
            except ClientGone:
                return
        else:
            content = None

        try:
            response = await self.pool.request(scope["method"], target, headers, content)
        except UpstreamError as exc:
            await _bad_gateway(send, exc)
            return
        except ClientGone:
            return
        try:
            out = [(k, v) for k, v in response.headers if k not in _RESPONSE_SKIP]
            await send({"type": "http.response.start", "status": response.status, "headers": out})
            async for chunk in response.body():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            response.release()


async def _request_body(receive: Any) -> AsyncIterator[bytes]:
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        body = message.get("body", b"")
        if body:
            yield body
        more = message.get("more_body", False)


async def _send_error(send: Any, decision: Decision) -> None:
    status, headers, body = storage_error(decision)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _bad_gateway(send: Any, exc: Exception) -> None:
    """Azurite unreachable: answer like an unavailable storage front end (retryable 503)."""
    await _send_error(send, Decision(503, "ServiceUnavailable", f"Azurite is not reachable ({type(exc).__name__})."))


def create_storage_proxy_app(config: SandboxConfig, faults: FaultEngine) -> FaultMiddleware:
    """The ASGI app that ``foundry_dr_sandbox.server`` serves on the ``storage`` port (plain http):
    the proxy behind the fault middleware, which fails a request by its account's region."""

    def region(scope: dict[str, Any]) -> str | None:
        return config.account_region(scope["path"].lstrip("/").split("/", 1)[0])

    return FaultMiddleware(StorageProxy(config), faults, SERVICE, region, storage_error)
