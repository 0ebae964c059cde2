"""Metric functions on hand-built inputs with known answers."""

from __future__ import annotations

import math

import torch

from grokscope.metrics.fourier import embedding_spectrum, frequency_power
from grokscope.metrics.weights import weight_norms
from grokscope.tasks.modular import ModularConfig, modular_task


class FixedEmbedding(torch.nn.Module):
    def __init__(self, W_E: torch.Tensor):
        super().__init__()
        self.W_E = torch.nn.Parameter(W_E)

    def operand_embeddings(self, operand_tokens):
        return self.W_E[operand_tokens]


def test_frequency_power_sums_to_norm_and_finds_frequency():
    p, k = 31, 7
    x = torch.arange(p, dtype=torch.float64)
    values = torch.stack([torch.cos(2 * math.pi * k * x / p), 3 * torch.sin(2 * math.pi * k * x / p) + 2], dim=1)
    power = frequency_power(values, p)
    assert power.shape == (16,)
    assert torch.isclose(power.sum(), values.pow(2).sum())
    assert torch.isclose(power[k], values.pow(2).sum() - 4 * p) and torch.isclose(power[0], torch.tensor(4.0 * p,
                                                                                            dtype=torch.float64))


def test_embedding_spectrum_top_frequency():
    cfg = ModularConfig(name="modular", p=23, op="add", frac_train=0.5, equals_token=True,
                        separate_operand_vocab=False)
    task = modular_task(cfg, 0)
    x = torch.arange(24, dtype=torch.float32)
    W_E = torch.stack([torch.cos(2 * math.pi * 5 * x / 23), torch.sin(2 * math.pi * 5 * x / 23),
                       0.1 * torch.cos(2 * math.pi * 2 * x / 23)], dim=1)
    out = embedding_spectrum(FixedEmbedding(W_E), task, top_k=2)
    assert out["fourier/W_E_power"].shape == (1, 12)
    assert out["fourier/top1_freq"] == 5 and out["fourier/top2_freq"] == 2
    assert out["fourier/top1_frac"] > 0.98


def test_weight_norms():
    model = torch.nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.fill_(2.0)
    out = weight_norms(model)
    assert out["weights/sum_sq"] == 6 + 8 and math.isclose(out["weights/norm"], math.sqrt(14))
    assert math.isclose(out["weights/norm/bias"], math.sqrt(8))
