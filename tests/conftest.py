"""Pytest hooks and fixtures; the helpers the tests import live in ``tests/helpers/``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.helpers.runs import train

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# The tests run in two xdist workers (pyproject addopts) on two cores: one torch thread each, in the workers and
# in the processes they start (more threads only spin against each other).
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """``@pytest.mark.gpu`` tests skip on machines without CUDA."""
    if not torch.cuda.is_available():
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(pytest.mark.skip(reason="needs CUDA"))


@pytest.fixture(scope="session")
def short_run(tmp_path_factory) -> tuple[Path, dict]:
    """One 300-epoch run of the default experiment, shared by the tests that only read its outputs."""
    run_dir = tmp_path_factory.mktemp("default_run")
    return run_dir, train(run_dir, "max_epochs=300", "metrics.every_n_epochs=50", "plots=true")


@pytest.fixture(scope="session")
def snapshot_run(tmp_path_factory) -> Path:
    """A 20-epoch ``tiny_modular`` run with snapshots at epochs 0, 10 and 20, read by the analyses of snapshots."""
    run_dir = tmp_path_factory.mktemp("snapshot_run")
    train(run_dir, "experiment=tiny_modular", "max_epochs=20", "snapshot_every_n_epochs=10")
    return run_dir


@pytest.fixture(scope="module")
def irreps_cache(tmp_path_factory):
    """The irreps cache of a test module in a fresh dir, the in-memory caches cleared before and after."""
    from grokscope.groups import clear_memory_cache
    from grokscope.groups.basis import group_basis

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GROKSCOPE_CACHE", str(tmp_path_factory.mktemp("irreps")))
        clear_memory_cache()
        group_basis.cache_clear()
        yield
    clear_memory_cache()
    group_basis.cache_clear()
