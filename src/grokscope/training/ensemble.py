"""Ensembles: K independent runs of one architecture trained as one, with parameters stacked on a member axis.

Exactness with one optimizer over the stack (speed.md §6): Adam/AdamW updates are elementwise, so they equal
K independent optimizers when the objective is the **sum** of the members' losses, each member's loss is its
own mean over its own rows, gradients are clipped per member, and per-member weight decay is decoupled and
applied per member. Members are initialised by their own single-run builds, then stacked.

Per-member learning rates: the update of every optimizer here (AdamW, Adam, SGD) is ``lr`` times a step that
does not depend on ``lr`` (nor does the optimizer's state), so the stack runs at lr 1 (times its warm-up factor)
and member ``e``'s update is scaled by ``lr_e`` after each step (equal to the separate run to float tolerance).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from einops import rearrange
from torch import nn
from torch.func import functional_call, vmap

from grokscope.config import ConfigError
from grokscope.interventions.base import Intervention
from grokscope.losses import Loss
from grokscope.tasks.base import Task
from grokscope.training.module import GrokModule
from grokscope.training.optim import load_state, orthogonalise_


def stack_parameters(models: list[nn.Module]) -> nn.ParameterDict:
    """``{name: [e, *shape]}`` for every parameter of ``models`` (same architecture), keeping
    ``requires_grad``. Dots in names become ``__`` (ParameterDict keys cannot contain dots)."""
    stacked = nn.ParameterDict()
    for name, param in models[0].named_parameters():
        shapes = {tuple(dict(m.named_parameters())[name].shape) for m in models}
        if len(shapes) > 1:
            raise ConfigError("ensemble", name, f"members' shapes differ ({sorted(shapes)}); group runs by shape")
        values = torch.stack([dict(m.named_parameters())[name].detach() for m in models])
        stacked[name.replace(".", "__")] = nn.Parameter(values, requires_grad=param.requires_grad)
    return stacked


def member_view(tensor: torch.Tensor, member_axis_of: torch.Tensor) -> torch.Tensor:
    """``tensor [e]`` reshaped to broadcast against ``member_axis_of [e, ...]``."""
    return tensor.view(-1, *[1] * (member_axis_of.ndim - 1))


class EnsembleModule(GrokModule):
    """Trains K members of one architecture at once: ``L = sum_e L_e``, with ``L_e`` member ``e``'s own
    single-run objective (``sum_t w_t * mean_{r in train_e} CE``) on its own split (speed.md §6.2-6.3).

    ``model`` is the members' shared template: the forward is ``vmap(functional_call(model, theta_e, x_e))``
    over the stacked parameters; :meth:`member` loads member ``e``'s slices into it for metrics and
    checkpoints. ``weight_decays`` (optional, AdamW only): per-member decoupled decay
    ``theta_e <- theta_e (1 - lr_e wd_e)`` before the update, as AdamW does (the optimizer then gets wd 0).
    ``learning_rates`` (optional): member ``e`` trains at ``lr_e`` times the schedule's factor; the optimizer
    then runs at lr 1 and each member's update is scaled (module docstring). Checkpoints hold each member's
    optimizer and scheduler state as its separate run's, so either can resume the other's.

    Member ``e`` has its own :class:`~grokscope.training.batches.TermBatches` (its split, and with
    ``batch_size`` its generators seeded from ``sampler_seeds[e]``), so its batches are its single run's.

    ``interventions[e]`` are member ``e``'s (built for its model, their ``at_init`` already applied): their
    ``at_epoch`` (at the start of a call) and ``after_step`` (after every step) act on the template whose
    parameters are member ``e``'s slices (:meth:`holding`); their metrics run on the template holding a copy of
    member ``e`` (:meth:`member`), like every metric.
    """

    def __init__(self, models: list[nn.Module], tasks: list[Task], optimizer_cfg, max_epochs: int,
                 steps_per_call: int, loss: Loss, weight_decays: list[float] | None = None,
                 batch_size: int | None = None, sampler_seeds: list[int] | None = None,
                 interventions: list[list[Intervention]] | None = None, learning_rates: list[float] | None = None,
                 cuda_graph: bool = False):
        super().__init__(models[0], tasks[0], optimizer_cfg, max_epochs, steps_per_call, loss,
                         batch_size=batch_size, sampler_seed=0, interventions=(interventions or [()])[0],
                         cuda_graph=cuda_graph)
        members = interventions or [[] for _ in models]
        self.member_at_epoch = [[i for i in member if type(i).at_epoch is not Intervention.at_epoch]
                                for member in members]
        self.member_after_step = [[i.after_step for i in member if i.after_step is not None] for member in members]
        self.stacked = stack_parameters(models)
        self.tasks = tasks
        self.sampler_seeds = sampler_seeds or [0] * len(models)
        self.names = [name for name, _ in models[0].named_parameters()]
        decays = None if weight_decays is None else torch.tensor(weight_decays, dtype=torch.float64)
        self.register_buffer("weight_decays", decays, persistent=False)
        lrs = None if learning_rates is None else torch.tensor(learning_rates, dtype=torch.float64)
        self.register_buffer("learning_rates", lrs, persistent=False)
        self._before_step: list[torch.Tensor] = []
        self.diverged_at = [None] * len(models)
        self._full_batch: tuple[torch.Tensor, torch.Tensor] | None = None

    def trained_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.stacked.values() if p.requires_grad]

    def load_training_state(self, optimizer: torch.optim.Optimizer, scheduler, member_states: list[dict]) -> None:
        """The members' optimizer slices stacked; the schedule from member 0's, at base lr 1 when members have
        their own lr (the optimizer's lr is then the schedule's factor)."""
        load_state(optimizer, stack_optimizer_states([s["optimizer"] for s in member_states], optimizer.state_dict()))
        state = member_states[0]["scheduler"]
        if self.learning_rates is not None:
            factors = [factor(state["last_epoch"]) for factor in scheduler.lr_lambdas]
            state = {**state, "base_lrs": [1.0] * len(factors), "_last_lr": factors}
            for group, factor in zip(optimizer.param_groups, factors):
                group.update(lr=factor, initial_lr=1.0)
        scheduler.load_state_dict(state)

    def prepare_batches(self) -> None:
        """Full batch: the members' batches stacked once (``tokens [e, n, n_ctx]``)."""
        if self.batch_size is not None:
            return
        sizes = {tuple(b.sizes) for b in self.batches}
        if len(sizes) > 1:
            raise ConfigError("ensemble", sorted(sizes), "members' loss terms have different row counts")
        self._full_batch = (torch.stack([b.full[0] for b in self.batches]),
                            torch.stack([b.full[1] for b in self.batches]))

    def _member_logits(self, params: dict[str, torch.Tensor], tokens: torch.Tensor) -> torch.Tensor:
        named = {name: params[name.replace(".", "__")] for name in self.names}
        return functional_call(self.model, named, (tokens,), {"last_only": True})

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This step's rows of every member, stacked: ``tokens [e, n, n_ctx]``, ``labels [e, n]``."""
        if self.batch_size is None:
            return self._full_batch
        samples = [b.sample() for b in self.batches]
        return torch.stack([t for t, _ in samples]), torch.stack([y for _, y in samples])

    def training_loss(self) -> torch.Tensor:
        """Per-member objectives ``[e]`` (their sum is trained): one vmapped forward over all members."""
        tokens, labels = self._batch()
        weights, sizes = self.batches[0].weights, self.batches[0].sizes
        logits = vmap(self._member_logits)(dict(self.stacked), tokens)  # [e, n, d_vocab_out]
        # split the per-row losses, not the logits: the backward of a split of [e, n, v] copies all of it
        rows = self.loss.rows(logits, labels)  # [e, n]
        return sum(w * term.mean(dim=1) for w, term in zip(weights, rows.split(sizes, dim=1)))

    def before_optimizer_step(self, params: list[torch.Tensor]) -> None:
        """Per-member clipping: member ``e``'s gradients scale by ``min(1, c / (||g_e|| + 1e-6))`` with
        ``||g_e||`` over all of its slices, as ``clip_grad_norm_`` does for one run (speed.md §6.4); then ⊥Grad per
        member and tensor (``orthogonal``); then per-member decoupled weight decay; with per-member lrs, the
        parameters before the update are kept."""
        clip = self.optimizer_cfg.grad_clip
        grads = [p.grad for p in params if p.grad is not None]
        if clip is not None:
            per_tensor = torch.stack([torch.linalg.vector_norm(rearrange(g, "e ... -> e (...)"), dim=1) for g in grads])
            norms = torch.linalg.vector_norm(per_tensor, dim=0)  # [e], as clip_grad_norm_: a norm of norms
            scale = (clip / (norms + 1e-6)).clamp(max=1.0)
            for g in grads:
                g.mul_(member_view(scale.to(g.dtype), g))
        if self.optimizer_cfg.orthogonal:
            orthogonalise_(params, member_axis=True)
        if self.weight_decays is not None:
            lr = self.member_lrs()
            with torch.no_grad():
                for p in params:
                    if p.grad is not None:  # as AdamW: a parameter without gradient (frozen) is not decayed
                        p.mul_(member_view((1.0 - lr * self.weight_decays).to(p.dtype), p))
        if self.learning_rates is not None:
            self._before_step = [p.detach().clone() for p in params]

    def after_optimizer_step(self, params: list[torch.Tensor]) -> None:
        """With per-member lrs: ``theta_e <- before_e + lr_e (theta_e - before_e)``, the lr-1 update scaled."""
        if self.learning_rates is None:
            return
        with torch.no_grad():
            for p, before in zip(params, self._before_step):
                p.sub_(before).mul_(member_view(self.learning_rates.to(p.dtype), p)).add_(before)
        self._before_step = []

    def member_lrs(self) -> torch.Tensor | float:
        """This step's lr: the optimizer's, times each member's own (``[e]``) when members have one."""
        lr = self.optimizers().optimizer.param_groups[0]["lr"]
        return lr if self.learning_rates is None else lr * self.learning_rates

    def interventions_at_epoch(self) -> None:
        """Each member's ``at_epoch`` on its own slices."""
        for e, interventions in enumerate(self.member_at_epoch):
            if interventions:
                with self.holding(e) as model:
                    for intervention in interventions:
                        intervention.at_epoch(model, self.epoch)

    def interventions_after_step(self) -> None:
        """Each member's ``after_step`` on its own slices."""
        for e, hooks in enumerate(self.member_after_step):
            with self.holding(e) as model:
                for hook in hooks:
                    hook(model)

    @contextmanager
    def holding(self, e: int) -> Iterator[nn.Module]:
        """The template model whose parameters are views of member ``e``'s slices (no copy): in-place edits
        reach the stack, and so does ``requires_grad`` (``freeze_embedding``; members share their interventions'
        config, so they freeze together). The template's own tensors come back afterwards."""
        params = [(self.stacked[name.replace(".", "__")], param) for name, param in self.model.named_parameters()]
        own = [param.data for _, param in params]
        for stacked, param in params:
            param.data = stacked.data[e]
            param.requires_grad_(stacked.requires_grad)
        try:
            yield self.model
        finally:
            for (stacked, param), data in zip(params, own):
                param.data = data
                if stacked.requires_grad != param.requires_grad:
                    stacked.requires_grad_(param.requires_grad)
                    stacked.grad = None

    @torch.no_grad()
    def member(self, e: int) -> nn.Module:
        """The template model holding member ``e``'s parameters (a normal single-run model)."""
        for name, param in self.model.named_parameters():
            param.copy_(self.stacked[name.replace(".", "__")][e])
        return self.model

    def member_optimizer_state(self, e: int) -> dict:
        """Member ``e``'s slice of the optimizer state, in the layout of a single run's optimizer."""
        state = self.optimizers().optimizer.state_dict()
        sliced = {k: {n: v if v.ndim == 0 else v[e].clone() for n, v in s.items()} for k, s in state["state"].items()}
        groups = [dict(g) for g in state["param_groups"]]
        for g in groups:
            if self.weight_decays is not None:
                g["weight_decay"] = float(self.weight_decays[e])
            if self.learning_rates is not None:
                lr = float(self.learning_rates[e])
                g.update(lr=lr * g["lr"], initial_lr=lr * g["initial_lr"])
        return {"state": sliced, "param_groups": groups}

    def member_scheduler_state(self, e: int) -> dict:
        """The schedule as member ``e``'s separate run has it (its own base lr)."""
        state = self.lr_schedulers().state_dict()
        if self.learning_rates is None:
            return state
        lr = float(self.learning_rates[e])
        return {**state, "base_lrs": [lr * base for base in state["base_lrs"]],
                "_last_lr": [lr * last for last in state["_last_lr"]]}


def stack_optimizer_states(member_states: list[dict], current: dict) -> dict:
    """The stacked optimizer's state from its members' slices (the inverse of
    :meth:`EnsembleModule.member_optimizer_state`): per-parameter tensors stacked on the member axis, scalars
    (Adam's ``step``) from member 0; the members' param groups (lr, ...) with the stacked optimizer's weight
    decay (0 when each member decays on its own)."""
    state = {k: {n: v if v.ndim == 0 else torch.stack([s["state"][k][n] for s in member_states])
                 for n, v in slots.items()} for k, slots in member_states[0]["state"].items()}
    groups = [{**saved, "weight_decay": now["weight_decay"], "params": now["params"]}
              for saved, now in zip(member_states[0]["param_groups"], current["param_groups"])]
    return {"state": state, "param_groups": groups}
