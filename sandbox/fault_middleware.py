"""One ASGI middleware for the fault prelude and the request log of the plain-ASGI fronts.

The Key Vault data plane and the storage proxy are plain ASGI apps. Both are wrapped in
:class:`FaultMiddleware`, which, for every HTTP request:

1. asks the shared :class:`~foundry_dr_sandbox.faults.FaultEngine` (:meth:`~FaultEngine.decide`:
   injected latency, then outage / fail-nth / throttling) whether the request must fail;
2. if so, logs it and either resets the TCP connection (an outage in mode ``reset``, logged
   with status 0) or answers with the front's own error shape (``render``) -- the app is not
   called;
3. otherwise calls the app and logs the status it answered with (the ``status`` of its
   ``http.response.start``), or :data:`CLIENT_CLOSED` when it answered nothing because the
   client went away. An app that knows the caller names it with :func:`set_principal`.

A request whose app raises is not logged (as before: the server answers it 500 itself).

Where this comes from: fault injection is the sandbox's test mechanism, not Azure behaviour --
Azure has no switch that fails the nth request. What a fault *looks like* to the SDK is Azure's:
each front renders its own documented error shape (the storage proxy: Storage's XML ``<Error>``
with ``ServerBusy`` 503, learn.microsoft.com "Blob Storage error codes" / "Common REST API error
codes"; the Key Vault data plane: its JSON ``{"error": {"code", "message"}}`` with 429 on
throttling, learn.microsoft.com "Azure Key Vault throttling guidance"), and an outage in ``reset``
mode drops the TCP connection, which is what a client sees of an unreachable region. 499
(:data:`CLIENT_CLOSED`) is a log value only (nginx's convention); no client ever receives it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from foundry_dr_sandbox.asgi_utils import abort_connection
from foundry_dr_sandbox.faults import Decision, FaultEngine

CLIENT_CLOSED = 499  # logged when the client disconnects mid-request (nginx's convention)
_PRINCIPAL = "foundry_dr_sandbox.principal"  # scope key an app sets to log who called

Headers = list[tuple[bytes, bytes]]
Render = Callable[[Decision], tuple[int, Headers, bytes]]  # a fault -> status, headers, body


def set_principal(scope: dict[str, Any], principal: str | None) -> None:
    """Name the caller of this request in the request log (``principal``)."""
    scope[_PRINCIPAL] = principal


class FaultMiddleware:
    """Fault injection in front of ``app``, and one request-log line per request.

    ``region(scope)`` is the region the request is logged under and, unless
    ``outage_takes_down`` is False, the region whose outage fails it. With False, faults are
    decided with no region -- an outage does not make this front unreachable (the Key Vault
    fails over and turns read-only instead, which the app applies) -- while throttling, latency
    and fail-nth rules without a region still apply.
    """

    def __init__(
        self,
        app: Callable[..., Any],
        faults: FaultEngine,
        service: str,
        region: Callable[[dict[str, Any]], str | None],
        render: Render,
        outage_takes_down: bool = True,
    ) -> None:
        self.app = app
        self.faults = faults
        self.service = service
        self.region = region
        self.render = render
        self.outage_takes_down = outage_takes_down

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # lifespan/websocket: nothing to do
        method: str = scope["method"]
        path: str = scope["path"]
        region = self.region(scope)
        arrived = time.time()

        decision = await self.faults.decide(self.service, region if self.outage_takes_down else None, method, path)
        if decision is not None:
            if decision.reset:
                self.faults.record(self.service, region, method, path, 0)
                await abort_connection(receive)
                return
            status, headers, body = self.render(decision)
            self.faults.record(self.service, region, method, path, status)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return

        answered: list[int] = []

        async def send_and_note(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answered.append(message["status"])
            await send(message)

        await self.app(scope, receive, send_and_note)
        status = answered[0] if answered else CLIENT_CLOSED
        self.faults.record(self.service, region, method, path, status, scope.get(_PRINCIPAL), at=arrived)


async def route_fault(faults: FaultEngine, service: str, region: str | None, request: Any,
                      render: Callable[[Decision], Any]) -> Any | None:
    """The same prelude for a FastAPI route that is its own front (scoring, inference): None when
    the request goes on, else the answer -- ``render(decision)``, or a reset connection."""
    from fastapi.responses import Response

    method, path = request.method, request.url.path
    decision = await faults.decide(service, region, method, path)
    if decision is None:
        return None
    faults.record(service, region, method, path, 0 if decision.reset else decision.status)
    if decision.reset:
        await abort_connection(request.receive)
        return Response(status_code=503)
    return render(decision)
