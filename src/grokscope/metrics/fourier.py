"""Fourier power of the operand embeddings over Z_p (Nanda et al. 2023 §4; Ding et al. 2024)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from einops import einsum, reduce

from grokscope.config import require
from grokscope.figures import figure
from grokscope.groups import fourier_basis
from grokscope.metrics.family import FamilyConfig, FunctionMetric, MetricFamily, RunRecord
from grokscope.tasks.base import Task


def frequency_power(values: torch.Tensor, p: int) -> torch.Tensor:
    """Power per frequency of functions on Z_p: ``values [..., p, d] -> [..., (p-1)/2 + 1]``.

    With the orthonormal basis ``F`` (rows Const, cos 1, sin 1, ...), frequency ``k`` has power
    ``||(F v)_{cos k}||^2 + ||(F v)_{sin k}||^2`` and frequency 0 is ``||(F v)_Const||^2``; the powers sum
    to ``||v||^2``.
    """
    basis = fourier_basis(p, values.dtype, values.device)
    per_row = reduce(einsum(basis, values, "f x, ... x d -> ... f d").pow(2), "... f d -> ... f", "sum")
    const, waves = per_row[..., :1], per_row[..., 1 : 2 * ((p - 1) // 2) + 1]
    pairs = reduce(waves, "... (k two) -> ... k", "sum", two=2)
    return torch.cat([const, pairs], dim=-1)


def distinct_tables(model, task: Task) -> torch.Tensor:
    """Operand embeddings ``[n_tables, p, d]``, keeping one copy when operands share a table."""
    emb = model.operand_embeddings(task.operand_tokens).detach()  # [n_operands, p, d]
    keep = [i for i in range(len(emb)) if not any(torch.equal(emb[i], emb[j]) for j in range(i))]
    return emb[keep]


def embedding_spectrum(model, task: Task, top_k: int) -> dict[str, float | np.ndarray]:
    """``fourier/W_E_power`` ``[n_tables, K + 1]`` (index = frequency, 0 = constant) and the top-``k``
    non-constant frequencies of the total power with their share of the non-constant power."""
    power = frequency_power(distinct_tables(model, task), task.modulus)  # [n_tables, K + 1]
    total = power.sum(dim=0)[1:]
    share = total / total.sum()
    top = torch.topk(share, top_k)  # top_k <= len(share): checked by FourierConfig
    out: dict[str, float | np.ndarray] = {"fourier/W_E_power": power.cpu().numpy()}
    for j, (frac, idx) in enumerate(zip(top.values.tolist(), top.indices.tolist()), start=1):
        out[f"fourier/top{j}_freq"] = idx + 1
        out[f"fourier/top{j}_frac"] = frac
    return out


def fourier_signal(values: torch.Tensor, p: int) -> torch.Tensor:
    """Signal ``s_k = ||F_k||`` of ``values [..., p, d] -> [..., (p-1)/2 + 1]`` (circle_survival.md §6.1).

    ``F_k = sum_t v_t e^{-2 pi i k t / p}`` is the unnormalised DFT along the token axis; in the orthonormal
    basis ``||Re F_k||^2 + ||Im F_k||^2 = (p/2) P_k`` for ``k >= 1`` and ``||F_0||^2 = p P_0``, with ``P`` the
    :func:`frequency_power`. Hence ``sum_{k=0}^{p-1} s_k^2 = p ||v||_F^2`` (each ``k >= 1`` stands for ``+-k``).
    """
    power = frequency_power(values, p)
    scale = torch.full((power.shape[-1],), p / 2, dtype=power.dtype, device=power.device)
    scale[0] = p
    return (power * scale).sqrt()


@dataclass
class FourierConfig(FamilyConfig):
    """``metrics.fourier``: the ``top_k`` frequencies of most power, logged as ``fourier/top{j}_freq|frac``."""

    top_k: int

    def check(self, prefix: str) -> None:
        super().check(prefix)
        require(self.top_k >= 1, f"{prefix}.top_k", self.top_k, "must be >= 1")

    def check_against(self, config, prefix: str) -> None:
        p = config.task.table_shape(config).modulus
        if self.enabled != "false" and p is not None:
            n_freqs = (p - 1) // 2
            require(self.top_k <= n_freqs, f"{prefix}.top_k", self.top_k,
                    f"must be <= {n_freqs}, the non-constant frequencies of Z_{p} (or {prefix}.enabled=false)")


def needs_residues(task, model) -> str | None:
    """Applies to tasks whose operands are residues mod ``p`` (``task.modulus``)."""
    return None if task.modulus is not None else f"task {task.name} has no residue operands (task.modulus)"


def spectrum_figure(epochs: np.ndarray, power: np.ndarray, title: str = "Fourier power of W_E"):
    """Heatmap of the share of each non-constant frequency in ``power [n_epochs, n_tables, K + 1]``."""
    waves = power.sum(axis=1)[:, 1:]
    share = waves / waves.sum(axis=1, keepdims=True)
    fig, ax = figure((9, 4.5))
    mesh = ax.pcolormesh(np.arange(1, share.shape[1] + 1), np.arange(len(epochs)), share, shading="nearest",
                         cmap="viridis")
    ticks = np.linspace(0, len(epochs) - 1, min(8, len(epochs))).astype(int)
    ax.set_yticks(ticks, [str(epochs[i]) for i in ticks])
    ax.set(xlabel="frequency k", ylabel="epoch", title=title)
    fig.colorbar(mesh, ax=ax, label="share of non-constant power")
    return fig


def _plots(record: RunRecord):
    if "fourier/W_E_power" in record.arrays:
        yield "fourier_W_E", spectrum_figure(record.epochs["fourier"], record.arrays["fourier/W_E_power"])


def _build(cfg: FourierConfig, task, model) -> FunctionMetric:
    return FunctionMetric(lambda model, task: embedding_spectrum(model, task, cfg.top_k))


FAMILY = MetricFamily("fourier", FourierConfig, build=_build, applies=needs_residues, plots=_plots)
