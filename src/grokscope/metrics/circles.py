"""Circles in the operand embeddings (Zhong et al. 2023; pizza.md §6.3, §6.5; Ding et al. 2024,
circle_survival.md §6).

PCA of the embedding rows; circularity (how close the top components are to sinusoids over the residues);
isolation of one circle (one pair of components) with its frequency found automatically; and the fraction of
the variance of the logits explained by the clock and pizza templates at that frequency. Circle survival: the
signal ``s_k`` of every frequency, the circles above the threshold ``2 mean s`` and the circularity of each
frequency's plane.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from einops import einsum, rearrange
from torch.func import functional_call

from grokscope.config import MetricKey
from grokscope.figures import Bars
from grokscope.groups.fourier import fourier_basis, max_frequency
from grokscope.groups.spectral import fourier_signal, frequency_power
from grokscope.metrics.circle_figures import pca_figure, planes_figure, signals_figure
from grokscope.metrics.evaluation import EVAL_CHUNK_ROWS
from grokscope.metrics.family import FunctionMetric, MetricFamily, MetricFamilyConfig, RunRecord
from grokscope.metrics.fourier import needs_residues

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
    ``2 rho - 1`` for the Pearson correlation ``rho``: 1 for a perfect fit, -1 for an uncorrelated template.
    Computed by torchmetrics' ``explained_variance`` (imported here: about 1 s, paid by the pizza metrics only)."""
    from torchmetrics.functional import explained_variance

    def z(x: torch.Tensor) -> torch.Tensor:
        return ((x - x.mean()) / x.std(correction=0)).flatten()

    return explained_variance(z(template), z(values)).item()


class Correlation:
    """Pearson's correlation of two arrays given in pieces (:meth:`add`): counts, means and centred sums of
    squares and products merged piece by piece (Chan et al.'s pairwise update), in float64."""

    def __init__(self):
        self.n, self.cross = 0, 0.0
        self.mean = torch.zeros(2, dtype=torch.float64)
        self.m2 = torch.zeros(2, dtype=torch.float64)

    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        pair = torch.stack([x.flatten(), y.flatten()]).double().cpu()  # [2, n]
        n = pair.shape[1]
        mean = pair.mean(dim=1)
        centred = pair - mean[:, None]
        m2, cross = centred.pow(2).sum(dim=1), float(centred[0] @ centred[1])
        total = self.n + n
        delta = mean - self.mean
        self.m2 = self.m2 + m2 + delta.pow(2) * self.n * n / total
        self.cross = self.cross + cross + float(delta[0] * delta[1]) * self.n * n / total
        self.mean = self.mean + delta * n / total
        self.n = total

    def value(self) -> float:
        return self.cross / float(self.m2.prod().sqrt())


