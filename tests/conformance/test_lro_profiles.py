"""Long-running-operation delays: a fast profile for tests, a realistic one for benchmarks (issue 15).

No sandbox process: the configuration and the engine over a temporary store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from foundry_dr_sandbox.arm.core.engine import Engine
from foundry_dr_sandbox.arm.core.store import Store
from foundry_dr_sandbox.arm.providers import load_providers
from foundry_dr_sandbox.config import LRO_PROFILES, SandboxConfig

DEPLOYMENTS = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(SandboxConfig.new(tmp_path), Store(tmp_path / "state.sqlite"), load_providers())


def test_the_default_is_fast(engine: Engine) -> None:
    assert engine.lro_delay(DEPLOYMENTS) == engine.config.lro_delay_seconds == 0.3


def test_realistic_delays_take_minutes_and_scale(engine: Engine) -> None:
    engine.store.set_setting("lro_profile", "realistic")
    assert engine.lro_delay(DEPLOYMENTS) == 480  # an online deployment provisions VMs: minutes
    assert engine.lro_delay("Microsoft.Storage/storageAccounts") == LRO_PROFILES["realistic"]["*"]
    engine.store.set_setting("lro_scale", 0.01)
    assert engine.lro_delay(DEPLOYMENTS) == pytest.approx(4.8)
    engine.store.set_setting("lro_delay", {DEPLOYMENTS.lower(): 2})  # an explicit delay still wins
    assert engine.lro_delay(DEPLOYMENTS) == 2


def test_the_profile_comes_from_the_config_file(tmp_path: Path) -> None:
    config = SandboxConfig.new(tmp_path)
    config.lro_profile, config.lro_scale = "realistic", 0.5
    config.save()
    loaded = SandboxConfig.load(tmp_path)
    assert (loaded.lro_profile, loaded.lro_scale) == ("realistic", 0.5)
    assert loaded.lro_delay(DEPLOYMENTS) == 240
