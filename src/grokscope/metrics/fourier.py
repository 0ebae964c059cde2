"""Fourier power of the operand embeddings over Z_p (Nanda et al. 2023 §4; Ding et al. 2024)."""

from __future__ import annotations

import numpy as np
import torch

from grokscope.groups.spectral import frequency_power
from grokscope.tasks.base import Task


def embedding_spectrum(model, task: Task, top_k: int) -> dict[str, float | np.ndarray]:
    """``fourier/W_E_power`` ``[n_tables, K + 1]`` (index = frequency, 0 = constant; :func:`frequency_power` of
    ``model.operand_tables``) and the top-``k`` non-constant frequencies of the total power with their share of
    the non-constant power."""
    power = frequency_power(model.operand_tables(task).detach(), task.modulus)  # [n_tables, K + 1]
    total = power.sum(dim=0)[1:]
    share = total / total.sum()
    top = torch.topk(share, top_k)  # top_k <= len(share): checked by MetricsConfig
    out: dict[str, float | np.ndarray] = {"fourier/W_E_power": power.cpu().numpy()}
    for j, (frac, idx) in enumerate(zip(top.values.tolist(), top.indices.tolist()), start=1):
        out[f"fourier/top{j}_freq"] = idx + 1
        out[f"fourier/top{j}_frac"] = frac
    return out
