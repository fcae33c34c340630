"""The fence of a fenced drill: no call may reach the primary.

A fenced drill rehearses the unplanned cut-over, the one that must work with the primary region
gone. Proving that it needs nothing from the primary means refusing, at the last moment before a
request leaves the process, every request aimed at the primary, and counting them: the drill
fails naming each refused call, and a passing report says "0 calls to the primary".

Why in the SDK pipeline and not around our own functions: every Azure call of every runbook goes
through a client the :class:`~foundry_dr.clients.ClientFactory` builds, so one azure-core
pipeline policy (``per_call_policies``, placed before the retry policy, so a refused call is not
retried) covers the management clients and MLClient, and the storage SDK's ``raw_request_hook``
(run by its request hook policy, for every request) covers blobs. A new task, a new client, a
new SDK operation is fenced without anyone remembering to.

What counts as the primary: an ARM id under the primary's subscription and resource group (the
resource group itself included), the primary's storage accounts, and the shared vault and
registry when the plan puts them in the primary's resource group (their ARM ids are under it;
their data planes are refused by endpoint).

The active fence is a context variable: the drill sets it, and every factory built under it (the
drill's own and those of the runbooks it calls as subflows, whose tasks run with a copy of the
context) fences its clients. Outside a drill nothing is fenced.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from azure.core.pipeline.policies import SansIOHTTPPolicy

from foundry_dr.errors import PermanentError

if TYPE_CHECKING:
    from azure.core.pipeline import PipelineRequest

    from foundry_dr.plan import Plan


class PrimaryFenced(PermanentError):
    """A fenced drill tried to call the primary: the unplanned path depends on it. Not an
    ``AzureError``, so no code that tolerates an unreachable primary swallows it, and no retry
    policy retries it."""


def describe_call(method: str, url: str) -> str:
    """``METHOD scheme://host/path``: the query is dropped (a SAS signature lives there)."""
    parts = urlsplit(url)
    return f"{method.upper()} {parts.scheme}://{parts.netloc}{parts.path}"


@dataclass
class Fence:
    """What is the primary, and the calls refused so far (thread-safe: tasks run in threads)."""

    plan_name: str
    arm_prefix: str  # "/subscriptions/<sub>/resourcegroups/<rg>", lower case
    calls: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def for_plan(cls, plan: Plan) -> Fence:
        p = plan.primary
        return cls(plan.name, f"/subscriptions/{p.subscription_id}/resourcegroups/{p.resource_group}".lower())

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.calls)

    def targets_primary(self, url: str) -> bool:
        """An ARM request whose path is the primary's resource group or anything under it."""
        path = unquote(urlsplit(url).path).lower().rstrip("/")
        return path == self.arm_prefix or path.startswith(self.arm_prefix + "/")

    def refuse(self, method: str, url: str, why: str) -> None:
        """Count the call, then raise :class:`PrimaryFenced` naming it."""
        call = describe_call(method, url)
        with self._lock:
            self.calls.append(call)
        raise PrimaryFenced(
            f"fenced drill of plan {self.plan_name}: refused {call} ({why}). The unplanned path must not "
            "need the primary: run this step from the checkpoint and the secondary's state."
        )

    def check(self, method: str, url: str, endpoint_is_primary: str | None = None) -> None:
        """Refuse the request if it targets the primary. ``endpoint_is_primary`` names the primary
        resource a data-plane client's whole endpoint belongs to (its every call is refused)."""
        if endpoint_is_primary:
            self.refuse(method, url, endpoint_is_primary)
        if self.targets_primary(url):
            self.refuse(method, url, "an ARM id under the primary's subscription and resource group")

    def policy(self, endpoint_is_primary: str | None = None) -> FencePolicy:
        return FencePolicy(self, endpoint_is_primary)

    def storage_hook(self, endpoint_is_primary: str | None = None) -> Any:
        """A ``raw_request_hook`` for azure-storage clients (they take no ``per_call_policies``)."""

        def hook(request: PipelineRequest) -> None:
            self.check(request.http_request.method, request.http_request.url, endpoint_is_primary)

        return hook

    def summary(self) -> str:
        """The line the drill report carries."""
        with self._lock:
            calls = list(self.calls)
        if not calls:
            return "0 calls to the primary"
        return f"{len(calls)} call(s) to the primary refused: " + "; ".join(calls)


class FencePolicy(SansIOHTTPPolicy):
    """azure-core policy: refuses (and counts) requests to the primary before they are sent."""

    def __init__(self, fence: Fence, endpoint_is_primary: str | None = None) -> None:
        super().__init__()
        self.fence = fence
        self.endpoint_is_primary = endpoint_is_primary

    def on_request(self, request: PipelineRequest) -> None:
        self.fence.check(request.http_request.method, request.http_request.url, self.endpoint_is_primary)


_ACTIVE: ContextVar[Fence | None] = ContextVar("foundry_dr_fence", default=None)


def current_fence(plan_name: str) -> Fence | None:
    """The fence in force for this plan in this context, if any."""
    fence = _ACTIVE.get()
    return fence if fence is not None and fence.plan_name == plan_name else None


@contextmanager
def fenced(plan: Plan, enabled: bool = True) -> Iterator[Fence | None]:
    """Fence the primary for the clients built inside (``enabled`` False: no fence, yields None)."""
    if not enabled:
        yield None
        return
    fence = Fence.for_plan(plan)
    token = _ACTIVE.set(fence)
    try:
        yield fence
    finally:
        _ACTIVE.reset(token)
