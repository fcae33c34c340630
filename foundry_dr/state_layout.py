"""Where foundry-dr keeps its own state in each storage account (pure constants, one home).

Checkpoints, the pointer, the failover lock, drill records and fail-back's conflict copies all
live in one container that no datastore points at, so nothing kept there is ever read as
training data, and replication never copies it (:data:`foundry_dr.blob_sync.ALWAYS_EXCLUDED`).
"""

from __future__ import annotations

STATE_CONTAINER = "foundry-dr"
CHECKPOINTS_PREFIX = "checkpoints"  # + /<plan>/: one record per complete replication run
BLOB_CHECKPOINTS_PREFIX = "blob-checkpoints"  # + /<account>/<container>/<shard>: what each shard verified
CONFLICTS_PREFIX = "conflicts"  # + /<container>/<name>~<side>-<time>-<version>: versions kept at fail-back
EVIDENCE_PREFIX = "evidence"  # + /<plan>/<runbook>/<started>-<run id>.json|.html: write-once evidence bundles
READINESS_PREFIX = "readiness"  # + /<plan>/latest.json: the last readiness verdict (secondary account)
