"""The task layer of the retry budget (foundry_dr/retry.py): Prefect task options per budget.

A task decorated ``@task(**RETRIED)`` is re-run by :data:`foundry_dr.retry.TASK_BUDGET`, and
only for failures :func:`foundry_dr.retry.retry_transient` calls transient; ``retried(budget)``
gives the options for another row of the budget. No task result is cached: every task reads or
writes live Azure state.
"""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NO_CACHE

from foundry_dr.retry import APPLY_BUDGET, BULK_BUDGET, POINTER_BUDGET, TASK_BUDGET, TaskBudget, retry_transient


def retried(budget: TaskBudget = TASK_BUDGET) -> dict[str, Any]:
    """``@task`` keyword arguments: retries and waits from ``budget``, transient failures only, no cache."""
    return {
        "retries": budget.retries,
        "retry_delay_seconds": list(budget.delays),
        "retry_condition_fn": retry_transient,
        "cache_policy": NO_CACHE,
    }


RETRIED = retried(TASK_BUDGET)
RETRIED_BULK = retried(BULK_BUDGET)
RETRIED_APPLY = retried(APPLY_BUDGET)
RETRIED_POINTER = retried(POINTER_BUDGET)
