"""Clock vs pizza (Zhong, Liu, Tegmark, Andreas 2023; reference/pizza.md §6): gradient symmetricity, distance
irrelevance, logit-shape statistics, circularity and the clock/pizza template fits, under ``pizza/...``.

Notation: ``l_c(a, b)`` is the logit of class ``c`` at the answer position. For a statistic ``q(a, b)``,
``M[s, d] = q(a, b)`` with ``s = (a + b) mod p`` (row) and ``d = (a - b) mod p`` (column), a bijection for odd ``p``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from grokscope.config import MetricKey, described, require, require_choice
from grokscope.figures import Heatmap
from grokscope.metrics.circles import circle_template_fve, circularity, principal_components
from grokscope.metrics.evaluation import Chunk, Evaluation, Pass, Stream, Streamed
from grokscope.metrics.family import MetricFamily, MetricFamilyConfig

GS_TOKENS = ("task", "raw")
CIRCULARITY_ROWS = ("operands", "all")


@dataclass
class PizzaConfig(MetricFamilyConfig):
    """``metrics.pizza``: gradient symmetricity on ``gs_samples`` (row, class) pairs drawn with
    ``gs_seed``, fed as the task's own tokens (``gs_tokens: task``) or literally ``[a, b]`` as the original
    (``raw``: wrong rows for ``b`` with ``separate_operand_vocab``, "=" dropped; matches its CSVs); circularity
    on the operand rows (``circularity_rows: operands``) or on every ``W_E`` row as the original (``all``)."""

    gs_samples: int = described("(row, class) pairs of the gradient symmetricity, drawn once", allowed=">= 1")
    gs_seed: int = described("random.Random(gs_seed).shuffle draws them (as the original)")
    gs_tokens: str = described("task: the task's token layout; raw: literally [a, b] (the original's)",
                               choices=GS_TOKENS)
    circularity_rows: str = described("operands: each operand's own rows of W_E; all: every row (the original's)",
                                      choices=CIRCULARITY_ROWS)

    def check(self, prefix: str) -> None:
        super().check(prefix)
        require(self.gs_samples >= 1, f"{prefix}.gs_samples", self.gs_samples, "must be an integer >= 1")
        require_choice(f"{prefix}.gs_tokens", self.gs_tokens, GS_TOKENS)
        require_choice(f"{prefix}.circularity_rows", self.circularity_rows, CIRCULARITY_ROWS)


def sum_difference_matrix(values: torch.Tensor, operands: torch.Tensor, p: int) -> torch.Tensor:
    """``M [p, p]`` with ``M[(a + b) mod p, (a - b) mod p] = values[row of (a, b)]`` (``values [p^2]``)."""
    a, b = operands.T
    M = values.new_empty(p, p)
    M[(a + b) % p, (a - b) % p] = values
    return M


def correct_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``q(a, b) = l_{(a + b) mod p}(a, b)`` ``[N]``: the paper's statistic for distance irrelevance."""
    return logits.gather(1, labels[:, None])[:, 0]


