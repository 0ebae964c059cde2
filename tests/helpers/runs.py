"""Train short runs in a directory, stop them after a checkpoint, read their newest checkpoint, and score a
loaded run's model as its recorder did."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

from grokscope.losses import Loss
from grokscope.metrics import evaluate, split_scores
from grokscope.run import RunDir, execute
from grokscope.run.checkpoints import load_checkpoint
from tests.helpers.config import make_config


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


def recomputed_scores(run, epoch: int | None = None) -> dict[str, float]:
    """``{mask}/loss`` and ``{mask}/acc`` of a loaded run's model (at the end, or at ``epoch``) on its whole
    table, as the run's recorder computes them."""
    ev = evaluate(run.model(epoch), run.task, Loss.of(run.config.run))
    return split_scores(ev, run.task)


def run_killed_after(n_writes: int, cfg, run_dir: Path, wandb_unsent: bool = False) -> None:
    """Run ``cfg`` in a forked child that SIGKILLs itself right after its ``n_writes``-th durable write;
    ``wandb_unsent``: the child hands WandB nothing before its end (WandB's files then lack every row) and starts a
    WandB service of its own, which dies with it."""
    from grokscope.run import sinks
    from grokscope.training import outputs

    pid = os.fork()
    if pid == 0:  # the child: killed inside execute, or exits 3 if it never reached that write
        try:
            torch.set_num_threads(1)  # the parent's OpenMP pool does not survive a fork
            if wandb_unsent:
                os.environ.pop("WANDB_SERVICE", None)
                sinks.SEND_SECONDS = float("inf")
            os.environ[outputs.KILL_AFTER_WRITES] = str(n_writes)
            outputs._writes = 0
            execute(cfg, run_dir)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"not killed at write {n_writes}"
