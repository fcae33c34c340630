"""Process exit codes of the ``foundry-dr`` CLI (README.md, "The CLI"; scripts depend on them)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Stable exit codes: scripts and alerts branch on these, so never renumber them."""

    OK = 0  # done
    FAILED = 1  # runbook failed (or a drill missed an objective)
    BAD_INPUT = 2  # bad plan, unknown runbook, malformed --set
    REJECTED = 3  # rejected or timed out at an approval gate
    LOCKED = 4  # another run of the plan holds the failover lock (nothing changed; retry later)


OK = ExitCode.OK
FAILED = ExitCode.FAILED
BAD_INPUT = ExitCode.BAD_INPUT
REJECTED = ExitCode.REJECTED
LOCKED = ExitCode.LOCKED
