"""Numerical stability of the training objective (Prieto et al. 2025, numerical_stability.md §3): softmax
collapse, exactly-zero losses, naive loss minimisation and the scale of the logits, on the training rows.

The training rows ``R`` are the union of the rows of the task's loss terms of weight ``w_t > 0``; ``z_r`` are a
row's logits, ``y_r`` its label, ``loss`` the run's (:class:`~grokscope.losses.Loss`, its kind and dtype):

- ``stability/softmax_collapse = (1/|R|) Σ_r 1[Σ_j exp(z_rj - max_j z_rj) = 1]``, the sum in the loss's dtype
  (measured whatever the loss's kind: whether a softmax of these logits would collapse);
- ``stability/zero_loss = (1/|R|) Σ_r 1[loss_r = 0]``;
- ``stability/nlm_alignment = cos(-∇_θ L, θ)`` over every trainable parameter flattened together, with
  ``L = Σ_t w_t mean_{r ∈ t} loss_r`` the training objective (NaN where the gradient is exactly zero);
- ``stability/logit_norm = (1/|R|) Σ_r ||z_r||_2``;
- ``stability/margin_histogram``: the training rows counted by their margin ``m_r = z_{r,y_r} - max_{j≠y_r}
  z_rj`` in the bins ``[e_i, e_{i+1})`` of :data:`MARGIN_EDGES`.

A row collapses once every other class's term ``exp(z_j - max z)`` is lost when added to 1: below half the
spacing of floats at 1, ``u = eps/2`` (``2^-11`` float16, ``2^-24`` float32, ``2^-53`` float64). For a row
classified correctly, with the other ``C - 1`` logits at margin ``m``, that is about ``m > ln((C - 1) / u)``
(:func:`collapse_margin`; from ``ln(1/u)`` on where the sum adds the small terms to 1 one at a time); a margin
below ``ln(1/u)`` never collapses.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import torch
from einops import rearrange

from grokscope.config import MetricKey
from grokscope.figures import Bars, figure, points
from grokscope.losses import Loss, softmax_collapsed
from grokscope.metrics.evaluation import Chunk, Evaluation, Pass, Stream, Streamed
from grokscope.metrics.family import MetricFamily, MetricFamilyConfig, RunRecord

#: Edges of the margin histogram's bins ``[e_i, e_{i+1})``: -inf, -10, -5, 0, 5, ..., 100, +inf (24 bins).
MARGIN_EDGES = np.concatenate([[-np.inf], np.arange(-10.0, 101.0, 5.0), [np.inf]])


def objective_weights(task) -> torch.Tensor:
    """``c [N]`` (float64): each row's weight in the training objective, ``L = Σ_r c_r loss_r`` with ``c_r =
    Σ_{t ∋ r, w_t > 0} w_t / |t|``; the training rows are those with ``c_r > 0``."""
    weights = torch.zeros(len(task.labels), dtype=torch.float64, device=task.labels.device)
    for term in task.loss_terms:
        if term.weight > 0:
            mask = task.masks[term.mask]
            weights += mask * (term.weight / mask.sum().clamp(min=1))
    return weights


def logit_margins(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``[n]`` (float64): ``z_y - max_{j≠y} z_j`` of each row (+inf with a single class)."""
    z = logits.double()
    others = z.scatter(1, labels[:, None], -math.inf).amax(dim=1)
    return z.gather(1, labels[:, None]).squeeze(1) - others


def margin_histogram(margins: torch.Tensor) -> torch.Tensor:
    """``[len(MARGIN_EDGES) - 1]`` (long): the rows counted in each bin ``[e_i, e_{i+1})``."""
    inner = torch.as_tensor(MARGIN_EDGES[1:-1], dtype=torch.float64, device=margins.device)
    return torch.bincount(torch.bucketize(margins, inner, right=True), minlength=len(MARGIN_EDGES) - 1)


def collapse_margin(dtype: torch.dtype, n_classes: int) -> float:
    """About the margin beyond which a softmax over ``n_classes`` collapses in ``dtype``, the other logits all
    at that margin: ``ln((C - 1) / u)``, ``u = eps/2`` (the module docstring)."""
    return math.log(max(n_classes - 1, 1) / (torch.finfo(dtype).eps / 2))


class RowSums:
    """The first pass's sums over chunks of training rows: collapsed rows, logit norms and the margin histogram."""

    def __init__(self, dtype: torch.dtype, device):
        self.dtype = dtype
        self.collapsed = torch.zeros((), dtype=torch.long, device=device)
        self.norms = torch.zeros((), dtype=torch.float64, device=device)
        self.histogram = torch.zeros(len(MARGIN_EDGES) - 1, dtype=torch.long, device=device)

    def add(self, chunk: Chunk) -> None:
        self.collapsed += softmax_collapsed(chunk.logits, self.dtype).sum()
        self.norms += torch.linalg.vector_norm(chunk.logits.double(), dim=1).sum()
        self.histogram += margin_histogram(logit_margins(chunk.logits, chunk.labels))


