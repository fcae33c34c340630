"""Client helper for applications: talk to whichever hub is active, never a hard-coded one.

The seed's advice is to avoid hard-coded hub or project references. Applications call::

    from foundry_dr.active import ActiveHub
    hub = ActiveHub.from_plan("plans/prod.yaml")
    ml = hub.ml_client("proj-chat")          # MLClient of the active side's project
    uri = hub.scoring_uri("churn-ep")        # scoring URI in the active region

The pointer is read from both regions' stores (``foundry_dr.stores.pointer``) and cached for
``cache_seconds``, so a cut-over reaches clients within that time. Reads fail closed: when a
store can't be read, :class:`~foundry_dr.errors.PointerUnavailable` is raised, unless the
caller accepts the last value it read up to ``max_stale_seconds`` old. It never falls back to a silent "primary".
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from foundry_dr.clients import ClientFactory
from foundry_dr.plan import Plan, load_plan
from foundry_dr.pointer import ActivePointer

if TYPE_CHECKING:
    from azure.ai.ml import MLClient


class ActiveHub:
    def __init__(self, plan: Plan, cache_seconds: float = 30.0, factory: ClientFactory | None = None,
                 max_stale_seconds: float | None = None) -> None:
        self.plan = plan
        self.cache_seconds = cache_seconds
        self.max_stale_seconds = max_stale_seconds
        self.factory = factory or ClientFactory(plan)
        self._lock = threading.Lock()
        self._cached: tuple[float, ActivePointer, str] | None = None

    @classmethod
    def from_plan(cls, path: str | Path, cache_seconds: float = 30.0) -> ActiveHub:
        return cls(load_plan(path), cache_seconds)

    def pointer(self, refresh: bool = False) -> ActivePointer:
        from foundry_dr.errors import PointerUnavailable
        from foundry_dr.stores.pointer import read_pointer

        with self._lock:
            if refresh or self._cached is None or time.monotonic() - self._cached[0] > self.cache_seconds:
                try:
                    pointer, source = read_pointer(self.factory)
                except PointerUnavailable:
                    if self.max_stale_seconds is None:
                        raise
                    if self._cached is not None and time.monotonic() - self._cached[0] <= self.max_stale_seconds:
                        return self._cached[1]  # the last value read, within the accepted age
                    raise
                self._cached = (time.monotonic(), pointer, source)
            return self._cached[1]

    @property
    def side(self) -> str:
        return self.pointer().active

    def ml_client(self, project: str | None = None) -> MLClient:
        """MLClient of the active side's hub, or of one of its projects."""
        p = self.pointer()
        if project is not None and project not in p.projects:
            raise KeyError(f"project {project!r} is not in the active hub {p.hub} (has {sorted(p.projects)})")
        return self.factory.ml_client(p.active, project)

    def scoring_uri(self, endpoint: str, project: str | None = None) -> str:
        """The endpoint's scoring URI in the active region (from the pointer, else asked live)."""
        p = self.pointer()
        if endpoint in p.scoring_uris:
            return p.scoring_uris[endpoint]
        projects = [project] if project else list(p.projects)
        for name in projects:
            try:
                return self.factory.ml_client(p.active, name).online_endpoints.get(endpoint).scoring_uri
            except Exception:  # noqa: BLE001 - try the next project
                continue
        raise KeyError(f"endpoint {endpoint!r} not found in the active hub {p.hub}")
