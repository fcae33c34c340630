"""Every exception foundry-dr raises on purpose: one tree, one base, each with its exit code.

The CLI exits with ``exc.exit_code`` (foundry_dr/exit_codes.py) for any :class:`FoundryDrError`;
anything else is a bug or an unexpected Azure failure (exit 1 with its message). Retry
decisions read :class:`TransientError` / :class:`PermanentError` (foundry_dr/retry.py).

    FoundryDrError                      exit 1 unless the class says otherwise
    ├── PlanError                       2  the plan cannot be used
    ├── TriggerConfigError, BadAlert    2  the alert receiver's setup or payload
    ├── RunbookRejected                 3  a human said no (or did not answer)
    ├── LockHeld                        4  another run of the plan holds the lock
    ├── LockLost, PointerUnavailable, RecordChanged, SandboxNotRunning, RemoteError (its own code)
    ├── MappingError, QuotaExceeded, PrerequisitesMissing, DeploymentFailed, VerificationFailed,
    │   SoftDeletedBlocking, EndpointFailed, RecreateFailed
    ├── ReplicationRefused, ReplicationFailed, CutOverRefused, FailBackRefused, DrillRefused
    ├── TransientError                  a retry may fix it (the engine's shard failures)
    └── PermanentError                  a retry will not (BlobReplicationFailed, ...)
"""

from __future__ import annotations

from typing import Any

from foundry_dr.exit_codes import ExitCode


class FoundryDrError(Exception):
    """Base of foundry-dr's own errors: expected failures with an actionable message."""

    exit_code: ExitCode = ExitCode.FAILED


class TransientError(FoundryDrError):
    """Raised by our own code for a failure that a retry may fix (e.g. a shard in which some
    blobs failed with throttling or 5xx after the SDK's own retries)."""


class PermanentError(FoundryDrError):
    """Raised by our own code for a failure that a retry will not fix (e.g. a verification
    mismatch that persisted after a re-copy, or a 403 on the destination)."""


# --- input --------------------------------------------------------------------------------------


class PlanError(FoundryDrError):
    """A DR plan that cannot be used. ``problems`` lists every one, each ``path: message``.

    All problems are collected before raising, so a user fixes the plan in one pass
    instead of discovering mistakes one run at a time.
    """

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        count = len(self.problems)
        header = f"{where}invalid plan ({count} problem{'s' if count != 1 else ''})"
        super().__init__("\n".join([header, *(f"  {p}" for p in self.problems)]))

    exit_code = ExitCode.BAD_INPUT


class TriggerConfigError(FoundryDrError):
    """The alert receiver cannot start safely (no secret, or a weak one)."""

    exit_code = ExitCode.BAD_INPUT


class BadAlert(FoundryDrError):
    """The payload is not an Azure Monitor common-alert-schema alert."""

    exit_code = ExitCode.BAD_INPUT


# --- approvals, locks and shared state ------------------------------------------------------------


class RunbookRejected(FoundryDrError):
    """An approval gate was rejected or timed out; the runbook changed nothing after it.

    Flows raise this so that callers (the CLI: exit code 3) can tell "a human said no"
    from "something broke".
    """

    def __init__(
        self,
        runbook: str,
        reason: str = "",
        *,
        approver: str | None = None,
        timed_out: bool = False,
    ) -> None:
        self.runbook = runbook
        self.reason = reason
        self.approver = approver
        self.timed_out = timed_out
        if timed_out:
            message = f"{runbook}: approval timed out"
        else:
            by = f" by {approver}" if approver else ""
            message = f"{runbook}: rejected at approval{by}"
        super().__init__(f"{message}: {reason}" if reason else message)

    exit_code = ExitCode.REJECTED


class LockHeld(FoundryDrError):
    """Another run of the same plan holds the failover lock (CLI: exit code 4); nothing changed."""

    exit_code = ExitCode.LOCKED


class LockLost(FoundryDrError):
    """This run's lease on the failover lock expired and another run took it over: it must not
    write the pointer (its fencing token is older than the new holder's)."""


class PointerUnavailable(FoundryDrError):
    """The active-hub pointer could not be read from its stores: which side serves is unknown.
    Readers fail closed: never a silent "primary"."""


class RecordChanged(FoundryDrError):
    """Someone else wrote the record after it was read."""


class SandboxNotRunning(FoundryDrError):
    """The plan targets the sandbox but no sandbox environment file was found."""


class RemoteError(FoundryDrError):
    """A remote operation (on a Prefect server) that cannot be done; ``exit_code`` says how to exit."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.exit_code = code

    @property
    def code(self) -> ExitCode:
        return self.exit_code


# --- provisioning and deployments -----------------------------------------------------------------


class MappingError(FoundryDrError):
    """The primary has something the plan does not say how to map (e.g. unmapped connections)."""


class QuotaExceeded(FoundryDrError):
    """The secondary region lacks the cores the desired computes need."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class DeploymentFailed(FoundryDrError):
    """ARM refused or failed the template deployment; the message carries ARM's details."""


class VerificationFailed(FoundryDrError):
    """The deployment finished but the secondary is not what the template says."""


class SoftDeletedBlocking(FoundryDrError):
    """A resource the secondary needs is soft-deleted (or missing) and may not be recovered."""


class PrerequisitesMissing(FoundryDrError):
    """Target workspaces or referenced assets are missing: nothing was written."""

    def __init__(self, message: str, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(message)


class EndpointFailed(FoundryDrError):
    """Some writes of an endpoint failed; ``results`` says which (and which succeeded)."""

    def __init__(self, name: str, results: dict[str, dict[str, Any]]) -> None:
        self.results = results
        errors = [f"{k}: {v['error']}" for k, v in results.items() if v.get("error")]
        super().__init__(f"{name}: " + "; ".join(errors))


# --- runbooks that refuse or fail ----------------------------------------------------------------


class RecreateFailed(FoundryDrError):
    """Some endpoint or deployment could not be recreated, or failed its smoke test."""


class ReplicationRefused(FoundryDrError):
    """The source side does not serve (the pointer says the other one does); nothing written."""


class ReplicationFailed(FoundryDrError):
    """Some part failed after its retries; the report says what was done. Re-run to continue."""


class CutOverRefused(FoundryDrError):
    """The cut-over cannot proceed safely (e.g. the secondary is not ready); nothing changed."""


class FailBackRefused(FoundryDrError):
    """The primary is not healthy (or not ready); nothing changed."""


class DrillRefused(FoundryDrError):
    """The drill target is in production use; nothing changed."""
