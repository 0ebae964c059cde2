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
from torch.utils.flop_counter import FlopCounterMode

from grokscope.losses import Loss
from grokscope.run import build, execute, resolve_device
from grokscope.run.compose import compose
from grokscope.run.config import validate


def synchronize() -> None:
    """Wait for queued GPU work, so that a timer reads the work done (no-op on the CPU)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _training_rows(overrides: list[str]):
    """The model of ``overrides`` on its device with the training rows, its optimizer, warm-up and loss."""
    config = validate(compose(overrides))
    device = resolve_device(config.run.device)
    task, model = build(config)
    model.to(device)
    train = task.masks["train"]
    tokens, labels = task.tokens[train].to(device), task.labels[train].to(device)
    optimizer = config.optimizer.build([p for p in model.parameters() if p.requires_grad], fused=device == "cuda")
    return model, tokens, labels, optimizer, config.optimizer.warmup(optimizer), Loss.of(config.run)


def bare_seconds_per_epoch(overrides: list[str], epochs: int, warmup: int = 0) -> float:
    """A plain loop on the configured device: full forward on the training rows, cross-entropy in
    the run's loss, backward, AdamW (fused on CUDA), warm-up; ``warmup`` epochs run untimed first (cuBLAS
    start-up, kernel selection)."""
    model, tokens, labels, optimizer, scheduler, loss_fn = _training_rows(overrides)

    def step():
        loss = loss_fn(model(tokens), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()

    for _ in range(warmup):
        step()
    synchronize()
    start = time.perf_counter()
    for _ in range(epochs):
        step()
    synchronize()
    return (time.perf_counter() - start) / epochs


def flops_per_epoch(overrides: list[str]) -> float:
    """Floating-point operations of one training epoch of a single run (forward and backward of the training
    rows, as the bare loop computes them), counted by :class:`torch.utils.flop_counter.FlopCounterMode` (matrix
    products; element-wise work is not counted, so the floor it gives is a lower bound)."""
    model, tokens, labels, _, _, loss_fn = _training_rows([*overrides, "device=cpu"])
    with FlopCounterMode(display=False) as counter:
        loss_fn(model(tokens), labels).backward()
    return float(counter.get_total_flops())


#: Dense peak TFLOP/s of a card (FP32, TF32) by a part of its name (vendor data sheets, SXM parts).
PEAK_TFLOPS = {"H200": (67.0, 495.0), "H100": (67.0, 495.0), "A100": (19.5, 156.0)}


def peak_flops(precision: str) -> float | None:
    """The current CUDA card's peak FLOP/s at ``matmul_precision`` (``highest``: FP32, else TF32); None on a
    CPU or an unlisted card."""
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    peaks = next((peak for part, peak in PEAK_TFLOPS.items() if part in name), None)
    return None if peaks is None else 1e12 * peaks[0 if precision == "highest" else 1]


class _Timer(L.Callback):
    """Times the training loop from the end of its first call (``steps_per_call`` epochs: start-up and kernel
    selection happen there), or with CUDA graphs of the first call that captured one, to its end."""

    start: float | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        graph = pl_module.graph
        if self.start is None and (graph is None or graph.graph is not None):
            synchronize()
            self.start, self.first_epochs = time.perf_counter(), pl_module.epoch

    def on_train_end(self, trainer, pl_module):
        synchronize()
        self.seconds = time.perf_counter() - self.start
        self.epochs = pl_module.epoch - self.first_epochs


def framework_seconds_per_epoch(overrides: list[str], epochs: int) -> float:
    """``grokscope.run.execute`` (a single run or an ensemble) with a timer around the training loop, after its
    first call or its capture (``_Timer``): ``epochs`` must exceed ``steps_per_call`` (twice, with graphs)."""
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
    return timer.seconds / timer.epochs


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
