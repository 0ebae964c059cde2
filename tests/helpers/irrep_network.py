"""A hand-built network whose logits are a sum of characters: the oracle of the representation-theory metrics.

For irreps ``ρ ∈ S`` of the task's group, the hidden layer is ``vec(ρ(a) ρ(b))`` (``ρ(a ∘ b)``, concatenated over
``S``) and the unembedding reads ``tr(ρ(a ∘ b) ρ(c)ᵀ) = χ_ρ(a ∘ b ∘ c⁻¹)``, so
``logits[(a, b), c] = scale · Σ_{ρ ∈ S} χ_ρ(a b c⁻¹)``. For the cyclic group and ``S = {freq_k : k ∈ K}`` this is
the clock: ``2 scale Σ_{k ∈ K} cos(w_k (a + b - c))``.
"""

from __future__ import annotations

import torch
from einops import einsum, rearrange
from torch import nn

from grokscope.groups import irreps
from grokscope.models.base import GrokModel
from grokscope.models.hooks import HookPoint
from grokscope.tasks.base import Task


class IrrepNetwork(GrokModel):
    hidden_hook = "hook_hidden"

    def __init__(self, task: Task, names: list[str], scale: float):
        super().__init__()
        chosen = [irrep for irrep in irreps(task.group) if irrep.name in names]
        assert len(chosen) == len(names), names
        self.matrices = [torch.tensor(irrep.matrices) for irrep in chosen]  # each [n, d, d]
        coefficients = torch.cat([rearrange(m, "n i j -> n (i j)") for m in self.matrices], dim=1)  # [n, D]
        padding = torch.zeros(task.d_vocab - task.n_classes, coefficients.shape[1], dtype=torch.float64)
        self.W_E = nn.Parameter(torch.cat([coefficients, padding]))  # [d_vocab, D]: vec ρ(x)
        self.W_U = nn.Parameter(scale * coefficients.T.clone())  # [D, n]: reads tr(X ρ(c)ᵀ)
        self.hook_hidden = HookPoint()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        a, b = tokens[:, 0], tokens[:, 1]
        products = [rearrange(einsum(m[a], m[b], "r i j, r j k -> r i k"), "r i k -> r (i k)") for m in self.matrices]
        return self.hook_hidden(torch.cat(products, dim=1)) @ self.W_U

    def hidden_unembed(self) -> torch.Tensor:
        return self.W_U
