"""The task layer of the retry budget (foundry_dr/retry.py): one set of Prefect task options.

A task decorated ``@task(**RETRIED)`` is re-run up to :data:`foundry_dr.retry.TASK_RETRIES`
times, and only for failures :func:`foundry_dr.retry.retry_transient` calls transient. No task
result is cached: every task reads or writes live Azure state.
"""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NO_CACHE

from foundry_dr.retry import TASK_RETRIES, TASK_RETRY_DELAYS, retry_transient

RETRIED: dict[str, Any] = {
    "retries": TASK_RETRIES,
    "retry_delay_seconds": TASK_RETRY_DELAYS,
    "retry_condition_fn": retry_transient,
    "cache_policy": NO_CACHE,
}
