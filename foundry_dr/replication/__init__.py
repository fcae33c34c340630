"""The blob replication engine: one shard of one container, source account to destination.

No Prefect here: :mod:`foundry_dr.tasks.storage` cuts containers into shards and runs
:func:`foundry_dr.replication.engine.run_shard` as one task per shard. The decisions (what to
copy, what to keep, fail-back's conflict rules) are :mod:`foundry_dr.blob_sync`'s; this package
only carries them out against Azure Storage, never over a destination version other than the
one it listed, and with nothing secret (the source's SAS, account keys) in what it reports.

Modules, one job each:

* :mod:`~foundry_dr.replication.job` — ``ShardJob`` (the input), ``ShardResult`` (the output)
  and the failures (``ShardFailed``, its transient / permanent kinds, ``DestinationChanged``).
* :mod:`~foundry_dr.replication.listing` — both sides' listings, name-sorted and prefetched in
  the background (``list_entries``, ``prefetch``, ``entry_from``).
* :mod:`~foundry_dr.replication.shard_state` — the per-shard checkpoint blob
  (``ShardCheckpoint``, ``checkpoint_path``, ``list_checkpoints``, ``checkpointed_blob_count``),
  readable across shard layouts, and the spool of copies awaiting verification.
* :mod:`~foundry_dr.replication.pool` — the copy threads one run's shards share in a process
  (``copy_pool``, ``hold``): ``concurrency`` caps them at any shard count.
* :mod:`~foundry_dr.replication.sas` — the read-only source SAS of server-side copies.
* :mod:`~foundry_dr.replication.transfer` — one blob's bytes: server-side copy, wait, streaming
  copy, verification of the destination.
* :mod:`~foundry_dr.replication.actions` — one diff action on one blob (copy or confirm, keep a
  conflict copy, update properties, re-verify, delete) and its ``Outcome``.
* :mod:`~foundry_dr.replication.engine` — the shard's run loop (``ShardCopier``, ``run_shard``):
  diff, bounded window of copies, bulk verification, checkpoint.
* :mod:`~foundry_dr.replication.blobs` — the helpers they share (write conditions, properties,
  hashing, redacted error text).
"""
