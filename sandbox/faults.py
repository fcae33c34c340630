"""Fault injection and the request log, shared by every front of the sandbox.

The ARM emulator, the Key Vault data plane, the scoring endpoints and the storage proxy all
run in one process and call :meth:`FaultEngine.decide` before serving a request and
:meth:`FaultEngine.record` after. Faults are set through the control API (``/_sandbox/faults``).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class FailNth:
    """Fail the ``n``-th request (counted from when the rule was set) that matches."""

    n: int
    status: int = 500
    code: str = "InternalServerError"
    service: str | None = None  # arm | storage | keyvault | scoring
    method: str | None = None
    path_contains: str | None = None
    region: str | None = None
    seen: int = 0
    fired: bool = False

    def matches(self, service: str, region: str | None, method: str, path: str) -> bool:
        return (
            (self.service is None or self.service == service)
            and (self.method is None or self.method.upper() == method.upper())
            and (self.path_contains is None or self.path_contains.lower() in path.lower())
            and (self.region is None or self.region == region)
        )


@dataclass
class FaultState:
    outages: dict[str, str] = field(default_factory=dict)  # region -> "503" | "reset"
    throttle_rate: float = 0.0
    throttle_retry_after: int = 1
    throttle_service: str | None = None
    latency_ms: int = 0
    fail_nth: list[FailNth] = field(default_factory=list)
    vault_read_only: bool = False  # the Key Vault answers reads only (as while it is failed over)


@dataclass
class Decision:
    """What to do with a request instead of serving it."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # drop the connection instead of answering


class FaultEngine:
    def __init__(self, log_path: Path | None = None, seed: int | None = None) -> None:
        self.state = FaultState()
        self._lock = threading.Lock()
        self._log_path = log_path
        self._rng = random.Random(seed)

    # ---- control -------------------------------------------------------------------------
    def set_outage(self, region: str, down: bool = True, mode: str = "503") -> None:
        with self._lock:
            if down:
                self.state.outages[region] = mode
            else:
                self.state.outages.pop(region, None)

    def set_throttle(self, rate: float, retry_after: int = 1, service: str | None = None) -> None:
        with self._lock:
            self.state.throttle_rate = max(0.0, min(1.0, rate))
            self.state.throttle_retry_after = retry_after
            self.state.throttle_service = service

    def set_latency(self, ms: int) -> None:
        with self._lock:
            self.state.latency_ms = max(0, ms)

    def add_fail_nth(self, rule: FailNth) -> None:
        with self._lock:
            self.state.fail_nth.append(rule)

    def set_vault_read_only(self, on: bool = True) -> None:
        with self._lock:
            self.state.vault_read_only = on

    def vault_is_read_only(self, region: str | None) -> bool:
        """Whether the Key Vault hosted in ``region`` must refuse writes: the control is set, or
        that region is down (the vault has failed over to its pair, read-only; see keyvault_data)."""
        with self._lock:
            return self.state.vault_read_only or (region is not None and region in self.state.outages)

    def heal(self) -> None:
        with self._lock:
            self.state = FaultState()

    def describe(self) -> dict:
        with self._lock:
            return asdict(self.state)

    def apply(self, spec: dict) -> dict:
        """Apply a control document: {"outage": {...}, "throttle": {...}, "latency_ms": N, "fail_nth": {...},
        "vault_read_only": bool}."""
        if "heal" in spec and spec["heal"]:
            self.heal()
        if "outage" in spec:
            o = spec["outage"]
            self.set_outage(o["region"], bool(o.get("down", True)), o.get("mode", "503"))
        if "throttle" in spec:
            t = spec["throttle"]
            self.set_throttle(float(t.get("rate", 0)), int(t.get("retry_after", 1)), t.get("service"))
        if "latency_ms" in spec:
            self.set_latency(int(spec["latency_ms"]))
        if "fail_nth" in spec:
            self.add_fail_nth(FailNth(**spec["fail_nth"]))
        if "vault_read_only" in spec:
            self.set_vault_read_only(bool(spec["vault_read_only"]))
        return self.describe()

    # ---- per request ---------------------------------------------------------------------
    async def decide(self, service: str, region: str | None, method: str, path: str) -> Decision | None:
        """Sleep for injected latency, then say whether the request must fail (and how)."""
        latency = self.state.latency_ms
        if latency:
            await asyncio.sleep(latency / 1000)
        return self.decide_now(service, region, method, path)

    def decide_now(self, service: str, region: str | None, method: str, path: str) -> Decision | None:
        with self._lock:
            st = self.state
            if region and region in st.outages:
                mode = st.outages[region]
                return Decision(
                    503,
                    "ServiceUnavailable",
                    f"The region '{region}' is unavailable (sandbox outage).",
                    reset=(mode == "reset"),
                )
            for rule in st.fail_nth:
                if not rule.fired and rule.matches(service, region, method, path):
                    rule.seen += 1
                    if rule.seen == rule.n:
                        rule.fired = True
                        return Decision(rule.status, rule.code, f"Injected failure of call #{rule.n}.")
            if (
                st.throttle_rate > 0
                and (st.throttle_service is None or st.throttle_service == service)
                and self._rng.random() < st.throttle_rate
            ):
                return Decision(
                    429,
                    "TooManyRequests",
                    "Too many requests (sandbox throttling).",
                    headers={"Retry-After": str(st.throttle_retry_after)},
                )
        return None

    # ---- request log ---------------------------------------------------------------------
    def record(
        self,
        service: str,
        region: str | None,
        method: str,
        path: str,
        status: int,
        principal: str | None = None,
        extra: dict | None = None,
        at: float | None = None,
    ) -> None:
        """Append one line to the request log (no query strings: they may carry SAS tokens).
        ``extra`` adds fields a service knows to be safe (the ARM front: ``api_version``, ``body``).
        ``at`` is when the request arrived: a front that records after answering passes it, since
        the client may act on the answer before this line is written."""
        if self._log_path is None:
            return
        entry = {
            "t": int((time.time() if at is None else at) * 1000) / 1000,  # floored: never later than the request
            "service": service,
            "region": region,
            "method": method,
            "path": path.split("?", 1)[0],
            "status": status,
            "principal": principal,
            **(extra or {}),
        }
        line = json.dumps(entry) + "\n"
        with self._lock, open(self._log_path, "a") as fh:
            fh.write(line)

    def read_log(self) -> list[dict]:
        if self._log_path is None or not self._log_path.exists():
            return []
        with self._lock:
            lines = self._log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def clear_log(self) -> None:
        if self._log_path is not None:
            with self._lock:
                self._log_path.write_text("")
