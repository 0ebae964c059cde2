"""Interventions: freeze, ablate, perturb, noise, construct (circle_survival.md §4, §5); composition of options
and one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from grokscope.config import ConfigError
from grokscope.groups.spectral import fourier_signal
from grokscope.interventions.construct import constructed_embedding
from grokscope.run import build
from grokscope.run.config import validate
from tests.helpers.cli import cli
from tests.helpers.config import assert_config_error, make_config
from tests.helpers.runs import final_checkpoint, train

P = 23  # K = 11 frequencies
SMALL = ("experiment=tiny_modular", "metrics=none")


def built(*overrides: str):
    return build(validate(make_config(*SMALL, *overrides)))


def signals(model, task) -> torch.Tensor:
    """``s_k`` ``[n_operand_tables, K + 1]`` of the operand embeddings (float64)."""
    return fourier_signal(model.operand_embeddings(task.operand_tokens).detach().double(), task.modulus)


def trained_W_E(tmp_path, *overrides: str) -> torch.Tensor:
    train(tmp_path, *SMALL, *overrides)
    return final_checkpoint(tmp_path)["model"]["W_E"]


def test_options_compose_in_order():
    cfg = validate(make_config("intervention=[construct,perturb,freeze_embedding]"))
    assert list(cfg.intervention) == ["construct", "perturb", "freeze_embedding"]
    assert validate(make_config()).intervention == {}


@pytest.mark.parametrize("from_epoch", [0, 4])
def test_frozen_embedding_is_bit_identical(tmp_path, from_epoch):
    """No update and no decoupled weight decay once frozen (AdamW, wd = 1)."""
    common = ("optimizer.weight_decay=1.0", "max_epochs=12")
    reference = trained_W_E(tmp_path / "ref", *common[:1], f"max_epochs={from_epoch}") if from_epoch else (
        built().__getitem__(1).W_E.detach())
    frozen = trained_W_E(tmp_path / "frozen", *common, "intervention=freeze_embedding",
                         f"intervention.freeze_embedding.from_epoch={from_epoch}")
    trained = trained_W_E(tmp_path / "trained", *common)
    assert torch.equal(frozen, reference)
    assert not torch.allclose(trained, reference)


@pytest.mark.parametrize("dc", [False, True])
def test_keep_only_leaves_energy_at_k(dc):
    task, model = built("intervention=ablate", "intervention.ablate.freqs=[3]", f"intervention.ablate.dc={dc}")
    s = signals(model, task)
    kept = [0, 3] if dc else [3]
    assert (s[:, kept] > 1).all()
    others = torch.ones(s.shape[1], dtype=torch.bool)
    others[kept] = False
    assert (s[:, others] < 1e-5 * s[:, 3:4]).all()


def test_remove_and_unembedding_ablation():
    task, model = built("intervention=ablate", "intervention.ablate.mode=remove", "intervention.ablate.freqs=[2,5]",
                        "intervention.ablate.target=W_U")
    _, reference = built()
    s = fourier_signal(model.W_U.detach().double().T[:P], P)
    assert (s[[2, 5]] < 1e-5 * s.max()).all()
    assert torch.equal(model.W_E, reference.W_E)  # only the unembedding changed


@pytest.mark.parametrize("choice", ["intervention.perturb.freqs=[4]", "intervention.perturb.strongest=1"])
def test_perturb_scales_s_k_by_alpha_and_nothing_else(choice):
    task, reference = built()
    before = signals(reference, task)
    strongest = int(before.pow(2).sum(0)[1:].argmax()) + 1
    k = 4 if "freqs" in choice else strongest
    off = "intervention.perturb.strongest=null" if "freqs" in choice else "intervention.perturb.freqs=null"
    _, model = built("intervention=perturb", choice, off, "intervention.perturb.alpha=1.7")
    ratio = signals(model, task) / before
    expected = torch.ones_like(ratio)
    expected[:, k] = 1.7
    torch.testing.assert_close(ratio, expected, rtol=1e-5, atol=0)


def test_constructed_embedding_has_exactly_the_requested_signals():
    amplitude = torch.full((11,), 1e-6, dtype=torch.float64)
    amplitude[[2, 6]] = torch.tensor([80.0, 20.0], dtype=torch.float64)
    E = constructed_embedding(P, 16, amplitude, torch.Generator().manual_seed(0))
    s = fourier_signal(E, P)
    torch.testing.assert_close(s[1:], amplitude, rtol=1e-9, atol=1e-12)
    assert s[0] < 1e-12
    task, model = built("intervention=construct", "intervention.construct.freqs=[3,7]",
                        "intervention.construct.amplitudes=[80.0,20.0]")
    torch.testing.assert_close(signals(model, task)[0, [3, 7]], torch.tensor([80.0, 20.0], dtype=torch.float64),
                               rtol=1e-5, atol=0)


def test_construct_draws_a_random_pair_per_embedding_seed():
    pairs = set()
    for seed in range(4):
        task, model = built("intervention=construct", f"seeds.embedding={seed}")
        s = signals(model, task)[0]
        pairs.add(tuple(sorted(int(k) for k in torch.nonzero(s > 1).squeeze(1))))
    assert all(len(pair) == 2 for pair in pairs) and len(pairs) > 1


def test_persistent_ablation_holds_after_every_step(tmp_path):
    train(tmp_path, *SMALL[:-1], "metrics=default", "metrics.every_n_epochs=1", "metrics.progress.enabled=false",
          "max_epochs=8", "intervention=ablate", "intervention.ablate.freqs=[1,2]", "intervention.ablate.dc=true",
          "intervention.ablate.when=persistent")
    with np.load(tmp_path / "arrays" / "fourier.npz") as data:
        epochs, power = data["epochs"], data["W_E_power"]  # [n_epochs, n_tables, K + 1]
    assert list(epochs) == list(range(9))
    assert (power[:, :, 3:] < 1e-10 * power.sum(-1, keepdims=True)).all()
    assert not np.allclose(power[0], power[-1])  # the kept components did train


def test_eval_ablation_logs_without_changing_training(tmp_path):
    plain = train(tmp_path / "plain", *SMALL, "max_epochs=10")
    ablated = train(tmp_path / "eval", *SMALL[:-1], "metrics=default", "metrics.progress.enabled=false",
                    "max_epochs=10",
                    "intervention=ablate", "intervention.ablate.when=eval")
    assert ablated["final"]["train/loss"] == plain["final"]["train/loss"]
    assert ablated["final"]["ablated/train/loss"] > ablated["final"]["train/loss"]


def test_noise_on_a_frozen_embedding(tmp_path):
    """freeze_embedding + noise compose: the frozen W_E moves only by the seeded noise, at the given epoch."""
    _, reference = built()
    final = trained_W_E(tmp_path, "max_epochs=6", "intervention=[freeze_embedding,noise]",
                        "intervention.noise.at_epoch=3", "intervention.noise.std=0.5", "intervention.noise.seed=7")
    noise = torch.randn(reference.W_E.shape, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(final, reference.W_E.detach() + 0.5 * noise, rtol=0, atol=1e-6)


def test_construct_then_perturb_the_strongest():
    task, model = built("intervention=[construct,perturb]", "intervention.construct.freqs=[5,9]",
                        "intervention.construct.amplitudes=[30.0,60.0]", "intervention.perturb.alpha=0.5")
    torch.testing.assert_close(signals(model, task)[0, [5, 9]], torch.tensor([30.0, 30.0], dtype=torch.float64),
                               rtol=1e-5, atol=0)


@pytest.mark.parametrize("overrides, key", [
    (("intervention=perturb", "intervention.perturb.alpha=-1"), "intervention.perturb.alpha"),
    (("intervention=perturb", "intervention.perturb.alpha=0"), "intervention.perturb.alpha"),
    (("intervention=ablate", f"intervention.ablate.freqs=[{P}]"), "intervention.ablate.freqs"),
    (("intervention=ablate", f"intervention.ablate.freqs=[{(P + 1) // 2}]"), "intervention.ablate.freqs"),
    (("intervention=ablate", "intervention.ablate.freqs=[-1]"), "intervention.ablate.freqs"),
    (("intervention=ablate", "intervention.ablate.freqs=[0]"), "intervention.ablate.freqs"),
    (("intervention=ablate", "intervention.ablate.strongest=2"), "intervention.ablate.freqs"),
    (("intervention=ablate", "intervention.ablate.when=always"), "intervention.ablate.when"),
    (("intervention=ablate", "+intervention.ablate.bogus=1"), "intervention.ablate.bogus"),
    (("intervention=construct", "intervention.construct.freqs=[1]"), "intervention.construct.freqs"),
    (("intervention=noise", "intervention.noise.param=W_X"), "intervention.noise.param"),
])
def test_bad_input_names_the_key(overrides, key):
    assert_config_error(key, *SMALL, *overrides, build_too=True)


@pytest.mark.parametrize("option", ["perturb", "construct"])
def test_fourier_interventions_need_a_cyclic_task(option):
    """(``ablate`` takes irreps on a group task: tests/test_irrep_ablation.py.)"""
    with pytest.raises(ConfigError, match="needs a cyclic task") as err:
        build(validate(make_config("task=composition", "group=symmetric", "group.n=3", f"intervention={option}")))
    assert err.value.key == f"intervention.{option}"


@pytest.mark.parametrize("args, expected", [
    (("intervention=bogus",), "intervention"),
    (("intervention=perturb", "intervention.perturb.alpha=-1"), "intervention.perturb.alpha=-1"),
])
def test_cli_bad_intervention_is_one_line(tmp_path, args, expected):
    result = cli(*args, "logger=csv", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_signal_satisfies_parseval():
    E = torch.randn(P, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    s = fourier_signal(E, P)
    total = s[0] ** 2 + 2 * s[1:].pow(2).sum()  # k and p - k for k >= 1
    assert math.isclose(float(total), float(P * E.pow(2).sum()), rel_tol=1e-12)


def test_float64_training_keeps_a_persistent_ablation_exact(tmp_path):
    final = trained_W_E(tmp_path, "param_dtype=float64", "max_epochs=5", "intervention=ablate",
                        "intervention.ablate.freqs=[4]", "intervention.ablate.when=persistent")
    assert final.dtype == torch.float64
    s = fourier_signal(final[:P], P)
    assert (torch.cat([s[:4], s[5:]]) < 1e-12 * s[4]).all()
