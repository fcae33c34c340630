"""Which failures are worth retrying, and how often each layer retries (the retry budget).

Retry throttling (429, 408), server errors (5xx) and connection errors; never retry a 4xx
misconfiguration (wrong permission, missing resource, bad request), which must fail at once
with its message (docs/runbooks.md). The classification uses azure-core's exception types.

The retry budget, in one place. Three layers retry, and their attempts multiply, so each
is kept small:

- SDK: every Azure client, :data:`SDK_RETRY` (1 + 6 attempts) and storage's :data:`STORAGE_RETRY`
  (1 + 5), exponential back-off, Retry-After honoured;
- task: Prefect's ``retries`` of each task, only for what :func:`retry_transient` calls
  transient, by one of the :class:`TaskBudget` rows below: :data:`TASK_BUDGET` (1 + 3, waits
  1/5/15 s) for most tasks, :data:`BULK_BUDGET` (1 + 3, waits 2/10/30 s) for the replication
  steps that list and copy a whole workspace or shard, :data:`APPLY_BUDGET` (1 + 2) for the
  deployment appliers whose SDK pollers already wait minutes, :data:`POINTER_BUDGET` (1 + 4,
  short waits) for the pointer write, which must land on the worst day;
- engine: inside a blob shard, a copy whose MD5 does not match is copied once more, an
  async copy that fails or stalls is restarted up to 3 times, and a source that changed
  between listing and copy is re-read up to 3 times (:mod:`foundry_dr.replication`); what
  still fails fails the shard's task, whose retry lists the shard again.

One request therefore gets at most 7 SDK attempts x 4 task attempts before its task fails:
minutes, never hours. State records read during an outage use
:data:`QUICK_RETRY` instead, so that a reader answers in seconds.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from azure.core.exceptions import (
    HttpResponseError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
)

from foundry_dr.errors import PermanentError, TransientError  # noqa: F401 - the classes retries read

# SDK layer: azure-core's RetryPolicy retries 408/429/500/502/503/504 and connection errors,
# and waits for Retry-After when the service sends it.
SDK_RETRY: dict[str, Any] = {
    "retry_total": 6,
    "retry_connect": 3,
    "retry_read": 3,
    "retry_status": 6,
    "retry_backoff_factor": 0.4,
    "retry_backoff_max": 20,
}
# Storage has its own policy (its default first back-off is 15 s; it throttles with 503 ServerBusy).
STORAGE_RETRY: dict[str, Any] = {"initial_backoff": 1, "increment_base": 2, "retry_total": 5}
# Reads of the pointer, lock and checkpoints during an outage: one quick retry.
QUICK_RETRY: dict[str, Any] = {"retry_total": 1}


class TaskBudget(NamedTuple):
    """Task layer: how often Prefect re-runs a failed task (only when :func:`retry_transient`
    says so) and the waits between attempts."""

    retries: int
    delays: list[int]


TASK_BUDGET = TaskBudget(3, [1, 5, 15])
BULK_BUDGET = TaskBudget(3, [2, 10, 30])
APPLY_BUDGET = TaskBudget(2, [2, 10])
POINTER_BUDGET = TaskBudget(4, [1, 2, 5, 10])
TRANSIENT_STATUS = {408, 429}


def status_of(exc: BaseException) -> int | None:
    """The HTTP status an SDK exception carries (``status_code`` or ``response.status_code``)."""
    status = getattr(exc, "status_code", None)
    if status is None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def _is_transient_one(exc: BaseException) -> bool | None:
    """True/False when this exception alone decides, None to look at its cause."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, PermanentError):
        return False
    # The request never got a whole answer: DNS, refused, reset, timeout, or a body cut short
    # (IncompleteReadError is an HttpResponseError that carries the 200 it was cut from).
    if isinstance(exc, ServiceRequestError | ServiceResponseError | IncompleteReadError):
        return True
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    status = exc.status_code if isinstance(exc, HttpResponseError) else status_of(exc)
    if status is not None:
        return status >= 500 or status in TRANSIENT_STATUS
    return None


def is_transient(exc: BaseException | None) -> bool:
    """Whether retrying ``exc`` may succeed: 429/408, 5xx, connection and timeout errors, or our
    ``TransientError``. Follows ``__cause__`` (``raise X from Y``) when ``exc`` itself is opaque."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        verdict = _is_transient_one(exc)
        if verdict is not None:
            return verdict
        exc = exc.__cause__
    return False


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry a failed task run only if its exception is transient."""
    try:
        state.result(raise_on_failure=True)
    except BaseException as exc:  # noqa: BLE001 - the state's exception is what we classify
        return is_transient(exc)
    return False
