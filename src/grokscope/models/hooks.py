"""TransformerLens-style hook points: identity modules whose module path is the hook name."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class HookPoint(nn.Module):
    """Identity at a named point of the forward pass (``hook_embed``, ``blocks.0.mlp.hook_post``...)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def hook_names(model: nn.Module) -> list[str]:
    """All hook point names of ``model``, in forward order."""
    return [name for name, mod in model.named_modules() if isinstance(mod, HookPoint)]


@torch.no_grad()
def run_with_cache(
    model: nn.Module, tokens: torch.Tensor, names: Iterable[str] = ()
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run ``model(tokens)`` without gradients and return the logits and the named activations."""
    wanted = set(names)
    points = {n: m for n, m in model.named_modules() if isinstance(m, HookPoint) and n in wanted}
    unknown = wanted - set(points)
    if unknown:
        raise KeyError(f"unknown hook points {sorted(unknown)}; available: {hook_names(model)}")
    cache: dict[str, torch.Tensor] = {}
    handles = [
        point.register_forward_hook(lambda _m, _i, out, name=name: cache.__setitem__(name, out))
        for name, point in points.items()
    ]
    try:
        logits = model(tokens)
    finally:
        for handle in handles:
            handle.remove()
    return logits, cache
