"""Which failures are worth retrying: the one predicate every task's ``retry_condition_fn`` uses.

DESIGN.md section 4: retry throttling (429), server errors (5xx) and connection errors; never
retry a 4xx misconfiguration (wrong permission, missing resource, bad request), which must fail
at once with its message. Pure: it inspects exceptions duck-typed (``status_code``, class names
in the MRO), so it needs no Azure SDK import and is trivially unit-tested.
"""

from __future__ import annotations

from typing import Any

# azure.core.exceptions: the request never got an answer (DNS, refused, reset, timeout).
_TRANSIENT_CLASS_NAMES = {
    "ServiceRequestError",
    "ServiceResponseError",
    "ServiceRequestTimeoutError",
    "ServiceResponseTimeoutError",
    "IncompleteReadError",
}
TRANSIENT_STATUS = {408, 429}


class TransientError(Exception):
    """Raised by our own code for a failure that a retry may fix (e.g. a shard in which some
    blobs failed with throttling or 5xx after the SDK's own retries)."""


class PermanentError(Exception):
    """Raised by our own code for a failure that a retry will not fix (e.g. a verification
    mismatch that persisted after a re-copy, or a 403 on the destination)."""


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
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _TRANSIENT_CLASS_NAMES:
        return True
    status = status_of(exc)
    if status is not None:
        return status >= 500 or status in TRANSIENT_STATUS
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
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
