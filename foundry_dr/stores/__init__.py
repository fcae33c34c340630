"""foundry-dr's own state in Azure Storage: one module per record kind, each the Azure half of
a pure module of the same name in ``foundry_dr/`` (``foundry_dr.pointer`` decides what a pointer
says, ``foundry_dr.stores.pointer`` reads and writes it). No Prefect here.

- :mod:`.records`: small JSON records, written conditionally (ETag), the base of the others;
- :mod:`.pointer`: the active-hub pointer, one record per region;
- :mod:`.lock`: the plan's leases (failover, recreate, replication);
- :mod:`.checkpoint`: replication checkpoints, the recovery points;
- :mod:`.drill`: the history of drills.
"""
