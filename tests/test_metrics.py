"""Metric functions on hand-built inputs with known answers."""

from __future__ import annotations

import math

import torch

from grokscope.groups.spectral import frequency_power
from grokscope.losses import Loss
from grokscope.metrics.fourier import embedding_spectrum
from grokscope.metrics.weights import weight_norms
from grokscope.models.base import GrokModel
from grokscope.run import build, recorder_parts
from grokscope.run.config import validate
from grokscope.tasks.modular import ModularConfig, modular_task
from grokscope.training.callbacks import MetricsRecorder
from grokscope.training.outputs import ArrayStore
from tests.helpers.config import make_config


class FixedEmbedding(GrokModel):
    def __init__(self, W_E: torch.Tensor):
        super().__init__()
        self.W_E = torch.nn.Parameter(W_E)


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


def test_frequency_power_equals_per_frequency_loop():
    """The batched projection on the cached basis equals a straightforward DFT, one frequency and one
    embedding dimension at a time (speed.md §5)."""
    p, d = 13, 5
    values = torch.randn(2, p, d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = torch.arange(p, dtype=torch.float64)
    for table, power in zip(values, frequency_power(values, p)):
        expected = [sum(float(table[:, j].sum()) ** 2 / p for j in range(d))]
        for k in range(1, (p - 1) // 2 + 1):
            cos, sin = (f(2 * math.pi * k * x / p) * math.sqrt(2 / p) for f in (torch.cos, torch.sin))
            expected.append(sum(float(cos @ table[:, j]) ** 2 + float(sin @ table[:, j]) ** 2 for j in range(d)))
        assert torch.allclose(power, torch.tensor(expected, dtype=torch.float64))


def test_metrics_share_one_forward(tmp_path):
    """A metrics epoch runs one forward over the whole table, shared by the split scores and every metric."""
    config = validate(make_config("task.p=11"))
    task, model = build(config)
    recorder = MetricsRecorder(*recorder_parts(config, task, model)[1], ArrayStore(tmp_path))
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    assert recorder.start(task, epoch=0)
    recorder.record(model, task, Loss(), epoch=0, last=True)
    assert len(calls) == 1
    assert {"test/acc", "weights/norm", "fourier/top1_freq"} <= recorder.history[-1].keys()
