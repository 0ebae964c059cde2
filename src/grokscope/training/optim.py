"""Optimizers (``optimizer=adamw|adam|sgd``) with a linear warm-up, optional gradient clipping and ⊥Grad."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grokscope.config import NAME_MEANING, Checked, described, require


@dataclass
class OptimizerConfig(Checked):
    """Shared keys: ``lr``, ``weight_decay``, ``warmup_steps``, ``grad_clip`` (max global norm, or null) and
    ``orthogonal`` (⊥Grad, :func:`orthogonalise_`, applied after clipping and before the base step).

    Warm-up multiplies the lr by ``min(step / warmup_steps, 1)`` for step ``0, 1, ...`` (LambdaLR, stepped
    after each update), so update 0 runs at lr 0 (nanda_progress_measures.md §3).
    """

    name: str = described(NAME_MEANING)
    lr: float = described("learning rate after the warm-up", allowed="> 0")
    weight_decay: float = described("decoupled weight decay (adamw) or L2 penalty in the gradient (adam, sgd)",
                                    allowed=">= 0")
    warmup_steps: int = described("the lr is multiplied by min(step / warmup_steps, 1): update 0 runs at lr 0",
                                  allowed=">= 0")
    grad_clip: float | None = described("max global gradient norm; null: no clipping", allowed="> 0, or null")
    # the default lets run dirs recorded before the key load
    orthogonal: bool = described("⊥Grad: each tensor's gradient loses its component along the tensor and is "
                                 "rescaled to its own norm before the step (Prieto et al. 2025)", default=False)

    def check(self, prefix: str) -> None:
        require(self.lr > 0, f"{prefix}.lr", self.lr, "must be > 0")
        require(self.weight_decay >= 0, f"{prefix}.weight_decay", self.weight_decay, "must be >= 0")
        require(self.warmup_steps >= 0, f"{prefix}.warmup_steps", self.warmup_steps, "must be >= 0")
        require(self.grad_clip is None or self.grad_clip > 0, f"{prefix}.grad_clip", self.grad_clip,
                "must be > 0 or null")

    def warmup(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
        n = self.warmup_steps
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(s / n, 1.0) if n else 1.0)

    @property
    def constant_from(self) -> int:
        """The first update from which the lr no longer changes (the warm-up is over)."""
        return self.warmup_steps


@dataclass
class AdamConfig(OptimizerConfig):
    """``optimizer=adamw`` (decoupled weight decay) or ``optimizer=adam`` (L2 penalty in the gradient)."""

    betas: list[float] = described("Adam's moment decay rates (beta1, beta2)", allowed="two numbers in [0, 1)")
    eps: float = described("Adam's denominator epsilon", allowed="> 0")

    def check(self, prefix: str) -> None:
        super().check(prefix)
        require(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), f"{prefix}.betas", self.betas,
                "must be two numbers in [0, 1)")
        require(self.eps > 0, f"{prefix}.eps", self.eps, "must be > 0")

    def build(self, params, fused: bool = False, capturable: bool = False) -> torch.optim.Optimizer:
        """Fused on a GPU (``capturable`` too for a step captured in a CUDA graph: the step count and the bias
        corrections stay on the device), else foreach."""
        cls = torch.optim.AdamW if self.name == "adamw" else torch.optim.Adam
        extra = {"fused": True, "capturable": capturable} if fused else {"foreach": True}
        return cls(params, lr=self.lr, betas=tuple(self.betas), eps=self.eps, weight_decay=self.weight_decay,
                   **extra)


@dataclass
class SGDConfig(OptimizerConfig):
    """``optimizer=sgd``: SGD with (Nesterov) momentum."""

    momentum: float = described("SGD momentum", allowed="[0, 1)")
    nesterov: bool = described("Nesterov momentum")

    def check(self, prefix: str) -> None:
        super().check(prefix)
        require(0 <= self.momentum < 1, f"{prefix}.momentum", self.momentum, "must be in [0, 1)")
        require(not self.nesterov or self.momentum > 0, f"{prefix}.nesterov", self.nesterov,
                f"needs {prefix}.momentum > 0 (it is {self.momentum}): set a momentum in (0, 1), or nesterov=false")

    def build(self, params, fused: bool = False, capturable: bool = False) -> torch.optim.Optimizer:
        """Foreach everywhere; its update has no host-side state, so a CUDA graph captures it as it is."""
        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, nesterov=self.nesterov,
                               weight_decay=self.weight_decay, foreach=True)


#: guards the divisions of ⊥Grad (as the reference implementation)
ORTHOGONAL_EPS = 1e-30


@torch.no_grad()
def orthogonalise_(params: list[torch.Tensor], member_axis: bool = False) -> None:
    """⊥Grad (Prieto et al. 2025, numerical_stability.md §3), in place on each ``p.grad``: per tensor ``w`` with
    gradient ``g``, ``g_⊥ = g - (w·g / (w·w + ε)) w``, then ``g <- g_⊥ ||g|| / (||g_⊥|| + ε)``, ``ε`` =
    :data:`ORTHOGONAL_EPS`. With ``member_axis`` the first axis stacks an ensemble's members and each member's
    slice is projected on its own weights alone."""
    for p in params:
        if p.grad is None:
            continue
        w, g = p.detach(), p.grad
        flat_w = w.reshape(len(w), -1) if member_axis else w.reshape(1, -1)
        flat_g = g.reshape(flat_w.shape)
        along = (flat_w * flat_g).sum(dim=1, keepdim=True) / (flat_w.pow(2).sum(dim=1, keepdim=True) + ORTHOGONAL_EPS)
        ortho = flat_g - along * flat_w
        scale = flat_g.norm(dim=1, keepdim=True) / (ortho.norm(dim=1, keepdim=True) + ORTHOGONAL_EPS)
        g.copy_((ortho * scale).reshape(g.shape))


#: the param-group flags that choose an optimizer's implementation, not its maths
IMPLEMENTATION = ("fused", "capturable", "foreach")


def load_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """``optimizer.load_state_dict(state)`` keeping ``optimizer``'s own implementation (:data:`IMPLEMENTATION`):
    a checkpoint written by the fused, capturable optimizer of a CUDA run resumes in the foreach one of a CPU
    run and back. Adam's step count goes where this implementation keeps it: on the parameter's device when
    fused or capturable, else on the CPU."""
    own = [{key: group[key] for key in IMPLEMENTATION if key in group} for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, flags in zip(optimizer.param_groups, own):
        group.update(flags)
        on_device = flags.get("fused") or flags.get("capturable")
        for param in group["params"]:
            slots = optimizer.state.get(param, {})
            if "step" in slots:
                slots["step"] = slots["step"].to(param.device if on_device else "cpu")


#: ``optimizer=<name>`` -> its schema
SCHEMAS = {"adamw": AdamConfig, "adam": AdamConfig, "sgd": SGDConfig}
