"""Loss collaboration of circles (circle_survival.md §6.6): a model evaluated on all pairs with its embedding
restricted to the constant, a base set of frequencies (the run's circles) and one more frequency ``i``; the table
of a run's snapshots is written by ``grokscope-circles-collab`` (:mod:`grokscope.analysis.collab_cli`)."""

from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call

from grokscope.groups.fourier import max_frequency
from grokscope.groups.spectral import apply_filter, fourier_filter


@torch.no_grad()
def restricted_scores(model, task, freqs: list[int], dc: bool = True) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over every row of ``task`` with each operand table of ``W_E`` replaced by
    ``E' = Re IDFT(F 1[k in {0} u S u -S])`` (without ``{0}`` when ``dc`` is false); the model is unchanged."""
    gain = dict.fromkeys(freqs, 1.0) | {0: 1.0 if dc else 0.0}
    filt = fourier_filter(task.modulus, gain, 0.0, model.W_E.dtype, model.W_E.device)
    rows = model.operand_table_rows(task)
    W_E = model.W_E.detach().clone()
    W_E[rows] = apply_filter(filt, W_E[rows])
    logits = functional_call(model, {"W_E": W_E}, (task.tokens,))
    loss = torch.nn.functional.cross_entropy(logits.double(), task.labels)
    # the exact share in float64: torchmetrics' accuracy returns float32, up to 1e-7 off
    return float(loss), float((logits.argmax(-1) == task.labels).double().mean())


def loss_collaboration(model, task, base: list[int]) -> np.ndarray:
    """``[K, 2]``: loss and accuracy of :func:`restricted_scores` on ``{0} u base u {i}`` for ``i = 1..K``
    (``base`` = [], [c] or [c, c'] gives the paper's sets ``{i}``, ``{c, i}``, ``{c, c', i}``)."""
    k_max = max_frequency(task.modulus)
    return np.array([restricted_scores(model, task, sorted(set(base) | {i})) for i in range(1, k_max + 1)])


def base_name(base: list[int]) -> str:
    """The ``base`` column of a collaboration table: ``none``, ``7`` or ``7+13``."""
    return "+".join(map(str, base)) or "none"


def collaboration_rows(model, task, epoch: int, circles: list[int]) -> list[dict]:
    """Rows ``epoch, base, freq, loss, acc`` of :func:`loss_collaboration` for the bases ``[]``, ``[c]``,
    ``[c, c']`` (``circles`` strongest first; as many bases as circles allow, at most three)."""
    rows = []
    for n in range(min(len(circles), 2) + 1):
        scores = loss_collaboration(model, task, circles[:n])
        rows += [{"epoch": epoch, "base": base_name(circles[:n]), "freq": i, "loss": loss, "acc": acc}
                 for i, (loss, acc) in enumerate(scores.tolist(), start=1)]
    return rows


def collaboration_sets(circles: list[int]) -> dict[str, tuple[str, int]]:
    """Label ``{c}``, ``{c'}``, ``{c,c'}`` -> ``(base, freq)`` of the row that keeps exactly that set with DC
    (``{c}`` is base ``none`` at ``i = c``; ``{c,c'}`` is base ``c`` at ``i = c'``)."""
    sets = {f"{{{c}}}": ("none", c) for c in circles[:2]}
    if len(circles) >= 2:
        sets[f"{{{circles[0]},{circles[1]}}}"] = (base_name(circles[:1]), circles[1])
    return sets
