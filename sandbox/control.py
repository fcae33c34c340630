"""The one client of the sandbox's control API (``{control_endpoint}/...`` on the ARM port).

The control API (faults, heal, request log, settings, registry contents, health) is served by
:mod:`foundry_dr_sandbox.arm.app` over HTTPS with the sandbox's own CA; the CLI, the seeder,
the lifecycle's readiness check, tests and benchmarks all reach it through :class:`Control`.
"""

from __future__ import annotations

from typing import Any

import httpx

from foundry_dr_sandbox.config import SandboxConfig


class Control:
    """Call the control API of one sandbox. Errors: ``httpx.TransportError`` when the sandbox
    is not running, ``httpx.HTTPStatusError`` when it answers 4xx/5xx."""

    def __init__(self, config: SandboxConfig, timeout: float = 30) -> None:
        self.config = config
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        """``method {control_endpoint}{path}`` with a JSON body; the decoded answer (None if empty)."""
        with httpx.Client(
            verify=str(self.config.ca_path), timeout=timeout or self.timeout, trust_env=False
        ) as client:
            resp = client.request(method, f"{self.config.control_endpoint}{path}", json=body)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    __call__ = request

    # ---- the documented routes -------------------------------------------------------------
    def healthy(self, timeout: float = 2.0) -> bool:
        try:
            self.request("GET", "/health", timeout=timeout)
            return True
        except (httpx.HTTPError, OSError, ValueError):
            return False

    def faults(self, spec: dict | None = None) -> dict:
        """The fault state; with ``spec``, apply it first (see ``FaultEngine.apply``)."""
        return self.request("GET", "/faults") if spec is None else self.request("POST", "/faults", spec)

    def heal(self) -> None:
        self.request("POST", "/heal")

    def requests(self) -> list[dict]:
        return self.request("GET", "/requests") or []

    def clear_requests(self) -> None:
        self.request("DELETE", "/requests")

    def put_settings(self, values: dict) -> Any:
        return self.request("PUT", "/settings", values)
