"""The LightningModule: full-batch optimizer steps on device-resident tensors.

An *epoch* is one optimizer step on the whole training set (for every loss term). To keep Lightning's
per-step overhead off tiny models, one Lightning ``training_step`` runs several epochs in a row: it stops at
the next epoch where any registered :class:`~grokscope.training.cadence.Cadence` (metrics, logging,
checkpoints) is due, or after ``steps_per_call`` epochs. Callbacks read ``module.epoch``, never Lightning's
step counters. No host synchronisation happens inside the step loop.
"""

from __future__ import annotations

import random

import lightning as L
import numpy as np
import torch

from grokscope.tasks.base import Task
from grokscope.training.cadence import Cadence


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int):
        self.epoch = epoch
        super().__init__(f"training loss is not finite by epoch {epoch}")


class GrokModule(L.LightningModule):
    """Trains ``model`` on ``task``'s loss terms: ``sum_t weight_t * mean CE(rows of mask_t)``."""

    def __init__(self, model: torch.nn.Module, task: Task, optimizer_cfg, max_epochs: int,
                 steps_per_call: int, loss_dtype: str):
        super().__init__()
        self.model, self.task, self.optimizer_cfg = model, task, optimizer_cfg
        self.max_epochs, self.steps_per_call = max_epochs, steps_per_call
        self.loss_dtype = getattr(torch, loss_dtype)
        self.automatic_optimization = False
        self.epoch = 0
        self.cadences: list[Cadence] = []
        self._terms: list[tuple[float, torch.Tensor, torch.Tensor]] = []

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens)

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = self.optimizer_cfg.build(params, fused=self.device.type == "cuda")
        return {"optimizer": optimizer, "lr_scheduler": self.optimizer_cfg.warmup(optimizer)}

    def on_fit_start(self) -> None:
        self.task = self.task.to(self.device)
        t = self.task
        self._terms = [(term.weight, t.tokens[t.masks[term.mask]], t.labels[t.masks[term.mask]])
                       for term in t.loss_terms if term.weight > 0]

    def train_dataloader(self):
        return _Endless()

    def training_loss(self) -> torch.Tensor:
        """The training objective on the current parameters (one forward per loss term)."""
        return sum(w * torch.nn.functional.cross_entropy(self.model(tok).to(self.loss_dtype), lab)
                   for w, tok, lab in self._terms)

    def _epochs_this_call(self) -> int:
        nxt = min([self.max_epochs, *(c.next_after(self.epoch) for c in self.cadences)])
        return int(min(nxt - self.epoch, self.steps_per_call))

    def training_step(self, batch, batch_idx) -> None:
        optimizer = self.optimizers().optimizer
        scheduler = self.lr_schedulers()
        params = [p for g in optimizer.param_groups for p in g["params"]]
        clip = self.optimizer_cfg.grad_clip
        finite = torch.ones((), dtype=torch.bool, device=self.device)
        for _ in range(self._epochs_this_call()):
            loss = self.training_loss()
            finite &= torch.isfinite(loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)
            optimizer.step()
            scheduler.step()
            self.epoch += 1
        if not finite:  # the one host sync of a call: stop a diverging run promptly
            raise Diverged(self.epoch)
        if self.epoch >= self.max_epochs:
            self.trainer.should_stop = True

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["grokscope"] = {
            "epoch": self.epoch,
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint["grokscope"]
        self.epoch = state["epoch"]
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["python"])
        if state["rng"]["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])


class _Endless:
    """An endless loader: the data already lives on the device, so every batch is a placeholder."""

    def __iter__(self):
        while True:
            yield 0
