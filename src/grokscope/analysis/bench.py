"""Timing helpers of ``scripts/bench.py``: seconds per epoch of a bare loop and of the framework.

Both sides train the model that :func:`grokscope.run.build` makes from the config (same init, same split)
with the same optimizer and warm-up. The framework side is the real ``grokscope.run.execute`` with a timer
around the Trainer's training loop (setup, building and the final summary are not timed).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from grokscope.run import build, execute, resolve_device
from grokscope.run.compose import compose
from grokscope.run.config import validate


def synchronize() -> None:
    """Wait for queued GPU work, so that a timer reads the work done (no-op on the CPU)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def bare_seconds_per_epoch(overrides: list[str], epochs: int) -> float:
    """A plain loop on the configured device: full forward on the training rows, cross-entropy in
    ``loss_dtype``, backward, AdamW (fused on CUDA), warm-up."""
    config = validate(compose(overrides))
    device = resolve_device(config.run.device)
    task, model = build(config)
    model.to(device)
    train = task.masks["train"]
    tokens, labels = task.tokens[train].to(device), task.labels[train].to(device)
    optimizer = config.optimizer.build([p for p in model.parameters() if p.requires_grad], fused=device == "cuda")
    scheduler = config.optimizer.warmup(optimizer)
    dtype = getattr(torch, config.run.loss_dtype)
    start = time.perf_counter()
    for _ in range(epochs):
        loss = torch.nn.functional.cross_entropy(model(tokens).to(dtype), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    synchronize()
    return (time.perf_counter() - start) / epochs


class _Timer(L.Callback):
    def on_train_start(self, trainer, pl_module):
        self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module):
        synchronize()
        self.seconds = time.perf_counter() - self.start


def framework_seconds_per_epoch(overrides: list[str], epochs: int) -> float:
    """``grokscope.run.execute`` (a single run or an ensemble) with a timer around the training loop."""
    timer = _Timer()
    original = L.Trainer.__init__

    def with_timer(self, *args, callbacks=(), **kwargs):
        original(self, *args, callbacks=[*callbacks, timer], **kwargs)

    L.Trainer.__init__ = with_timer
    try:
        with tempfile.TemporaryDirectory() as tmp:
            execute(compose(overrides), Path(tmp))
    finally:
        L.Trainer.__init__ = original
    return timer.seconds / epochs


def lean(overrides: list[str], epochs: int) -> list[str]:
    """``overrides`` with metrics off and evaluation and checkpoints only at the first and last epoch."""
    return [*overrides, "metrics=none", f"log_every_n_epochs={epochs}", f"checkpoint_every_n_epochs={epochs}"]


def side_by_side_arguments(doc: str, epochs: int) -> argparse.Namespace:
    """The command line of a benchmark that alternates two sides: ``--epochs``, ``--repeats`` and Hydra
    overrides for both sides."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=nanda_2023")
    return parser.parse_args()
