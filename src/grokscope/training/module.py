"""The LightningModule: optimizer steps on device-resident tensors, full batch or sampled per loss term.

An *epoch* is one optimizer step: on every training row of every loss term (full batch, the default), or
on ``batch_size`` rows per term drawn with replacement (:class:`~grokscope.training.batches.TermBatches`). To
keep Lightning's per-step overhead off tiny models, one Lightning ``training_step`` runs several epochs in a
row: it stops at the next epoch where any registered :class:`~grokscope.training.cadence.Cadence` (metrics,
logging, checkpoints) is due, after ``steps_per_call`` epochs, or at ``max_epochs``. Callbacks read
``module.epoch``, never Lightning's step counters. No host synchronisation happens inside the step loop.
Interventions act at the start of every call (``at_epoch``; their ``epochs`` are cadences) and, when they
have one, after every optimizer step (``after_step``). On a GPU, with ``cuda_graph``, the epochs of a call are
replays of one captured epoch wherever that is exact (:mod:`grokscope.training.graphs`).

A module trains ``n_members`` runs (1 here, K in :class:`~grokscope.training.ensemble.EnsembleModule`) and
speaks of each as a member: :meth:`member` is its model, :meth:`member_state` its checkpoint (loadable with
``torch.load(..., weights_only=True)``), :meth:`resume` continues from the members' checkpoints exactly.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import lightning as L
import numpy as np
import torch

from grokscope.interventions.base import Intervention
from grokscope.losses import Loss
from grokscope.tasks.base import Task
from grokscope.training.batches import TermBatches
from grokscope.training.cadence import Cadence
from grokscope.training.graphs import EpochGraph, blockers
from grokscope.training.optim import load_state, orthogonalise_


class Diverged(RuntimeError):
    """The training loss of every member became NaN or infinite."""

    def __init__(self, epoch: int):
        self.epoch = epoch
        super().__init__(f"training loss is not finite by epoch {epoch}")


def rng_state() -> dict:
    """The global RNG states as tensors, ints and tuples (``weights_only``-loadable)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict) -> None:
    """The inverse of :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class GrokModule(L.LightningModule):
    """Trains ``model`` on ``task``'s loss terms: ``L = sum_t w_t * mean_{r in B_t} loss(model(tokens_r), labels_r)``
    with ``B_t`` the term's rows of this step (:class:`TermBatches`) and ``loss`` the run's
    (:class:`~grokscope.losses.Loss`: cross-entropy or StableMax, in ``loss_dtype``); terms of weight 0 are
    skipped. The rows of all terms go through one forward pass: models act on each row independently."""

    def __init__(self, model: torch.nn.Module, task: Task, optimizer_cfg, max_epochs: int,
                 steps_per_call: int, loss: Loss, batch_size: int | None, sampler_seed: int,
                 interventions: Sequence[Intervention] = (), compile: bool = False, cuda_graph: bool = False):
        super().__init__()
        self.model, self.optimizer_cfg = model, optimizer_cfg
        self.tasks = [task]
        # the training forward: torch.compile'd on request (speed.md §7); metrics always run the eager model
        self.train_forward = torch.compile(model.forward) if compile else model.forward
        self.compile, self.cuda_graph = compile, cuda_graph
        self.max_epochs, self.steps_per_call = max_epochs, steps_per_call
        self.loss = loss
        self.batch_size = batch_size
        self.sampler_seeds = [sampler_seed]
        self.automatic_optimization = False
        self.epoch = 0
        self.cadences: list[Cadence] = []
        self.batches: list[TermBatches] = []
        self.diverged_at: list[int | None] = [None]
        self._resumed: list[dict] | None = None
        self.interventions = tuple(interventions)
        self._after_step = tuple(i.after_step for i in interventions if i.after_step is not None)
        self.cadences += [Cadence(0, i.epochs) for i in interventions if i.epochs]
        self.finite: torch.Tensor | None = None  # [e]: each member's loss finite at every epoch of this call
        self.graph: EpochGraph | None = None

    @property
    def n_members(self) -> int:
        return len(self.tasks)

    @property
    def task(self) -> Task:
        return self.tasks[0]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.model(tokens)

    def member(self, e: int) -> torch.nn.Module:
        """Member ``e``'s model (a normal single-run model)."""
        return self.model

    def trained_parameters(self) -> list[torch.nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def graph_blockers(self) -> list[str]:
        """Why this module's epochs cannot be replayed from a CUDA graph here (:func:`graphs.blockers`)."""
        return blockers(self.device, self.batch_size, self.compile, bool(self._after_step))

    @property
    def graphed(self) -> bool:
        """Whether the epochs after the lr warm-up are CUDA-graph replays."""
        return self.cuda_graph and not self.graph_blockers()

    def graph_use(self) -> str:
        """How the epochs ran, for the summary: ``replayed`` (from a CUDA graph, after the lr warm-up) or
        ``eager`` and why."""
        if self.graph is not None and self.graph.graph is not None:
            return "replayed"
        if not self.cuda_graph:
            return "eager: cuda_graph=false"
        return "eager: " + "; ".join(self.graph_blockers() or ["no epochs after the lr warm-up"])

    def configure_optimizers(self):
        optimizer = self.optimizer_cfg.build(self.trained_parameters(), fused=self.device.type == "cuda",
                                             capturable=self.graphed)
        scheduler = self.optimizer_cfg.warmup(optimizer)
        if self._resumed is not None:
            self.load_training_state(optimizer, scheduler, self._resumed)
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def load_training_state(self, optimizer: torch.optim.Optimizer, scheduler, member_states: list[dict]) -> None:
        """The optimizer's, then the scheduler's state from the members' checkpoints (as Lightning restores)."""
        load_state(optimizer, member_states[0]["optimizer"])
        scheduler.load_state_dict(member_states[0]["scheduler"])

    def on_fit_start(self) -> None:
        self.tasks = [t.to(self.device) for t in self.tasks]
        self.batches = [TermBatches(t, self.batch_size, s) for t, s in zip(self.tasks, self.sampler_seeds)]
        if self._resumed is not None:
            for batches, state in zip(self.batches, self._resumed):
                batches.load_state(state["sampler"])
        self.prepare_batches()
        self.finite = torch.ones(self.n_members, dtype=torch.bool, device=self.device)
        if self.graphed:
            self.graph = EpochGraph(self.train_epoch, self.trained_parameters())

    def prepare_batches(self) -> None:
        """Hook run once the members' :class:`TermBatches` exist (the ensemble stacks its full batches)."""

    def train_dataloader(self):
        return _Endless()

    def training_loss(self) -> torch.Tensor:
        """The training objective on the current parameters and this step's batch (one forward pass)."""
        batches = self.batches[0]
        tokens, labels = batches.sample()
        logits = self.train_forward(tokens, last_only=True)
        sizes = batches.sizes
        return sum(w * self.loss(term_logits, term_labels)
                   for w, term_logits, term_labels in zip(batches.weights, logits.split(sizes), labels.split(sizes)))

    def _epochs_this_call(self) -> int:
        nxt = min([self.max_epochs, *(c.next_after(self.epoch) for c in self.cadences)])
        return int(min(nxt - self.epoch, self.steps_per_call))

    def train_epoch(self) -> None:
        """One epoch's device work: loss, backward, clipping and decay, the optimizer step, after-step hooks;
        whether each member's loss was finite is kept in :attr:`finite` (in place: a graph replays this)."""
        optimizer = self.optimizers().optimizer
        params = [p for g in optimizer.param_groups for p in g["params"]]
        loss = self.training_loss()
        self.finite.logical_and_(torch.isfinite(loss))
        optimizer.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.before_optimizer_step(params)
        optimizer.step()
        self.after_optimizer_step(params)
        if self._after_step:
            self.interventions_after_step()

    def training_step(self, batch, batch_idx) -> None:
        """The epochs of this call: eager, or replays of the captured epoch once the lr is constant."""
        scheduler = self.lr_schedulers()
        self.finite.fill_(True)
        self.interventions_at_epoch()
        n = self._epochs_this_call()
        if self.graph is not None and self.epoch >= self.optimizer_cfg.constant_from:
            self.graph.run(n)
            for _ in range(n):
                scheduler.step()
        else:
            for _ in range(n):
                self.train_epoch()
                scheduler.step()
        self.epoch += n
        self.check_finite(self.finite)
        if self.epoch >= self.max_epochs:
            self.trainer.should_stop = True

    def interventions_at_epoch(self) -> None:
        for intervention in self.interventions:
            intervention.at_epoch(self.model, self.epoch)

    def interventions_after_step(self) -> None:
        for hook in self._after_step:
            hook(self.model)

    def check_finite(self, finite: torch.Tensor) -> None:
        """The one host sync of a call. A member whose loss is not finite is recorded (in an ensemble its NaNs
        stay in its own slices: the members' gradients are independent); training stops when every member
        has diverged."""
        for e, ok in enumerate(finite.tolist()):
            if not ok and self.diverged_at[e] is None:
                self.diverged_at[e] = self.epoch
        if all(epoch is not None for epoch in self.diverged_at):
            raise Diverged(self.epoch)

    def before_optimizer_step(self, params: list[torch.Tensor]) -> None:
        """Clip the gradients' global norm to ``grad_clip`` (if set), then ⊥Grad (``orthogonal``)."""
        if self.optimizer_cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, self.optimizer_cfg.grad_clip, foreach=True)
        if self.optimizer_cfg.orthogonal:
            orthogonalise_(params)

    def after_optimizer_step(self, params: list[torch.Tensor]) -> None:
        """Hook after each optimizer step (an ensemble scales its members' updates by their own lr)."""

    def member_optimizer_state(self, e: int) -> dict:
        return self.optimizers().optimizer.state_dict()

    def member_scheduler_state(self, e: int) -> dict:
        return self.lr_schedulers().state_dict()

    def member_state(self, e: int) -> dict:
        """Member ``e``'s checkpoint: its weights, optimizer state, the scheduler, the epoch, its batch
        generators, the global RNG states and the epoch it diverged at (None)."""
        return {
            "epoch": self.epoch,
            "model": {k: v.detach().clone() for k, v in self.member(e).state_dict().items()},
            "optimizer": self.member_optimizer_state(e),
            "scheduler": self.member_scheduler_state(e),
            "sampler": self.batches[e].state() if self.batches else [],
            "rng": rng_state(),
            "diverged_at": self.diverged_at[e],
        }

    def resume(self, states: list[dict]) -> None:
        """Continue from the members' checkpoints (:meth:`member_state`, one per member, at one epoch); the
        models' weights are loaded by whoever built them, the rest here and when fitting starts."""
        self.epoch = states[0]["epoch"]
        self.diverged_at = [s["diverged_at"] for s in states]
        self._resumed = states
        set_rng_state(states[0]["rng"])


class _Endless:
    """An endless loader: the data already lives on the device, so every batch is a placeholder."""

    def __iter__(self):
        while True:
            yield 0