def max_wrong_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``q(a, b) = max_{c != (a + b) mod p} l_c(a, b)`` ``[N]`` over every output (the original training script's
    statistic, hence the one in its CSVs and README figures)."""
    return logits.scatter(1, labels[:, None], float("-inf")).amax(dim=1)


#: distance-irrelevance variant -> the statistic ``q(a, b)`` it is computed on
LOGIT_STATISTICS = {"correct": correct_logits, "max_wrong": max_wrong_logits}


def logit_matrix(logits: torch.Tensor, task, variant: str = "correct") -> torch.Tensor:
    """``M [p, p]`` of the statistic ``variant`` (``correct``: the paper's; ``max_wrong``: the original CSVs')."""
    return sum_difference_matrix(LOGIT_STATISTICS[variant](logits, task.labels), task.operands, task.modulus)


def distance_irrelevance(M: torch.Tensor) -> float:
    """``DI = mean_d std_s M[s, d] / std_{s,d} M`` (population stds; pizza.md §6.2): the share of the spread of
    ``q`` that ``a - b`` does not explain. About 1 when ``q`` depends on ``a + b`` only (clock), about 0 when it
    depends on ``a - b`` only (pizza: the correct logit scales like ``|cos(w (a - b) / 2)|``)."""
    return (M.std(dim=0, correction=0).mean() / M.std(correction=0)).item()


def logit_shape_statistics(M: torch.Tensor) -> dict[str, float]:
    """On ``N = (M - min M) / (max M - min M)`` (pizza.md §6.4, the original's CSV columns):
    ``std_med_col = std_d median_s N``, ``std_mean_col = std_d mean_s N``, ``mean_std_row = mean_s std_d N``,
    ``med_std_row = median_s std_d N`` (population stds)."""
    N = (M - M.min()) / (M.max() - M.min())
    row_std = N.std(dim=1, correction=0)
    return {
        "pizza/std_med_col": N.quantile(0.5, dim=0).std(correction=0).item(),
        "pizza/std_mean_col": N.mean(dim=0).std(correction=0).item(),
        "pizza/mean_std_row": row_std.mean().item(),
        "pizza/med_std_row": row_std.quantile(0.5).item(),
    }


def symmetricity_sample(n_rows: int, n_classes: int, n_samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows and classes ``[n_samples]``: the first ``n_samples`` of every ``(row, c)`` pair in lexicographic order
    after ``random.Random(seed).shuffle`` (pizza.md §6.1: 100 triples ``(a, b, c)`` with seed 42; with the
    row-major table this is the original's sample exactly)."""
    order = list(range(n_rows * n_classes))
    random.Random(seed).shuffle(order)
    index = torch.tensor(order[:n_samples])
    return index // n_classes, index % n_classes


def gradient_symmetricity(model, tokens: torch.Tensor, classes: torch.Tensor, slots: tuple[int, int]) -> float:
    """``GS = mean_i cos(d l_{c_i} / d e_1, d l_{c_i} / d e_2)`` over the inputs ``tokens [n, n_ctx]``, with
    ``e_1, e_2`` the operand embedding vectors (``hook_embed``'s output at ``slots``, before any positional
    embedding) and the raw logit of class ``c_i`` (pizza.md §6.1). The inputs are independent, so one backward
    of ``sum_i l_{c_i}`` gives every per-input gradient. 1 for models that add the operand embeddings before
    any nonlinearity."""
    captured = {}

    def as_leaf(_module, _inputs, output):  # gradients stop here, so a frozen W_E works too
        captured["emb"] = output.detach().requires_grad_()
        return captured["emb"]

    was_training = model.training
    model.eval()
    handle = model.hook_embed.register_forward_hook(as_leaf)
    try:
        with torch.enable_grad():
            logits = model(tokens)
            (grad,) = torch.autograd.grad(logits.gather(1, classes[:, None]).sum(), captured["emb"])
    finally:
        handle.remove()
        model.train(was_training)
    grad = grad.double()  # [n, n_slots, d_embed]
    # torch's cosine, not torchmetrics': a zero gradient (a dead neuron's class) counts as 0 here, NaN there
    return torch.nn.functional.cosine_similarity(grad[:, slots[0]], grad[:, slots[1]], dim=-1).mean().item()


def is_modular_addition(task) -> bool:
    """Whether ``task`` is the whole table of ``(a + b) mod p`` for an odd ``p`` (what these metrics assume)."""
    p = task.modulus
    return (p is not None and p % 2 == 1 and len(task.labels) == p * p
            and torch.equal(task.labels, task.operands.sum(dim=1) % p))


class PizzaMetrics(Streamed):
    """The ``pizza/...`` metrics of one run; the gradient-symmetricity sample is drawn once, here. Streamed: the
    logit matrices ``M [p, p]`` are filled chunk by chunk, and the template fits run their own chunked
    forwards."""

    hooks: tuple[str, ...] = ()

    def __init__(self, cfg: PizzaConfig, task):
        self.cfg = cfg
        rows, self.gs_classes = symmetricity_sample(len(task.labels), task.n_classes, cfg.gs_samples, cfg.gs_seed)
        self.gs_tokens = (task.operands if cfg.gs_tokens == "raw" else task.tokens)[rows]  # [n, n_ctx]

    def stream(self, model, task, ev: Evaluation) -> Stream:
        p, device = task.modulus, task.tokens.device
        matrices: dict[str, torch.Tensor] = {}

        def fill(chunk: Chunk) -> None:
            a, b = task.operands[chunk.index].T
            for variant, statistic in LOGIT_STATISTICS.items():
                q = statistic(chunk.logits, chunk.labels)
                if variant not in matrices:
                    matrices[variant] = q.new_empty(p, p)
                matrices[variant][(a + b) % p, (a - b) % p] = q

        yield Pass(fill)
        slots = model.operand_slots(task.operand_positions)
        out: dict[str, float | np.ndarray] = {"pizza/gradient_symmetricity": gradient_symmetricity(
            model, self.gs_tokens.to(device), self.gs_classes.to(device), slots)}
        correct, max_wrong = matrices["correct"], matrices["max_wrong"]
        out["pizza/distance_irrelevance"] = distance_irrelevance(correct)
        out["pizza/distance_irrelevance_max_wrong"] = distance_irrelevance(max_wrong)
        out.update(logit_shape_statistics(max_wrong))
        out["pizza/correct_logits"] = correct.cpu().numpy()
        out["pizza/max_wrong_logits"] = max_wrong.cpu().numpy()
        if self.cfg.circularity_rows == "all":
            out["pizza/circularity"] = circularity(principal_components(model.W_E).scores, p)
        else:
            for suffix, table in zip(("", "_b"), model.operand_tables(task).detach()):
                out[f"pizza/circularity{suffix}"] = circularity(principal_components(table).scores, p)
        out.update(circle_template_fve(model, task, chunk_rows=ev.chunk_rows))
        return out


def needs_modular_addition(task, model) -> str | None:
    """Applies to the whole table of (a + b) mod p for an odd p (:func:`is_modular_addition`)."""
    return None if is_modular_addition(task) else \
        f"needs the whole table of (a + b) mod p for an odd p (task=modular, op=add); task {task.name} is not"


def _media(values: dict[str, np.ndarray], task):
    """The logit maps ``M[(a + b) mod p, (a - b) mod p]`` of the correct and the largest wrong logit, ``a + b``
    across and ``a - b`` up."""
    for key, name, what in (("pizza/correct_logits", "pizza/correct_logit_map", "correct logit"),
                            ("pizza/max_wrong_logits", "pizza/max_wrong_logit_map", "largest wrong logit")):
        yield name, Heatmap(
            values[key].T, f"The {what} over (a + b, a - b) mod p", "(a + b) mod p", "(a - b) mod p",
            what, caption=f"the {what} of each pair (a, b), placed at (a + b, a - b) mod p: a clock's depends "
                          "on a + b alone (vertical stripes), a pizza's on a - b too")


ZHONG = "Zhong et al. 2023"
NOTATION = (r"$\ell_c(a, b)$: the logit of class $c$, $y = (a + b) \bmod p$ the label; for a statistic $q(a, b)$, "
            r"$M_{s,d} = q(a, b)$ with $s = (a + b) \bmod p$ and $d = (a - b) \bmod p$; standard deviations are "
            r"population ones; $e_1, e_2$: the operand embedding vectors.")
DI = (r"\mathrm{DI} = \frac{\frac1p \sum_d \operatorname{std}_s M_{s,d}}{\operatorname{std}_{s,d} M},\quad "
      r"M_{s,d} = q(a,b),\ s = a + b,\ d = a - b \pmod p")
NORMALISED = r"N = \frac{M - \min M}{\max M - \min M},\ q(a,b) = \max_{c \ne y} \ell_c(a,b)"
CIRCULARITY = (r"\frac14 \sum_{j=1}^{4} \min\Big(1, \max_{k \ge 1} \frac{P_j(k)}{\lVert u_j\rVert_2^2}\Big),\ "
               r"u_j \text{ the } j\text{-th principal component's scores}, P_j(k) \text{ its Fourier power at } k")
#: the logits with circle j alone kept in W_E (every operand row: the PCA mean plus its projection on components
#: 2j-2, 2j-1), ``w = 2 pi k_j / p``, ``z`` the z-score over all entries
FVE = r"\mathrm{FVE}(Q) = 1 - \frac{\operatorname{Var}(z(L^{(j)}) - z(Q))}{\operatorname{Var}(z(L^{(j)}))}"
CLOCK = r"Q_{\mathrm{clock}}(a,b,c) = \cos(w(a + b - c))"
PIZZA = (r"Q_{\mathrm{pizza}}(a,b,c) = 2\,\lvert\cos(w(a-b)/2)\rvert\,\big(\lvert\cos(w(a+b-c)/2)\rvert - "
         r"\lvert\sin(w(a+b-c)/2)\rvert\big)")
SHAPE = f"{ZHONG}, §4 (the original code's logit statistics)"
KEYS = (
    MetricKey("pizza/gradient_symmetricity", "mean cosine between the gradients of a logit with respect to the two "
              "operand embedding vectors, over gs_samples (a, b, c) drawn once",
              r"\mathrm{GS} = \frac{1}{\lvert S\rvert}\sum_{(a,b,c) \in S} "
              r"\cos\Big(\frac{\partial \ell_c}{\partial e_1},"
              r" \frac{\partial \ell_c}{\partial e_2}\Big)", f"{ZHONG}, §4 (gradient symmetricity)"),
    MetricKey("pizza/distance_irrelevance", "how little the correct logit depends on a - b (about 1: clock; low: "
              "pizza)", DI + r",\ q(a,b) = \ell_y(a,b)", f"{ZHONG}, §4 (distance irrelevance)"),
    MetricKey("pizza/distance_irrelevance_max_wrong", "the same with the largest wrong logit (the original code's "
              "logged variant)", DI + r",\ q(a,b) = \max_{c \ne y} \ell_c(a,b)", f"{ZHONG}, §4 (distance irrelevance)"),
    MetricKey("pizza/std_med_col", "spread over a - b of the median over a + b of the normalised max-wrong logit",
              r"\operatorname{std}_d \operatorname{median}_s N_{s,d},\quad " + NORMALISED, SHAPE),
    MetricKey("pizza/std_mean_col", "the same with the mean", r"\operatorname{std}_d \operatorname{mean}_s N_{s,d}",
              SHAPE),
    MetricKey("pizza/mean_std_row", "mean over a + b of the spread over a - b",
              r"\operatorname{mean}_s \operatorname{std}_d N_{s,d}", SHAPE),
    MetricKey("pizza/med_std_row", "median over a + b of the spread over a - b",
              r"\operatorname{median}_s \operatorname{std}_d N_{s,d}", SHAPE),
    MetricKey("pizza/circularity", "how close the top four principal components of the operand rows of W_E are to "
              "sinusoids over the residues (1: pairs of components trace circles)", CIRCULARITY,
              f"{ZHONG}, §3 (circles in the embedding)"),
    MetricKey("pizza/circularity_b", "the same for b's own rows (separate_operand_vocab, or one table per operand)",
              CIRCULARITY, f"{ZHONG}, §3 (circles in the embedding)"),
    MetricKey("pizza/circle{j}_freq", "frequency of circle j (principal components 2j-2, 2j-1 of the operand rows), "
              "j = 1..4", r"k_j = \arg\max_{k \ge 1} P_{2j-2,2j-1}(k)", f"{ZHONG}, §3 (circles in the embedding)"),
    MetricKey("pizza/circle{j}_fve_clock", "fraction of the variance of the logits with circle j alone kept that "
              "the clock template explains (1: a perfect fit; -1: uncorrelated)",
              FVE + r",\ Q = " + CLOCK + r",\ w = 2\pi k_j / p", f"{ZHONG}, §3 (clock and pizza logit patterns)"),
    MetricKey("pizza/circle{j}_fve_pizza", "the same for the pizza template",
              FVE + r",\ Q = " + PIZZA + r",\ w = 2\pi k_j / p", f"{ZHONG}, §3 (clock and pizza logit patterns)"),
    MetricKey("pizza/correct_logits", "the correct logit over (a + b, a - b) [p, p]",
              r"M_{s,d} = \ell_y(a,b),\ s = a + b,\ d = a - b \pmod p", f"{ZHONG}, §4", kind="array"),
    MetricKey("pizza/max_wrong_logits", "the largest wrong logit over (a + b, a - b) [p, p]",
              r"M_{s,d} = \max_{c \ne y} \ell_c(a,b)", f"{ZHONG}, §4", kind="array"),
)

FAMILY = MetricFamily("pizza", PizzaConfig, applies=needs_modular_addition, media=_media, keys=KEYS, notation=NOTATION,
                      build=lambda cfg, task, model: PizzaMetrics(cfg, task))
