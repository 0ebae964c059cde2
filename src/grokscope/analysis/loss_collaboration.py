"""Loss collaboration of circles (circle_survival.md §6.6): a model evaluated on all pairs with its embedding
restricted to the constant, a base set of frequencies (the run's circles) and one more frequency ``i``."""

from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call

from grokscope.interventions.tables import fourier_filter, max_frequency, tables


@torch.no_grad()
def restricted_scores(model, task, freqs: list[int], dc: bool = True) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over every row of ``task`` with each operand table of ``W_E`` replaced by
    ``E' = Re IDFT(F 1[k in {0} u S u -S])`` (without ``{0}`` when ``dc`` is false); the model is unchanged."""
    p = task.modulus
    tabs = tables(model, task, "W_E", "loss_collaboration")
    gain = dict.fromkeys(freqs, 1.0) | {0: 1.0 if dc else 0.0}
    filt = fourier_filter(p, gain, 0.0, model.W_E.dtype, model.W_E.device)
    W_E = model.W_E.detach().clone()
    for t in tabs:
        W_E[t.start : t.start + p] = filt @ W_E[t.start : t.start + p]
    logits = functional_call(model, {"W_E": W_E}, (task.tokens,))
    loss = torch.nn.functional.cross_entropy(logits.double(), task.labels)
    return float(loss), float((logits.argmax(-1) == task.labels).double().mean())


def loss_collaboration(model, task, base: list[int]) -> np.ndarray:
    """``[K, 2]``: loss and accuracy of :func:`restricted_scores` on ``{0} u base u {i}`` for ``i = 1..K``
    (``base`` = [], [c] or [c, c'] gives the paper's sets ``{i}``, ``{c, i}``, ``{c, c', i}``)."""
    k_max = max_frequency(task.modulus)
    return np.array([restricted_scores(model, task, sorted(set(base) | {i})) for i in range(1, k_max + 1)])
