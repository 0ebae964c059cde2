"""Prieto et al. 2025 (numerical_stability.md): StableMax, the loss precision, ⊥Grad and the one-hot MLP."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from omegaconf import OmegaConf

from grokscope.config import ConfigError
from grokscope.losses import Loss, softmax_collapsed, stablemax_rows
from grokscope.run import build
from grokscope.run.config import validate
from grokscope.training.optim import orthogonalise_
from tests.helpers.config import assert_config_error, make_config
from tests.helpers.runs import final_checkpoint, train
from tests.test_ensemble import assert_same_run

#: logits whose correct class (0) leads by 0, 5, 30 and 200
MARGINS = (0.0, 5.0, 30.0, 200.0)


def margin_logits(n_classes: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    logits = torch.zeros(len(MARGINS), n_classes, dtype=torch.float64)
    logits[:, 0] = torch.tensor(MARGINS)
    return logits, torch.zeros(len(MARGINS), dtype=torch.long)


def test_stablemax_loss_equals_its_definition_in_float64():
    torch.manual_seed(0)
    logits, labels = torch.randn(50, 11, dtype=torch.float64) * 4, torch.randint(0, 11, (50,))

    def s(x: float) -> float:
        return x + 1 if x >= 0 else 1 / (1 - x)

    direct = torch.tensor([-math.log(s(float(row[y])) / sum(s(float(v)) for v in row))
                           for row, y in zip(logits, labels)], dtype=torch.float64)
    torch.testing.assert_close(stablemax_rows(logits, labels, torch.float64), direct, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(Loss("stablemax")(logits, labels), direct.mean(), rtol=1e-12, atol=1e-12)


def test_stablemax_gradient_has_no_zero_rows_where_the_float32_softmax_has():
    logits, labels = margin_logits()
    grads = {}
    for kind, dtype in (("cross_entropy", torch.float32), ("stablemax", torch.float32)):
        z = logits.float().requires_grad_()
        Loss(kind, dtype)(z, labels).backward()
        grads[kind] = z.grad.abs().sum(dim=1)
    softmax_zero = grads["cross_entropy"] == 0
    assert softmax_zero.tolist() == [False, False, False, True]  # exp(-200) underflows float32: the row is dead
    assert bool((grads["stablemax"][softmax_zero] > 0).all())
    assert bool((grads["stablemax"] > 0).all())


def test_softmax_collapse_depends_on_the_precision():
    logits, _ = margin_logits()  # 6 other classes at margin m: the sum is 1 + 6 e^-m
    # float16 (eps 2^-11): 6 e^-m < 2^-12 from m ~ 10.1; float32 (2^-24) from m ~ 18.4; float64 (2^-53) from ~38.5
    assert softmax_collapsed(logits, torch.float16).tolist() == [False, False, True, True]
    assert softmax_collapsed(logits, torch.float32).tolist() == [False, False, True, True]
    assert softmax_collapsed(logits, torch.float64).tolist() == [False, False, False, True]


def test_float16_loss_is_computed_in_float16():
    logits, labels = margin_logits()
    rows = Loss("cross_entropy", torch.float16).rows(logits, labels)
    assert rows.dtype == torch.float16
    assert rows[2:].tolist() == [0.0, 0.0]  # the collapsed rows' loss rounds to exactly 0


def test_orthogonalised_gradient_is_orthogonal_to_its_tensor_with_the_original_norm():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(6, 5, dtype=torch.float64))
    g = torch.randn(6, 5, dtype=torch.float64) + 0.7 * w.detach()  # a gradient with a component along w
    w.grad = g.clone()
    orthogonalise_([w])
    new = w.grad
    assert float((new * w.detach()).sum()) == pytest.approx(0.0, abs=1e-12)
    assert float(new.norm()) == pytest.approx(float(g.norm()), rel=1e-12)
    along = (g * w.detach()).sum() / w.detach().pow(2).sum()
    ortho = g - along * w.detach()
    torch.testing.assert_close(new, ortho * g.norm() / ortho.norm())


def test_orthogonalised_members_project_on_their_own_weights_only():
    torch.manual_seed(1)
    stacked = torch.nn.Parameter(torch.randn(3, 4, 5, dtype=torch.float64))
    stacked.grad = torch.randn(3, 4, 5, dtype=torch.float64)
    singles = []
    for e in range(3):
        member = torch.nn.Parameter(stacked.detach()[e].clone())
        member.grad = stacked.grad[e].clone()
        orthogonalise_([member])
        singles.append(member.grad)
    orthogonalise_([stacked], member_axis=True)
    torch.testing.assert_close(stacked.grad, torch.stack(singles))


ORTHO = ("experiment=prieto_mlp_orthograd", "task.p=23", "model.d_embed=32", "model.hidden=[32]", "max_epochs=60",
         "metrics.every_n_epochs=30", "log_every_n_epochs=10", "~metrics.stability")


def test_an_orthograd_ensemble_member_equals_its_separate_run(tmp_path):
    summary = train(tmp_path / "ensemble", *ORTHO, "ensemble.size=2")
    train(tmp_path / "single", *ORTHO, "seed=1")
    assert_same_run(tmp_path / "ensemble" / "members" / "1_seed=1", tmp_path / "single")
    assert len(summary["members"]) == 2


def test_orthograd_changes_the_run_and_stablemax_trains(tmp_path):
    plain = train(tmp_path / "plain", *ORTHO, "optimizer.orthogonal=false")
    ortho = train(tmp_path / "ortho", *ORTHO)
    weights = [final_checkpoint(tmp_path / name)["model"]["W_U"] for name in ("plain", "ortho")]
    assert not torch.allclose(*weights)
    assert plain["final"]["train/loss"] != ortho["final"]["train/loss"]
    train(tmp_path / "stable", *ORTHO, "optimizer.orthogonal=false", "loss.kind=stablemax", "loss_dtype=float64")
    with open(tmp_path / "stable" / "metrics.csv") as f:
        losses = [float(row["train/loss"]) for row in csv.DictReader(f) if row["train/loss"]]
    assert losses[-1] < 0.7 * losses[0]


def test_one_hot_mlp_is_the_product_with_the_concatenated_one_hot_inputs():
    config = validate(make_config("experiment=prieto_precision", "task.p=11", "~metrics.stability"))
    task, model = build(config)
    p = 11
    assert model.W_E.shape == (2 * p, 200) and model.b_E is None and model.b_U is None
    bound = (2 * p) ** -0.5
    largest = float(model.W_E.detach().abs().max())
    assert 0.9 * bound < largest <= bound
    one_hot = torch.cat([torch.nn.functional.one_hot(task.operands[:, 0], p),
                         torch.nn.functional.one_hot(task.operands[:, 1], p)], dim=1).float()
    h = torch.relu(one_hot @ model.W_E)
    h = torch.relu(h @ model.layers[0].W_in)
    torch.testing.assert_close(model(task.tokens), h @ model.W_U)
    assert sum(p.numel() for p in model.parameters()) == 2 * 11 * 200 + 200 * 200 + 200 * 11


@pytest.mark.parametrize(("override", "key"), [("loss.kind=stablemax2", "loss.kind"),
                                               ("optimizer.orthogonal=1.5", "optimizer.orthogonal"),
                                               ("loss_dtype=float8", "loss_dtype")])
def test_bad_values_are_refused_naming_the_key(override, key):
    assert_config_error(key, override)


def test_a_bool_key_given_a_number_says_what_is_allowed():
    with pytest.raises(ConfigError, match="must be true or false"):
        validate(make_config("optimizer.orthogonal=1.5"))


def test_a_run_dir_recorded_before_the_keys_reads_them_as_their_defaults():
    cfg = OmegaConf.to_container(make_config())
    del cfg["loss"]
    del cfg["optimizer"]["orthogonal"]
    config = validate(OmegaConf.create(cfg))
    assert config.run.loss.kind == "cross_entropy" and config.optimizer.orthogonal is False