def training_logits(model, tokens: torch.Tensor) -> torch.Tensor:
    """The logits of ``tokens`` as the trainer computes them (the answer position only, where the model can)."""
    if "last_only" in inspect.signature(model.forward).parameters:
        return model(tokens, last_only=True)
    return model(tokens)


def objective_gradient(model, task, loss: Loss, weights: torch.Tensor, chunk_rows: int) -> list[torch.Tensor]:
    """``∇_θ L`` of every trainable parameter, ``L = Σ_r c_r loss_r`` (``weights``: ``c``), from forwards with grad
    over ``chunk_rows`` training rows at a time, in eval mode; the parameters' ``.grad`` is left untouched."""
    params = [p for p in model.parameters() if p.requires_grad]
    grads = [torch.zeros_like(p) for p in params]
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            for index in weights.nonzero().squeeze(1).split(chunk_rows):
                rows = loss.rows(training_logits(model, task.tokens[index]), task.labels[index])
                part = (weights[index].to(rows.dtype) * rows).sum()
                for total, grad in zip(grads, torch.autograd.grad(part, params, allow_unused=True)):
                    if grad is not None:
                        total += grad
    finally:
        model.train(was_training)
    return grads


def flat(tensors) -> torch.Tensor:
    """Every tensor of ``tensors`` flattened into one float64 vector."""
    return torch.cat([rearrange(t.detach().double(), "... -> (...)") for t in tensors])


def nlm_alignment(model, grads: list[torch.Tensor]) -> float:
    """``cos(-∇_θ L, θ)`` over every trainable parameter together (NaN where the gradient is zero)."""
    theta, grad = flat(p for p in model.parameters() if p.requires_grad), flat(grads)
    return float(-(grad @ theta) / (grad.norm() * theta.norm()))


class StabilityMetric(Streamed):
    """``stability/...`` (the module docstring). Streamed: one pass over the training rows sums the collapsed
    rows, the logit norms and the margin histogram; the gradient of the objective then takes its own chunked
    forwards with grad."""

    def stream(self, model, task, ev: Evaluation) -> Stream:
        weights = objective_weights(task)
        rows = weights.nonzero().squeeze(1)
        sums = RowSums(ev.loss.dtype, weights.device)
        yield Pass(sums.add, rows=rows)
        grads = objective_gradient(model, task, ev.loss, weights, ev.chunk_rows)
        return {
            "stability/softmax_collapse": sums.collapsed.item() / len(rows),
            "stability/zero_loss": (ev.row_loss[rows] == 0).double().mean().item(),
            "stability/nlm_alignment": nlm_alignment(model, grads),
            "stability/logit_norm": sums.norms.item() / len(rows),
            "stability/margin_histogram": sums.histogram.cpu().numpy(),
        }


def no_weight_decay(task, model, optimizer=None) -> bool:
    """On where the run's optimizer uses no weight decay (Prieto et al. 2025's setting)."""
    return optimizer is not None and optimizer.weight_decay == 0


FRACTION = {"yscale": "linear", "ylim": (-0.03, 1.03)}
#: The panels of ``plots/stability.png``: (title, y label, axes settings, (key, label) of each line).
PANELS = (
    ("Accuracy", "accuracy", FRACTION, (("train/acc", "train"), ("test/acc", "test"))),
    ("Softmax collapse", "fraction of training rows", FRACTION,
     (("stability/softmax_collapse", "softmax collapsed"), ("stability/zero_loss", "zero loss"))),
    ("Naive loss minimisation", "cos(-∇L, θ)", {"yscale": "linear"}, (("stability/nlm_alignment", "NLM alignment"),)),
    ("Scale", "L2 norm", {"yscale": "log"}, (("stability/logit_norm", "mean logit norm"),
                                             ("weights/norm", "weight norm"))),
)


def _plots(record: RunRecord):
    if not record.logged("stability/softmax_collapse"):
        return
    fig, axes = figure((11, 7.5), 2, 2, sharex=True)
    for ax, (title, ylabel, settings, lines) in zip(axes.flat, PANELS):
        for key, label in lines:
            if record.logged(key):
                epochs, values = record.series(key)
                ax.plot(epochs, values, label=label, **points(len(epochs)))
        ax.set(title=title, xscale="log", ylabel=ylabel, **settings)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    for ax in axes[-1]:
        ax.set_xlabel("epoch + 1")
    fig.suptitle("Numerical stability on the training rows")
    yield "stability", fig


def margin_labels() -> tuple[str, ...]:
    """The bins of :data:`MARGIN_EDGES` as tick labels."""
    inner = [f"{lo:g}–{hi:g}" for lo, hi in zip(MARGIN_EDGES[1:-2], MARGIN_EDGES[2:-1])]
    return (f"< {MARGIN_EDGES[1]:g}", *inner, f"≥ {MARGIN_EDGES[-2]:g}")


