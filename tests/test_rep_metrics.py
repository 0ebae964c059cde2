"""Representation-theory metrics and Nanda's progress measures on hand-built networks with known answers,
and one test per bug of the original code (rep_theory.md §8)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import grokscope.metrics.class_sums as class_sums_module
from grokscope.groups import alternating, cyclic, symmetric
from grokscope.groups.basis import group_basis
from grokscope.losses import Loss
from grokscope.metrics import evaluate
from grokscope.metrics.cross_entropy import shifted_losses, table_loss
from grokscope.metrics.progress import ProgressMetric, frequency_fractions, gini, neuron_frequencies
from grokscope.metrics.rep_theory import RepTheoryMetric, irrep_fractions, logit_similarity
from grokscope.metrics.weights import weight_norms
from grokscope.run import build
from grokscope.run.config import validate
from grokscope.tasks.composition import CompositionConfig, composition_task
from grokscope.tasks.modular import ModularConfig, modular_task
from tests.helpers.config import make_config
from tests.helpers.irrep_network import IrrepNetwork

pytestmark = pytest.mark.usefixtures("irreps_cache")


def run_metric(metric_cls, model, task, *args):
    metric = metric_cls(model, task, *args)
    ev = evaluate(model, task, Loss(), metric.hooks)
    return metric(model, task, ev), ev


def clock(p: int, freqs: list[int], scale: float = 4.0):
    task = modular_task(ModularConfig("modular", p, "add", 0.3, True, False), 0)
    return task, IrrepNetwork(task, [f"freq_{k}" for k in freqs], scale)


def composition(group, form: str = "ab", frac_train: float = 0.5):
    return composition_task(CompositionConfig("composition", form, frac_train, True), group, 0)


# ---------------------------------------------------------------- the clock network


def test_clock_progress_measures():
    p, freqs = 23, [2, 5, 7]
    task, model = clock(p, freqs)
    out, ev = run_metric(ProgressMetric, model, task, False, None)
    assert (np.flatnonzero(out["progress/key_freqs"]) + 1).tolist() == freqs
    assert set(out["progress/neuron_freq"].tolist()) == set(freqs)
    full_loss = ev.row_loss.mean().item()
    assert full_loss < math.log(p) - 1
    assert out["progress/restricted_loss"] == pytest.approx(full_loss, rel=1e-9)
    assert out["progress/excluded_loss"] == pytest.approx(math.log(p), rel=1e-12)  # L^exc = 0
    for k in range(1, (p - 1) // 2 + 1):
        single = out["progress/excluded_loss_per_freq"][k - 1]
        if k in freqs:
            assert out[f"progress/excluded_loss/freq_{k}"] == single and full_loss < single < math.log(p)
        else:
            assert np.isnan(single) and f"progress/excluded_loss/freq_{k}" not in out


def test_clock_rep_metrics_rank_correct_cyclic_basis():
    """Also pins bug 4 of rep_theory.md §8: the hidden xy fractions of C_p are exact (rank-2 bases)."""
    p, freqs = 23, [2, 5, 7]
    task, model = clock(p, freqs)
    out, ev = run_metric(RepTheoryMetric, model, task, 0.005, None)
    key = {name for name, is_key in zip(group_basis(cyclic(p)).names, out["rep/key_irreps"]) if is_key}
    assert key == {f"freq_{k}" for k in freqs} and out["rep/n_key_irreps"] == 3
    for k in freqs:
        assert out[f"rep/logit_similarity/freq_{k}"] == pytest.approx(1 / math.sqrt(3), rel=1e-9)
        assert out[f"rep/percent_hidden_xy/freq_{k}"] == pytest.approx(1 / 3, rel=1e-9)
        assert out[f"rep/percent_hidden_x/freq_{k}"] == pytest.approx(0, abs=1e-12)
        assert out[f"rep/percent_x_embed/freq_{k}"] == pytest.approx(1 / 3, rel=1e-9)
    assert out["rep/percent_logits_explained"] == pytest.approx(1, rel=1e-9)
    assert out["rep/percent_hidden_xy_explained"] == pytest.approx(1, rel=1e-9)
    full_loss = ev.row_loss.mean().item()
    for level in ("logit", "hidden"):
        assert out[f"rep/total_{level}_restricted_loss"] == pytest.approx(full_loss, rel=1e-9)
        assert out[f"rep/total_{level}_excluded_loss"] == pytest.approx(math.log(p), rel=1e-12)


@pytest.mark.parametrize("irrep", ["standard_sign", "s4_2d"])
def test_s4_network_has_one_key_irrep(irrep):
    task = composition(symmetric(4))
    model = IrrepNetwork(task, [irrep], 3.0)
    out, ev = run_metric(RepTheoryMetric, model, task, 0.005, None)
    names = group_basis(symmetric(4)).names
    assert [name for name, is_key in zip(names, out["rep/key_irreps"]) if is_key] == [irrep]
    assert out[f"rep/logit_similarity/{irrep}"] == pytest.approx(1, rel=1e-9)
    assert np.abs(np.delete(out["rep/logit_similarity"], names.index(irrep))).max() < 1e-9
    full_loss = ev.row_loss.mean().item()
    assert out["rep/total_logit_restricted_loss"] == pytest.approx(full_loss, rel=1e-9)
    assert out["rep/total_hidden_excluded_loss"] == pytest.approx(math.log(24), rel=1e-12)
    assert out[f"rep/percent_unembed/{irrep}"] == pytest.approx(1, rel=1e-9)


def test_fixed_key_irreps_and_unknown_names():
    task = composition(symmetric(4))
    model = IrrepNetwork(task, ["standard"], 3.0)
    out, _ = run_metric(RepTheoryMetric, model, task, 0.005, ["standard", "sign"])
    assert out["rep/n_key_irreps"] == 2 and "rep/logit_excluded_loss/sign" in out
    with pytest.raises(ValueError, match="metrics.rep.key_irreps"):
        RepTheoryMetric(model, task, 0.005, ["freq_1"])


# ---------------------------------------------------------------- neurons, Gini


@pytest.mark.parametrize("beta", [0.0, 0.5])
def test_synthetic_neurons_get_their_frequency(beta):
    p, freqs = 31, torch.tensor([1, 4, 9, 15])  # 15 = (p - 1) / 2
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    operands = torch.stack([a.flatten(), b.flatten()], dim=1)
    w = 2 * math.pi * freqs / p
    hidden = torch.relu(torch.cos(w * operands[:, :1]) + torch.cos(w * operands[:, 1:]) + beta)  # [p², 4]
    fractions = frequency_fractions(hidden.double(), operands, p)
    assert fractions.shape == (15, 4)
    assert neuron_frequencies(fractions).tolist() == freqs.tolist()
    assert neuron_frequencies(fractions[:-1]).tolist()[:3] == [1, 4, 9]  # exclude_top_freq


def test_dead_neurons_get_no_frequency():
    fractions = frequency_fractions(torch.zeros(49, 2, dtype=torch.float64), torch.zeros(49, 2, dtype=torch.long), 7)
    assert neuron_frequencies(fractions).tolist() == [0, 0]


def test_gini():
    assert gini(torch.ones(4)).item() == pytest.approx(0)
    assert gini(torch.tensor([0.0, 0.0, 5.0, 0.0])).item() == pytest.approx(0.75)
    assert gini(torch.tensor([3.0, 1.0, 4.0, 2.0])).item() == pytest.approx(0.25)  # Σ(2i-5)x_(i) / (4·10)


# ---------------------------------------------------------------- bugs of the original code (rep_theory.md §8)


@pytest.mark.parametrize("build_group", [lambda: alternating(5), lambda: symmetric(6)], ids=["A5", "S6"])
def test_fractions_of_variance_sum_to_one(build_group):
    """Bug 1 (A5 3-d irreps not representations, <χ,χ> ≈ 0.986) and bug 2 (S6: only 102 of 720 dimensions)."""
    group = build_group()
    basis = group_basis(group)
    n = group.order
    assert torch.allclose(basis.basis.T @ basis.basis, torch.eye(n, dtype=torch.float64), atol=1e-10)
    gram = basis.characters @ basis.characters.T / n
    assert torch.allclose(gram, torch.eye(len(basis.names), dtype=torch.float64), atol=1e-10)
    fractions = irrep_fractions(torch.randn(n, 16, generator=torch.Generator().manual_seed(0)), basis)
    assert fractions.sum().item() == pytest.approx(1, rel=1e-10) and fractions.min() > 0
    if n == 720:
        assert {"s6_9d_a", "s6_9d_b", "s6_10d_a", "s6_10d_b", "s6_16d"} <= set(basis.names)


@pytest.mark.parametrize("scale", [1.0, 2000.0])
def test_shifted_losses_equal_one_cross_entropy_per_shift(scale):
    """The batched form (one exponential per entry, sums by label) equals one softmax per shift, also where the
    sums underflow (scale 2000: logit gaps beyond float64's exponent range) and labels are missing."""
    gen = torch.Generator().manual_seed(1)
    n, rows = 9, 60
    logits = scale * torch.randn(rows, n, generator=gen, dtype=torch.float64)
    labels = torch.randint(n - 2, (rows,), generator=gen)  # the last two labels never occur
    shifts = scale * torch.randn(4, n, n, generator=gen, dtype=torch.float64)
    expected = torch.stack([torch.nn.functional.cross_entropy(logits - s[labels], labels) for s in shifts])
    got = shifted_losses(logits, torch.arange(rows), labels, shifts)
    assert torch.isfinite(got).all() and torch.allclose(got, expected, rtol=1e-12)


def test_losses_are_true_means_over_chunks(monkeypatch):
    """Bug 3: the original summed the means of 8 chunks; every loss here is one mean over all rows."""
    gen = torch.Generator().manual_seed(0)
    n, rows = 7, 100
    logits, labels = torch.randn(rows, n, generator=gen, dtype=torch.float64), torch.randint(n, (rows,), generator=gen)
    shifts = torch.randn(3, n, n, generator=gen, dtype=torch.float64)
    expected = torch.stack([torch.nn.functional.cross_entropy(logits - s[labels], labels) for s in shifts])
    index = torch.arange(rows)
    whole = shifted_losses(logits, index, labels, shifts)
    monkeypatch.setattr(class_sums_module, "CHUNK_ELEMENTS", 2 * n)  # 2 rows per chunk
    assert torch.allclose(shifted_losses(logits, index, labels, shifts), expected, rtol=1e-12)
    assert torch.allclose(whole, expected, rtol=1e-12)
    counts = torch.bincount(labels, minlength=n)
    assert torch.allclose(table_loss(shifts, counts), torch.stack(
        [torch.nn.functional.cross_entropy(s[labels], labels) for s in shifts]), rtol=1e-12)


def test_logit_similarity_independent_of_chunking(monkeypatch):
    task = composition(symmetric(3))
    logits = torch.randn(len(task.labels), 6, generator=torch.Generator().manual_seed(1))
    basis = group_basis(symmetric(3))
    whole = logit_similarity(logits, task.labels, basis)
    monkeypatch.setattr(class_sums_module, "CHUNK_ELEMENTS", 6 * 5)
    chunked = logit_similarity(logits, task.labels, basis)
    assert all(torch.allclose(x, y, rtol=1e-12) for x, y in zip(whole, chunked))
    assert whole[0][0].abs() < 1e-12  # trivial: rows are centred


def test_sum_of_squared_weights_counts_transformer_weights():
    """Bug 5: the original matched parameter names containing "weight" (none in a transformer) and logged 0."""
    _, model = build(validate(make_config("task.p=11", "model=transformer", "model.init=tl",
                                          "model.freeze_biases=true")))
    expected = sum(p.detach().pow(2).sum().item() for name, p in model.named_parameters()
                   if name.rsplit(".", 1)[-1].startswith("W_"))
    assert expected > 0
    assert weight_norms(model)["weights/sum_sq"] == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------- the models' side of the metrics


def test_mlp_effective_embeddings_add_up_to_the_first_layer():
    task, model = build(validate(make_config("task=composition", "group=symmetric", "group.n=3",
                                             "model.combine=concat_separate", "model.bias=false")))
    W_a, W_b = model.effective_embeddings(task.operand_tokens)  # [6, hidden] each
    a, b = task.operands.unbind(dim=1)
    emb = torch.cat([model.W_E[a], model.W_E[task.d_vocab + b]], dim=1)
    assert torch.allclose(W_a[a] + W_b[b], emb @ model.layers[0].W_in, atol=1e-5)


@pytest.mark.parametrize("task_overrides", [["task=composition", "group=symmetric", "group.n=3"], ["task.p=7"]])
def test_transformer_metrics_use_the_last_mlp(task_overrides):
    task, model = build(validate(make_config(*task_overrides, "model=transformer", "model.d_model=16",
                                             "model.n_heads=2", "model.d_head=8", "model.d_mlp=24")))
    out, _ = run_metric(RepTheoryMetric, model, task, 0.005, None)
    assert out["rep/percent_unembed"].shape == (len(group_basis(task.group).names),)
    for name in ("percent_x_embed", "percent_unembed"):
        assert out[f"rep/{name}"].sum() == pytest.approx(1, rel=1e-9)
    assert 0 < out["rep/total_percent_hidden"].sum() <= 1 + 1e-9
    if task.modulus is not None:
        progress, _ = run_metric(ProgressMetric, model, task, False, None)
        assert progress["progress/neuron_freq"].shape == (24,) and 0 <= progress["progress/gini_W_L"] < 1
