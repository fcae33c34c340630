"""Exceptions that cross module boundaries; the CLI maps each one to an exit code."""

from __future__ import annotations


class FoundryDrError(Exception):
    """Base of foundry-dr's own errors: expected failures with an actionable message."""


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


class LockHeld(FoundryDrError):
    """Another run of the same plan holds the failover lock (CLI: exit code 4); nothing changed."""


class LockLost(FoundryDrError):
    """This run's lease on the failover lock expired and another run took it over: it must not
    write the pointer (its fencing token is older than the new holder's)."""


class PointerUnavailable(FoundryDrError):
    """The active-hub pointer could not be read from its stores: which side serves is unknown.
    Readers fail closed: never a silent "primary"."""
