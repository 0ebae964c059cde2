"""Shared helpers: compose real configs from conf/ and train short runs in a temporary directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from grokscope.config import ConfigError
from grokscope.paths import CONF_DIR
from grokscope.run import RunDir, build, execute
from grokscope.run.checkpoints import load_checkpoint
from grokscope.run.config import validate

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


def make_config(*overrides: str):
    """The composed ``conf/train.yaml`` with ``overrides`` (as on the command line)."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def assert_config_error(key: str, *overrides: str, build_too: bool = False) -> None:
    """Composing (and with ``build_too`` building) ``overrides`` fails with one line naming ``key``."""
    with pytest.raises(ConfigError) as err:
        config = validate(make_config(*overrides))
        if build_too:
            build(config)
    assert err.value.key == key and key in str(err.value) and "\n" not in str(err.value)


def train(run_dir: Path, *overrides: str) -> dict:
    """Train a short run with CSV logging only, no progress bar and no plots (``plots=true`` brings them
    back); return its summary."""
    cfg = make_config("logger=csv", "progress_bar=false", "plots=false", *overrides)
    return execute(cfg, run_dir)


class Interrupted(Exception):
    """Raised by the runs :func:`interrupted_after_checkpoint` stops."""


def interrupted_after_checkpoint(monkeypatch, epoch: int, *overrides: str, run_dir: Path) -> None:
    """Train ``overrides`` in ``run_dir`` and stop it right after its checkpoint at ``epoch``."""
    from grokscope.training.callbacks import RunCallback

    checkpoint = RunCallback.checkpoint

    def checkpoint_then_stop(self, module):
        checkpoint(self, module)
        if module.epoch == epoch:
            raise Interrupted

    with monkeypatch.context() as patch, pytest.raises(Interrupted):
        patch.setattr(RunCallback, "checkpoint", checkpoint_then_stop)
        train(run_dir, *overrides)


def final_checkpoint(run_dir: Path) -> dict:
    """The newest checkpoint of a run dir (``weights_only``): ``model``, ``optimizer``, ``epoch``, ..."""
    rd = RunDir(run_dir)
    return load_checkpoint(rd.checkpoint(rd.checkpoint_epochs()[0]))


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``grokscope-train`` (as ``python -m grokscope.cli.train``) in ``cwd``."""
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": ""}
    env.pop("HYDRA_FULL_ERROR")
    return subprocess.run([sys.executable, "-m", "grokscope.cli.train", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def short_run(tmp_path_factory) -> tuple[Path, dict]:
    """One 300-epoch run of the default experiment, shared by the tests that only read its outputs."""
    run_dir = tmp_path_factory.mktemp("default_run")
    return run_dir, train(run_dir, "max_epochs=300", "metrics.every_n_epochs=50", "plots=true")