def _media(values: dict[str, np.ndarray], task):
    """The training rows by logit margin, the bins beyond the float32 collapse margin dark."""
    single, double = (collapse_margin(dtype, task.n_classes) for dtype in (torch.float32, torch.float64))
    yield "stability/margin_bars", Bars(
        values["stability/margin_histogram"], "Training rows by logit margin", "logit margin z_y − max_{j≠y} z_j",
        "training rows", xticklabels=margin_labels(), dark=MARGIN_EDGES[:-1] >= single,
        dark_label="beyond the float32 collapse margin",
        caption=f"training rows by the margin of the correct logit over the largest other one; a softmax over "
                f"{task.n_classes} classes collapses beyond a margin of about {single:.0f} in float32 "
                f"(ln(2^24 (C-1))) and about {double:.0f} in float64 (ln(2^53 (C-1)))")


def finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _summary(record: RunRecord) -> dict:
    """The first metric epoch with most training rows collapsed, and the final and largest NLM alignment."""
    if not record.logged("stability/softmax_collapse"):
        return {}
    epochs, collapse = record.series("stability/softmax_collapse")
    _, alignment = record.series("stability/nlm_alignment")
    above = np.flatnonzero(collapse > 0.5)
    finite = alignment[np.isfinite(alignment)]
    return {
        "stability/sc_half_epoch": int(epochs[above[0]]) - 1 if len(above) else None,
        "stability/final_softmax_collapse": float(collapse[-1]),
        "stability/final_nlm_alignment": finite_or_none(alignment[-1]),
        "stability/max_nlm_alignment": float(finite.max()) if len(finite) else None,
    }


PRIETO = "Prieto et al. 2025 (numerical_stability.md §3)"
PLOT = "plots/stability.png"
NOTATION = (r"$R$: the training rows (the rows of the loss terms of weight $w_t > 0$); $z_r$: row $r$'s logits, "
            r"$y_r$ its label; $\mathrm{fl}$: rounding to the loss's dtype (`loss_dtype`); $\mathcal L_r$: the row's "
            r"loss (`loss.kind`); $L = \sum_t w_t \frac{1}{|t|} \sum_{r \in t} \mathcal L_r$ the training objective; "
            r"$\theta$: every trainable parameter, flattened together.")
SC = r"\frac{1}{|R|} \sum_{r \in R} \mathbb 1\Big[\mathrm{fl}\Big(\sum_j e^{z_{rj} - \max_k z_{rk}}\Big) = 1\Big]"
MARGIN = r"m_r = z_{r y_r} - \max_{j \ne y_r} z_{rj}"
KEYS = (
    MetricKey("stability/softmax_collapse", "fraction of training rows whose softmax collapses in the loss's dtype "
              "(whatever loss.kind is)", SC, PRIETO, PLOT),
    MetricKey("stability/zero_loss", "fraction of training rows whose loss is exactly 0 (the run's loss kind and "
              "dtype)", r"\frac{1}{|R|} \sum_{r \in R} \mathbb 1[\mathcal L_r = 0]", PRIETO, PLOT),
    MetricKey("stability/nlm_alignment", "cosine of the negative gradient of the training objective with the "
              "parameters (naive loss minimisation; NaN where the gradient is exactly zero)",
              r"\cos(-\nabla_\theta L, \theta) = \frac{-\nabla_\theta L \cdot \theta}"
              r"{\lVert \nabla_\theta L \rVert_2 \lVert \theta \rVert_2}", PRIETO, PLOT),
    MetricKey("stability/logit_norm", "mean L2 norm of the training rows' logit vectors",
              r"\frac{1}{|R|} \sum_{r \in R} \lVert z_r \rVert_2", PRIETO, PLOT),
    MetricKey("stability/margin_histogram", "training rows counted by logit margin in the bins [e_i, e_{i+1}) of "
              "the edges -inf, -10, -5, 0, 5, ..., 100, +inf [24]; a float32 softmax collapses beyond a margin of "
              "about ln(2^24 (C-1)), a float64 one beyond about ln(2^53 (C-1))",
              r"h_i = \lvert\{r \in R : e_i \le m_r < e_{i+1}\}\rvert,\quad " + MARGIN, PRIETO, kind="array"),
    MetricKey("stability/sc_half_epoch", "the first metric epoch at which more than half the training rows' "
              "softmax collapses (null: never)", r"\min\{e : \mathrm{SC}(e) > 0.5\}", PRIETO, PLOT, kind="summary"),
    MetricKey("stability/final_softmax_collapse", "the softmax-collapse fraction at the last metric epoch",
              SC, PRIETO, PLOT, kind="summary"),
    MetricKey("stability/final_nlm_alignment", "the NLM alignment at the last metric epoch (null: undefined, a "
              "zero gradient)", r"\cos(-\nabla_\theta L, \theta)", PRIETO, PLOT, kind="summary"),
    MetricKey("stability/max_nlm_alignment", "the largest NLM alignment over the metric epochs (null: none defined)",
              r"\max_e \cos(-\nabla_\theta L, \theta)(e)", PRIETO, PLOT, kind="summary"),
)

#: ``metrics.stability``: ``enabled`` only; ``auto`` runs it where the optimizer has no weight decay.
FAMILY = MetricFamily("stability", MetricFamilyConfig, build=lambda cfg, task, model: StabilityMetric(),
                      auto=no_weight_decay, plots=_plots, summary=_summary, media=_media, keys=KEYS,
                      notation=NOTATION)
