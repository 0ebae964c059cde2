"""Fourier power of the operand embeddings over Z_p (Nanda et al. 2023 §4; Ding et al. 2024)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from grokscope.config import MetricKey, described, require
from grokscope.figures import Bars, figure
from grokscope.groups.fourier import max_frequency
from grokscope.groups.spectral import frequency_power
from grokscope.metrics.family import FunctionMetric, MetricFamily, MetricFamilyConfig, RunRecord
from grokscope.tasks.base import Task


def embedding_spectrum(model, task: Task, top_k: int) -> dict[str, float | np.ndarray]:
    """``fourier/W_E_power`` ``[n_tables, K + 1]`` (index = frequency, 0 = constant; :func:`frequency_power` of
    ``model.operand_tables``) and the top-``k`` non-constant frequencies of the total power with their share of
    the non-constant power."""
    power = frequency_power(model.operand_tables(task).detach(), task.modulus)  # [n_tables, K + 1]
    total = power.sum(dim=0)[1:]
    share = total / total.sum()
    top = torch.topk(share, top_k)  # top_k <= len(share): checked by FourierConfig
    out: dict[str, float | np.ndarray] = {"fourier/W_E_power": power.cpu().numpy()}
    for j, (frac, idx) in enumerate(zip(top.values.tolist(), top.indices.tolist()), start=1):
        out[f"fourier/top{j}_freq"] = idx + 1
        out[f"fourier/top{j}_frac"] = frac
    return out


@dataclass
class FourierConfig(MetricFamilyConfig):
    """``metrics.fourier``: the ``top_k`` frequencies of most power, logged as ``fourier/top{j}_freq|frac``."""

    top_k: int = described("the frequencies of most power logged as fourier/top{j}_freq and top{j}_frac",
                           allowed=">= 1, at most (p-1)/2")

    def check(self, prefix: str) -> None:
        super().check(prefix)
        require(self.top_k >= 1, f"{prefix}.top_k", self.top_k, "must be >= 1")

    def check_against(self, config, prefix: str) -> None:
        p = config.task.table_shape(config).modulus
        if self.enabled != "false" and p is not None:
            n_freqs = max_frequency(p)
            require(self.top_k <= n_freqs, f"{prefix}.top_k", self.top_k,
                    f"must be <= {n_freqs}, the non-constant frequencies of Z_{p} (or {prefix}.enabled=false)")


def needs_residues(task, model) -> str | None:
    """Applies to tasks whose operands are residues mod ``p`` (``task.modulus``)."""
    return None if task.modulus is not None else f"task {task.name} has no residue operands (task.modulus)"


def spectrum_figure(epochs: np.ndarray, power: np.ndarray, title: str = "Fourier power of W_E"):
    """Heatmap of the share of each non-constant frequency in ``power [n_epochs, n_tables, K + 1]``, each metric
    epoch a band up to the next on an epoch axis with evenly spaced ticks."""
    waves = power.sum(axis=1)[:, 1:]
    share = waves / waves.sum(axis=1, keepdims=True)
    fig, ax = figure((9, 4.5))
    edges = np.append(epochs, epochs[-1] + (epochs[-1] - epochs[-2] if len(epochs) > 1 else 1))  # [n_epochs + 1]
    mesh = ax.pcolormesh(np.arange(0.5, share.shape[1] + 1), edges, share, shading="flat", cmap="viridis")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set(xlabel="frequency k", ylabel="epoch", title=title)
    fig.colorbar(mesh, ax=ax, label="share of non-constant power")
    return fig


def _plots(record: RunRecord):
    if "fourier/W_E_power" in record.arrays:
        yield "fourier_W_E", spectrum_figure(record.epochs["fourier"], record.arrays["fourier/W_E_power"])


def _media(values: dict[str, np.ndarray], task):
    """Bars of the power of each non-constant frequency ``k = 1..K`` (left to right), one panel per operand
    table, at one metric epoch."""
    power = values["fourier/W_E_power"][:, 1:]  # [n_tables, K]
    series = tuple(f"table {t}" for t in range(len(power))) if len(power) > 1 else ()
    yield "fourier/W_E_spectrum", Bars(
        power, "Fourier power of W_E per frequency", "frequency k", "power", series=series,
        caption="Fourier power of each non-constant frequency k of the operand embeddings (W_E); a grokked "
                "network concentrates it on a few key frequencies")


def _build(cfg: FourierConfig, task, model) -> FunctionMetric:
    return FunctionMetric(lambda model, task: embedding_spectrum(model, task, cfg.top_k))


SOURCE = "Nanda et al. 2023, §4 (the embedding is sparse in the Fourier basis)"
NOTATION = (r"$E_t \in \mathbb R^{p \times d}$: operand table $t$ of $W_E$ (the rows of the residues $0..p-1$; one "
            r"table, or one per operand); $K = (p-1)/2$.")
POWER = (r"P_{t,k} = \lVert (F E_t)_{\cos k}\rVert_2^2 + \lVert (F E_t)_{\sin k}\rVert_2^2,\quad "
         r"P_{t,0} = \lVert (F E_t)_{\mathrm{Const}}\rVert_2^2")
SHARE = r"\pi_k = \frac{\sum_t P_{t,k}}{\sum_{k'=1}^{K} \sum_t P_{t,k'}}\quad (k = 1..K)"
KEYS = (
    MetricKey("fourier/W_E_power", "Fourier power of each frequency k = 0..K of each operand table of W_E "
              "[n_tables, K + 1]", POWER, SOURCE, "plots/fourier_W_E.png", "array"),
    MetricKey("fourier/top{j}_freq", "the frequency with the j-th largest share of the non-constant power "
              "(j = 1..top_k)", r"k_{(j)}:\ \pi_{k_{(1)}} \ge \pi_{k_{(2)}} \ge \dots,\quad " + SHARE, SOURCE,
              "plots/fourier_W_E.png"),
    MetricKey("fourier/top{j}_frac", "that frequency's share of the non-constant power of all operand tables",
              r"\pi_{k_{(j)}},\quad " + SHARE, SOURCE, "plots/fourier_W_E.png"),
)

FAMILY = MetricFamily("fourier", FourierConfig, build=_build, applies=needs_residues, plots=_plots, media=_media,
                      keys=KEYS, notation=NOTATION)
