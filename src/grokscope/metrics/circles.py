"""Circles in the operand embeddings (Zhong et al. 2023; pizza.md §6.3, §6.5).

PCA of the embedding rows; circularity (how close the top components are to sinusoids over the residues);
isolation of one circle (one pair of components) with its frequency found automatically; and the fraction of
the variance of the logits explained by the clock and pizza templates at that frequency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from einops import rearrange
from torch.func import functional_call

from grokscope.metrics.fourier import frequency_power

#: singular values below this fraction of the largest are numerical noise: their directions are arbitrary
RANK_TOL = 1e-5


@dataclass
class PCA:
    """``X = mean + scores @ directions``: ``mean [d]``, ``scores [n_rows, r]``, ``directions [r, d]``, components
    by decreasing variance, those with (numerically) zero variance dropped."""

    mean: torch.Tensor
    scores: torch.Tensor
    directions: torch.Tensor


def principal_components(X: torch.Tensor) -> PCA:
    """Centred PCA of the rows of ``X [n_rows, d]`` by SVD, in float64."""
    X = X.detach().double()
    mean = X.mean(dim=0)
    U, S, Vh = torch.linalg.svd(X - mean, full_matrices=False)
    keep = S / S[0] > RANK_TOL
    return PCA(mean, U[:, keep] * S[keep], Vh[keep])


def circularity(scores: torch.Tensor, p: int, n_components: int = 4) -> float:
    """Mean over the first ``n_components`` (4 in the paper) score vectors ``u_j [n_rows]`` of

        c_j = clip(max_{k >= 1} P_j(k) / ||u_j||^2, 0, 1),

    with ``P_j(k)`` the Fourier power of frequency ``k`` of ``u_j`` over its first ``p`` rows (residues
    ``0..p-1`` of operand ``a``) and ``||u_j||`` the norm over all its rows (pizza.md §6.3; the closed form of
    the original ``max_i 2 |sum_t u~_j[t i mod p] e^{2 pi i t / p}|^2``). 1: every top component is a sinusoid
    over the residues, so pairs of components trace circles. Components with zero variance are not counted.
    """
    u = scores[:, :n_components]
    power = frequency_power(rearrange(u[:p], "x j -> j x 1"), p)  # [j, K + 1]
    return (power[:, 1:].amax(dim=1) / u.pow(2).sum(dim=0)).clamp(0, 1).mean().item()


def circle_frequency(scores: torch.Tensor, p: int) -> int:
    """The frequency ``k >= 1`` with the most Fourier power in the score vectors ``scores [n_rows, 2]`` of a
    circle over the residues ``0..p-1`` (its first ``p`` rows). The original typed it in by hand."""
    return int(frequency_power(scores[:p], p)[1:].argmax()) + 1


def clock_template(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, w: float) -> torch.Tensor:
    """``Q_clock = cos(w (a + b - c))`` (pizza.md §6.5)."""
    return torch.cos(w * (a + b - c))


def pizza_template(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, w: float) -> torch.Tensor:
    """``Q_pizza = |cos(wc/2) S_c + sin(wc/2) S_s| - |-sin(wc/2) S_c + cos(wc/2) S_s|`` with
    ``S_c = cos wa + cos wb``, ``S_s = sin wa + sin wb``, computed in its closed form
    ``2 |cos(w(a-b)/2)| (|cos(w(a+b-c)/2)| - |sin(w(a+b-c)/2)|)`` (pizza.md §6.5)."""
    half = w * (a + b - c) / 2
    return 2 * torch.cos(w * (a - b) / 2).abs() * (torch.cos(half).abs() - torch.sin(half).abs())


def fraction_of_variance_explained(values: torch.Tensor, template: torch.Tensor) -> float:
    """``1 - Var(z(values) - z(template)) / Var(z(values))`` with ``z`` the z-score over all entries: sklearn's
    ``explained_variance_score`` of the z-scored arrays, as in the paper's notebook (pizza.md §6.5). It equals
    ``2 rho - 1`` for the Pearson correlation ``rho``: 1 for a perfect fit, -1 for an uncorrelated template."""
    def z(x: torch.Tensor) -> torch.Tensor:
        return (x - x.mean()) / x.std(correction=0)

    return (1 - (z(values) - z(template)).var(correction=0)).item()


def distinct_operand_rows(model, task) -> torch.Tensor:
    """``W_E`` rows of the operands ``[n_distinct_tables * p]``, table by table in element order (operand ``a``'s
    table first; a table shared by several operands once)."""
    rows = model.operand_rows(task.operand_tokens)  # [n_operands, p]
    keep = [r for i, r in enumerate(rows) if not any(torch.equal(r, rows[j]) for j in range(i))]
    return torch.cat(keep)


@torch.no_grad()
def circle_template_fve(model, task, n_circles: int = 4) -> dict[str, float]:
    """For each circle ``j = 1..n_circles`` (principal components ``2j-2, 2j-1`` of the operand rows of ``W_E``):
    ``pizza/circle{j}_freq`` (its frequency ``k``, :func:`circle_frequency`) and the fraction of the variance of
    the logits ``l_c(a, b)`` (classes ``c < p``) explained by the clock and pizza templates at ``w = 2 pi k / p``
    (``pizza/circle{j}_fve_clock``, ``pizza/circle{j}_fve_pizza``), with the logits computed on the isolated
    circle: every operand row of ``W_E`` replaced by the PCA mean plus its projection on the pair
    (pizza.md §6.5; other rows, such as "=", keep their vectors).
    """
    p = task.modulus
    rows = distinct_operand_rows(model, task)
    pca = principal_components(model.W_E[rows])
    a, b = (rearrange(x, "n -> n 1").double() for x in task.operands.T)
    c = rearrange(torch.arange(p, device=a.device), "c -> 1 c").double()
    was_training = model.training
    model.eval()
    out = {}
    for j in range(1, min(n_circles, pca.scores.shape[1] // 2) + 1):
        pair = slice(2 * j - 2, 2 * j)
        k = circle_frequency(pca.scores[:, pair], p)
        W_E = model.W_E.detach().clone()
        W_E[rows] = (pca.mean + pca.scores[:, pair] @ pca.directions[pair]).to(W_E.dtype)
        logits = functional_call(model, {"W_E": W_E}, (task.tokens,))[:, :p].double()  # [N, p]
        w = 2 * math.pi * k / p
        out[f"pizza/circle{j}_freq"] = k
        out[f"pizza/circle{j}_fve_clock"] = fraction_of_variance_explained(logits, clock_template(a, b, c, w))
        out[f"pizza/circle{j}_fve_pizza"] = fraction_of_variance_explained(logits, pizza_template(a, b, c, w))
    model.train(was_training)
    return out
