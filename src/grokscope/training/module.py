"""The LightningModule: optimizer steps on device-resident tensors, full batch or sampled per loss term.

An *epoch* is one optimizer step: on every training row of every loss term (full batch, the default), or
on ``batch_size`` rows per term drawn with replacement. To keep Lightning's per-step overhead off tiny
models, one Lightning ``training_step`` runs several epochs in a row: it stops at the next epoch where any
registered :class:`~grokscope.training.cadence.Cadence` (metrics, logging, checkpoints) is due, or after
``steps_per_call`` epochs. Callbacks read ``module.epoch``, never Lightning's step counters. No host
synchronisation happens inside the step loop. Interventions act at the start of every call (``at_epoch``; their
``epochs`` are cadences) and, when they have one, after every optimizer step (``after_step``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import lightning as L
import numpy as np
import torch

from grokscope.interventions.base import Intervention
from grokscope.tasks.base import Task
from grokscope.training.cadence import Cadence


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""

    def __init__(self, epoch: int):
        self.epoch = epoch
        super().__init__(f"training loss is not finite by epoch {epoch}")


def term_seed(sampler_seed: int, term_index: int) -> int:
    """Seed of the batch generator of loss term ``term_index``: independent streams per term and seed."""
    return int(np.random.SeedSequence([sampler_seed, term_index]).generate_state(1)[0])


def sample_rows(term_rows: Sequence[torch.Tensor], generators: Sequence[torch.Generator],
                batch_size: int) -> list[torch.Tensor]:
    """``batch_size`` of each term's rows, uniform with replacement, drawn by that term's generator."""
    return [rows[torch.randint(len(rows), (batch_size,), generator=g, device=rows.device)]
            for rows, g in zip(term_rows, generators)]


class GrokModule(L.LightningModule):
    """Trains ``model`` on ``task``'s loss terms: ``L = sum_t w_t * mean_{r in B_t} CE(model(tokens_r), labels_r)``.

    ``B_t`` is every row of term ``t``'s mask (``batch_size`` None) or ``batch_size`` rows drawn from it
    uniformly with replacement, on the device, by one generator per term seeded from ``sampler_seed`` and the
    term's index (oocl.md §5: one batch per term per step). Terms of weight 0 are skipped. The rows of all
    terms go through one forward pass: models act on each row independently.
    """

    def __init__(self, model: torch.nn.Module, task: Task, optimizer_cfg, max_epochs: int,
                 steps_per_call: int, loss_dtype: str, batch_size: int | None, sampler_seed: int,
                 interventions: Sequence[Intervention] = (), compile: bool = False):
        super().__init__()
        self.model, self.task, self.optimizer_cfg = model, task, optimizer_cfg
        # the training forward: torch.compile'd on request (speed.md §7); metrics always run the eager model
        self.train_forward = torch.compile(model.forward) if compile else model.forward
        self.max_epochs, self.steps_per_call = max_epochs, steps_per_call
        self.loss_dtype = getattr(torch, loss_dtype)
        self.batch_size, self.sampler_seed = batch_size, sampler_seed
        self.automatic_optimization = False
        self.epoch = 0
        self.cadences: list[Cadence] = []
        self.term_rows: list[torch.Tensor] = []
        self._weights: list[float] = []
        self._full_batch: tuple[torch.Tensor, torch.Tensor, list[int]] | None = None
        self._generators: list[torch.Generator] = []
        self._sampler_states: list[torch.Tensor] | None = None
        self.interventions = tuple(interventions)
        self._after_step = tuple(i.after_step for i in interventions if i.after_step is not None)
        self.cadences += [Cadence(0, i.epochs) for i in interventions if i.epochs]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens)

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = self.optimizer_cfg.build(params, fused=self.device.type == "cuda")
        return {"optimizer": optimizer, "lr_scheduler": self.optimizer_cfg.warmup(optimizer)}

    def on_fit_start(self) -> None:
        self.task = self.task.to(self.device)
        self.prepare_terms()

    def prepare_terms(self) -> None:
        """Rows (``term_rows``, indices into the task's table) and weights of the trained terms, on the task's
        device; then the full batch, gathered once, or the batch generators."""
        t = self.task
        trained = [(i, term) for i, term in enumerate(t.loss_terms) if term.weight > 0]
        self.term_rows = [t.masks[term.mask].nonzero().squeeze(1) for _, term in trained]
        self._weights = [term.weight for _, term in trained]
        if self.batch_size is None:
            rows = torch.cat(self.term_rows)
            self._full_batch = (t.tokens[rows], t.labels[rows], [len(r) for r in self.term_rows])
        else:
            self._generators = [torch.Generator(device=t.tokens.device).manual_seed(term_seed(self.sampler_seed, i))
                                for i, _ in trained]
        if self._sampler_states is not None:
            for generator, state in zip(self._generators, self._sampler_states):
                generator.set_state(state)

    def train_dataloader(self):
        return _Endless()

    def sample_rows(self) -> list[torch.Tensor]:
        """``batch_size`` rows of each trained term, uniform with replacement over its rows (no host sync)."""
        return sample_rows(self.term_rows, self._generators, self.batch_size)

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """Tokens and labels of this step's rows, term after term, and the number of rows per term."""
        if self.batch_size is None:
            return self._full_batch
        rows = torch.cat(self.sample_rows())
        return self.task.tokens[rows], self.task.labels[rows], [self.batch_size] * len(self.term_rows)

    def training_loss(self) -> torch.Tensor:
        """The training objective on the current parameters and this step's batch (one forward pass)."""
        tokens, labels, sizes = self._batch()
        logits = self.train_forward(tokens, last_only=True).to(self.loss_dtype)
        return sum(w * torch.nn.functional.cross_entropy(term_logits, term_labels)
                   for w, term_logits, term_labels in zip(self._weights, logits.split(sizes), labels.split(sizes)))

    def _epochs_this_call(self) -> int:
        nxt = min([self.max_epochs, *(c.next_after(self.epoch) for c in self.cadences)])
        return int(min(nxt - self.epoch, self.steps_per_call))

    def training_step(self, batch, batch_idx) -> None:
        optimizer = self.optimizers().optimizer
        scheduler = self.lr_schedulers()
        params = [p for g in optimizer.param_groups for p in g["params"]]
        finite = torch.ones((), dtype=torch.bool, device=self.device)
        self.interventions_at_epoch()
        after_step = self._after_step
        for _ in range(self._epochs_this_call()):
            loss = self.training_loss()
            finite = finite & torch.isfinite(loss)
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            self.before_optimizer_step(params)
            optimizer.step()
            scheduler.step()
            for hook in after_step:
                hook(self.model)
            self.epoch += 1
        self.check_finite(finite)
        if self.epoch >= self.max_epochs:
            self.trainer.should_stop = True

    def interventions_at_epoch(self) -> None:
        for intervention in self.interventions:
            intervention.at_epoch(self.model, self.epoch)

    def check_finite(self, finite: torch.Tensor) -> None:
        """The one host sync of a call: stop a diverging run promptly."""
        if not finite:
            raise Diverged(self.epoch)

    def before_optimizer_step(self, params: list[torch.Tensor]) -> None:
        """Clip the gradients' global norm to ``grad_clip`` (if set)."""
        if self.optimizer_cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, self.optimizer_cfg.grad_clip, foreach=True)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["grokscope"] = self.resume_state(self._generators)

    def resume_state(self, generators: Sequence[torch.Generator]) -> dict:
        """What a checkpoint holds beyond Lightning's own: the epoch, the batch generators' states (of
        ``generators``) and the global RNG states."""
        return {
            "epoch": self.epoch,
            "sampler": [g.get_state() for g in generators],
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None},
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.restore_state(checkpoint["grokscope"])

    def restore_state(self, state: dict) -> None:
        """The inverse of :meth:`resume_state`; the generators get their states in :meth:`prepare_terms`."""
        self.epoch = state["epoch"]
        self._sampler_states = state["sampler"]
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