@torch.no_grad()
def circle_template_fve(model, task, n_circles: int = 4, chunk_rows: int = EVAL_CHUNK_ROWS) -> dict[str, float]:
    """For each circle ``j = 1..n_circles`` (principal components ``2j-2, 2j-1`` of the operand rows of ``W_E``):
    ``pizza/circle{j}_freq`` (its frequency ``k``, :func:`circle_frequency`) and the fraction of the variance of
    the logits ``l_c(a, b)`` (classes ``c < p``) explained by the clock and pizza templates at ``w = 2 pi k / p``
    (``pizza/circle{j}_fve_clock``, ``pizza/circle{j}_fve_pizza``), with the logits computed on the isolated
    circle: every operand row of ``W_E`` replaced by the PCA mean plus its projection on the pair
    (pizza.md §6.5; other rows, such as "=", keep their vectors).

    The forwards run ``chunk_rows`` rows at a time; :func:`fraction_of_variance_explained` of the z-scored arrays
    is ``2 rho - 1``, with ``rho`` their correlation (:class:`Correlation`), so no ``[N, p]`` array is kept.
    """
    p = task.modulus
    rows = rearrange(model.operand_table_rows(task), "t x -> (t x)")  # operand a's table first
    pca = principal_components(model.W_E[rows])
    c = rearrange(torch.arange(p, device=task.tokens.device), "c -> 1 c").double()
    was_training = model.training
    model.eval()
    out = {}
    for j in range(1, min(n_circles, pca.scores.shape[1] // 2) + 1):
        pair = slice(2 * j - 2, 2 * j)
        k = circle_frequency(pca.scores[:, pair], p)
        W_E = model.W_E.detach().clone()
        W_E[rows] = (pca.mean + pca.scores[:, pair] @ pca.directions[pair]).to(W_E.dtype)
        w = 2 * math.pi * k / p
        fits = {"clock": (clock_template, Correlation()), "pizza": (pizza_template, Correlation())}
        for start in range(0, len(task.tokens), chunk_rows):
            part = slice(start, start + chunk_rows)
            logits = functional_call(model, {"W_E": W_E}, (task.tokens[part],))[:, :p].double()  # [n, p]
            a, b = (rearrange(x, "n -> n 1").double() for x in task.operands[part].T)
            for template, correlation in fits.values():
                correlation.add(logits, template(a, b, c, w))
        out[f"pizza/circle{j}_freq"] = k
        for name, (_, correlation) in fits.items():
            out[f"pizza/circle{j}_fve_{name}"] = 2 * correlation.value() - 1
    model.train(was_training)
    return out


def circle_threshold(signal: torch.Tensor, p: int) -> torch.Tensor:
    """``tau = 2 mean_{k=0..p-1} s_k`` (DC included; ``s_{p-k} = s_k``) of ``signal [..., K + 1]`` (odd ``p``),
    circle_survival.md §6.2."""
    total = signal[..., 0] + 2 * signal[..., 1:].sum(-1)
    return 2 * total / p


def circle_mask(signal: torch.Tensor, p: int) -> torch.Tensor:
    """Bool ``[..., K]``: frequency ``k = 1..K`` is a circle iff ``s_k > tau`` (each ``+-k`` pair counts once;
    circle_survival.md §6.2, without the original's halving and pairing, §8 bug 1)."""
    return signal[..., 1:] > rearrange(circle_threshold(signal, p), "... -> ... 1")


def frequency_planes(table: torch.Tensor, p: int) -> torch.Tensor:
    """``[2, K, d]`` (float64): the unit vectors ``u_k = Re F_k / ||Re F_k||`` and ``v_k = Im F_k / ||Im F_k||``
    of each frequency ``k = 1..K`` of ``table [p, d]`` (circle_survival.md §6.3), computed as the ``cos k`` and
    ``sin k`` coefficient rows of the orthonormal basis (equal up to sign: ``Im F_k`` is minus the ``sin k`` row
    times ``sqrt(p/2)``). A plane with no ``Im F_k`` (a constructed segment) has NaN ``v_k``."""
    k_max = max_frequency(p)
    table = table.detach().double()
    coeffs = einsum(fourier_basis(p, table.dtype, table.device), table, "f x, x d -> f d")
    planes = rearrange(coeffs[1 : 2 * k_max + 1], "(k two) d -> two k d", two=2)  # cos k, sin k rows
    return planes / planes.norm(dim=-1, keepdim=True)


def frequency_circularity(table: torch.Tensor, p: int) -> torch.Tensor:
    """Circularity ``[K]`` of each frequency's plane in ``table [p, d]`` (circle_survival.md §6.3).

    ``u_k = Re F_k / ||Re F_k||``, ``v_k = Im F_k / ||Im F_k||`` (the ``cos k`` and ``sin k`` coefficient rows
    of the orthonormal basis, up to sign); ``r_u`` is the fraction of the power of the projections
    ``(E_t . u_k)_t`` at frequency ``k`` (the original's ``2 |sum_t a_{t Delta} e^{2 pi i t / p}|^2`` over
    ``k Delta = +-1``), likewise ``r_v`` (0 when the plane has no ``Im F_k``, e.g. a constructed segment);
    circularity ``= sqrt((r_u^2 + r_v^2) / 2)``: 1 for a perfect circle, about 0.68 for N(0, 1) at p=59, d=128.
    """
    k_max = max_frequency(p)
    table = table.detach().double()
    projections = einsum(table, frequency_planes(table, p), "x d, two k d -> two k x")
    power = frequency_power(rearrange(projections, "two k x -> two k x 1"), p)  # [2, K, K + 1]
    own = power[:, torch.arange(k_max), torch.arange(1, k_max + 1)] / power.sum(-1)  # [2, K]
    return own.nan_to_num(0.0).pow(2).mean(0).sqrt()


def circle_survival(model, task) -> dict[str, float | np.ndarray]:
    """Per distinct operand table of ``W_E`` (arrays ``[n_tables, ...]``): ``circles/signal`` ``s_0..s_K``,
    ``circles/is_circle`` ``[K]``, ``circles/circularity`` ``[K]``; scalars of operand ``a``'s table:
    ``circles/n_circles``, ``circles/threshold``, ``circles/signal/{k}`` and ``circles/circularity/{k}`` of
    every frequency. Survivors are the final ``is_circle``; the initial signal is the epoch-0 ``signal``
    (:func:`survivors`)."""
    p = task.modulus
    tables = model.operand_tables(task).detach().double()  # [n_tables, p, d]
    signal = fourier_signal(tables, p)  # [n_tables, K + 1]
    is_circle = circle_mask(signal, p)
    circ = torch.stack([frequency_circularity(t, p) for t in tables])
    out: dict[str, float | np.ndarray] = {
        "circles/signal": signal.cpu().numpy(),
        "circles/is_circle": is_circle.cpu().numpy(),
        "circles/circularity": circ.cpu().numpy(),
        "circles/n_circles": int(is_circle[0].sum()),
        "circles/threshold": float(circle_threshold(signal[0], p)),
    }
    for k, (s_k, c_k) in enumerate(zip(signal[0, 1:].tolist(), circ[0].tolist()), start=1):
        out[f"circles/signal/{k}"] = s_k
        out[f"circles/circularity/{k}"] = c_k
    return out


def survivors(initial_signal: np.ndarray, final_is_circle: np.ndarray) -> list[dict[str, float]]:
    """The frequencies that are circles at the end, with their initial signal and its rank among ``1..K``
    (1 = strongest), from one table's ``signal [K + 1]`` at epoch 0 and ``is_circle [K]`` at the end."""
    initial = initial_signal[1:]
    rank = np.argsort(np.argsort(-initial, kind="stable"), kind="stable") + 1
    return [{"freq": int(k) + 1, "initial_signal": float(initial[k]), "initial_rank": int(rank[k])}
            for k in np.flatnonzero(final_is_circle)]


def ranked_circles(signal: np.ndarray, is_circle: np.ndarray) -> list[int]:
    """The circles of one table, strongest first: the ``k`` with ``is_circle [K]`` true, by decreasing ``s_k`` of
    ``signal [K + 1]`` (ties by ``k``)."""
    return [int(k) + 1 for k in np.argsort(-np.asarray(signal)[1:], kind="stable") if is_circle[k]]


def plane_points(table: torch.Tensor, p: int, freqs: list[int]) -> dict[int, np.ndarray]:
    """``k -> [p, 2]``: ``(E_t . u_k, E_t . v_k)`` for ``t = 0..p-1`` of ``table [p, d]`` and each ``k`` in
    ``freqs``, with ``u_k, v_k`` of :func:`frequency_planes` (circle_survival.md §6.3, §6.9). A circle at ``k``
    puts ``t`` at angle ``2 pi k t / p``: the points go round ``k`` times in the order of ``t``."""
    table = table.detach().double().cpu()
    planes = frequency_planes(table, p).nan_to_num(0.0)  # [2, K, d]
    return {k: (table @ planes[:, k - 1].T).numpy() for k in freqs}


def pca_pairs(table: torch.Tensor, p: int, n_circles: int) -> list[tuple[np.ndarray, int]]:
    """Centred PCA of ``table [p, d]`` with ``2 n_circles`` components (at least 2, at most what exists): the
    scores ``[p, 2]`` of components ``(2i, 2i+1)`` and the frequency of most power in the pair
    (:func:`circle_frequency`; circle_survival.md §6.9)."""
    scores = principal_components(table).scores.cpu()  # [p, r]
    n_pairs = max(1, min(n_circles, scores.shape[1] // 2))
    scores = torch.nn.functional.pad(scores, (0, max(0, 2 - scores.shape[1])))  # a rank-1 table: PC 1 = 0
    pairs = (scores[:, 2 * i : 2 * i + 2] for i in range(n_pairs))
    return [(pair.numpy(), circle_frequency(pair, p)) for pair in pairs]


def geometry_figures(table: torch.Tensor, p: int, circles: list[int]):
    """``circle_planes`` (when there are circles) and ``circle_pca`` of ``table [p, d]``: ``(name, figure)``."""
    if circles:
        yield "circle_planes", planes_figure(plane_points(table, p, circles))
    yield "circle_pca", pca_figure(pca_pairs(table, p, len(circles)))


def _plots(record: RunRecord):
    if "circles/signal" not in record.arrays:
        return
    signal, is_circle = record.arrays["circles/signal"], record.arrays["circles/is_circle"][-1, 0]
    yield "circle_signals", signals_figure(record.epochs["circles"], signal, is_circle)
    circles = ranked_circles(signal[-1, 0], is_circle)  # the final embedding on its circles' planes (§6.9)
    yield from geometry_figures(record.model.operand_tables(record.task)[0].detach(), record.task.modulus, circles)


def _media(values: dict[str, np.ndarray], task):
    """Bars of ``s_k``, ``k = 1..K``, of operand ``a``'s table at one metric epoch: circles dark, the threshold
    ``2 mean s`` red."""
    signal = values["circles/signal"][0]  # [K + 1]
    threshold = float(circle_threshold(torch.from_numpy(signal), task.modulus))
    yield "circles/signal_bars", Bars(
        signal[1:], "Circle signal of W_E per frequency (operand a)", "frequency k", "signal s_k",
        dark=values["circles/is_circle"][:1], dark_label="circle", line=threshold, line_label="threshold 2 mean s",
        caption="signal s_k of each frequency k in operand a's embedding table; the frequencies above the "
                "threshold (red) are circles (dark)")


def _summary(record: RunRecord) -> dict:
    """``circle_survivors`` of a run whose circle metrics start at epoch 0."""
    if "circles/signal" not in record.arrays or record.epochs["circles"][0] != 0:
        return {}
    return {"circle_survivors": survivors(record.arrays["circles/signal"][0, 0],
                                          record.arrays["circles/is_circle"][-1, 0])}


DING = "Ding et al. 2024"
NOTATION = (r"$E_t$: row $t = 0..p-1$ of an operand table of $W_E$, $F_k$ its unnormalised DFT along the residues, "
            r"$P_k$ the Fourier power at frequency $k$; $K = (p-1)/2$. Scalars are of operand a's table, arrays of "
            r"every table.")
SIGNAL = r"s_k = \lVert F_k\rVert_2,\ F_k = \sum_{t=0}^{p-1} E_t\, e^{-2\pi i k t / p}"
THRESHOLD = r"\tau = 2 \operatorname{mean}_{k=0..p-1} s_k\ (s_{p-k} = s_k)"
CIRCLE_CIRCULARITY = (r"\sqrt{(r_u^2 + r_v^2)/2},\ r_u = \frac{P_k\big((E_t \cdot u_k)_t\big)}{\sum_{k'} "
                      r"P_{k'}\big((E_t \cdot u_k)_t\big)},"
                      r"\ u_k = \frac{\operatorname{Re} F_k}{\lVert\operatorname{Re} F_k\rVert},"
                      r"\ v_k = \frac{\operatorname{Im} F_k}{\lVert\operatorname{Im} F_k\rVert}")
KEYS = (
    MetricKey("circles/signal/{k}", "the signal of frequency k = 1..K", SIGNAL, f"{DING}, §3 (signal)",
              "plots/circle_signals.png"),
    MetricKey("circles/signal", "the signal of every frequency k = 0..K [n_tables, K + 1]", SIGNAL,
              f"{DING}, §3 (signal)", "plots/circle_signals.png", "array"),
    MetricKey("circles/threshold", "the signal above which a frequency is a circle", THRESHOLD,
              f"{DING}, §3 (circles)", "plots/circle_signals.png"),
    MetricKey("circles/n_circles", "number of circles: frequencies whose signal exceeds the threshold",
              r"\lvert\{k \in 1..K : s_k > \tau\}\rvert,\quad " + THRESHOLD, f"{DING}, §3 (circles)",
              "plots/circle_signals.png"),
    MetricKey("circles/is_circle", "the circle mask over k = 1..K [n_tables, K]", r"s_k > \tau",
              f"{DING}, §3 (circles)", "plots/circle_signals.png", "array"),
    MetricKey("circles/circularity/{k}", "how round the embedding is on frequency k's (Re F_k, Im F_k) plane (1: a "
              "perfect circle)", CIRCLE_CIRCULARITY, f"{DING}, §3 (circularity)"),
    MetricKey("circles/circularity", "the circularity of every frequency k = 1..K [n_tables, K]", CIRCLE_CIRCULARITY,
              f"{DING}, §3 (circularity)", kind="array"),
    MetricKey("circle_survivors", "the final circles of operand a's table, each with its signal at epoch 0 and that "
              "signal's rank among 1..K (1: strongest); only when the metrics start at epoch 0",
              r"\{(k, s_k(E^{(0)}), \operatorname{rank}_k) : s_k(E^{\mathrm{final}}) > \tau\}",
              f"{DING}, §4 (initial signal and survival)", "plots/circle_signals.png", "summary"),
)

#: ``metrics.circles`` (Ding et al. 2024): ``enabled`` only.
FAMILY = MetricFamily("circles", MetricFamilyConfig, build=lambda cfg, task, model: FunctionMetric(circle_survival),
                      applies=needs_residues, plots=_plots, summary=_summary, media=_media, keys=KEYS,
                      notation=NOTATION)
