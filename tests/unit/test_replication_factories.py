"""The client factories replication hands its tasks: one blob client per connection-pool size, and
no registry entry left behind per run in a long-lived process (serve.py, a Dask worker)."""

from __future__ import annotations

import pickle
from pathlib import Path

from test_clients import PLANS, sandbox_env

import foundry_dr.tasks.storage as storage
from foundry_dr.clients import ClientFactory
from foundry_dr.plan import load_plan


def make_factory(tmp_path: Path) -> ClientFactory:
    return ClientFactory(load_plan(PLANS / "sandbox.yaml"), sandbox_env=sandbox_env(tmp_path))


def pool_size(client: object) -> int:
    transport = client._pipeline._transport  # type: ignore[attr-defined]
    return transport.session.adapters["http://"]._pool_maxsize


def test_blob_service_is_cached_per_pool_size(tmp_path: Path) -> None:
    factory = make_factory(tmp_path)
    narrow, wide = factory.blob_service("stfdreastus"), factory.blob_service("stfdreastus", 256)
    assert narrow is factory.blob_service("stfdreastus", 64) and wide is factory.blob_service("stfdreastus", 256)
    assert narrow is not wide
    assert (pool_size(narrow), pool_size(wide)) == (64, 256)


def test_a_flows_factory_is_shared_while_it_runs_then_released(tmp_path: Path) -> None:
    factory = make_factory(tmp_path)
    with storage.shared_factory(factory) as ref:
        assert ref.resolve() is factory
        assert ref.token in storage._FACTORIES
    assert ref.token not in storage._FACTORIES and ref.token not in storage._REBUILT


def test_the_factory_is_released_when_the_block_fails(tmp_path: Path) -> None:
    factory = make_factory(tmp_path)
    try:
        with storage.shared_factory(factory) as ref:
            raise RuntimeError("a run that failed")
    except RuntimeError:
        pass
    assert ref.token not in storage._FACTORIES


def test_factories_rebuilt_in_another_process_are_bounded(tmp_path: Path) -> None:
    factory = make_factory(tmp_path)
    refs = []
    for _ in range(storage.MAX_REBUILT_FACTORIES + 3):
        with storage.shared_factory(factory) as ref:
            refs.append(pickle.loads(pickle.dumps(ref)))  # what a worker receives
    first = refs[-1].resolve()
    assert first is not factory and first is refs[-1].resolve()  # one per run, shared by its shards
    for ref in refs:
        ref.resolve()
    assert len(storage._REBUILT) <= storage.MAX_REBUILT_FACTORIES
    assert refs[0].token not in storage._REBUILT and refs[-1].token in storage._REBUILT
