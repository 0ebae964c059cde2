"""``intervention=ablate`` on group-composition tasks: keeping or removing irreps of ``W_E``/``W_U`` with the
isotypic filter ``G = sum_{rho in S} Q_rho Q_rho^T`` (rep_theory.md)."""

from __future__ import annotations

import pytest
import torch

from grokscope.groups.basis import group_basis
from grokscope.groups.spectral import apply_filter, irrep_filter
from grokscope.losses import Loss
from grokscope.metrics.evaluation import evaluate, split_scores
from grokscope.run import build, build_with_interventions
from grokscope.run.config import validate
from tests.helpers.config import assert_config_error, make_config
from tests.helpers.runs import final_checkpoint, train

S4 = ("experiment=tiny_composition", "metrics=none")
IRREPS = ("intervention=ablate", "intervention.ablate.freqs=null")
NAMES = ("trivial", "sign", "s4_2d", "standard", "standard_sign")


def built(*overrides: str):
    return build(validate(make_config(*S4, *overrides)))


def powers(values: torch.Tensor, group) -> torch.Tensor:
    """``[n_tables, R]``: ``||Q_rho^T V||_F^2`` of every table ``values [n_tables, |G|, d]``."""
    basis = group_basis(group)
    return torch.stack([basis.irrep_power(v.detach()) for v in values])


def operand_powers(model, task) -> torch.Tensor:
    return powers(model.operand_embeddings(task.operand_tokens), task.group)


def test_s4_irrep_names_are_the_rep_metric_keys():
    task, _ = built()
    assert group_basis(task.group).names == NAMES


@pytest.mark.parametrize("dc", [False, True])
def test_keep_only_leaves_power_at_rho(dc):
    task, model = built(*IRREPS, "intervention.ablate.irreps=[standard]", f"intervention.ablate.dc={dc}")
    power = operand_powers(model, task)  # [n_tables, R]
    kept = [0, 3] if dc else [3]
    others = [i for i in range(len(NAMES)) if i not in kept]
    assert (power[:, kept] > 1).all()
    assert (power[:, others] < 1e-10 * power.sum(1, keepdim=True)).all()


@pytest.mark.parametrize("target", ["W_E", "W_U"])
def test_remove_zeroes_rho_and_leaves_the_rest(target):
    task, model = built(*IRREPS, "intervention.ablate.irreps=[s4_2d]", "intervention.ablate.mode=remove",
                        f"intervention.ablate.target={target}")
    _, reference = built()
    n = task.group.order
    if target == "W_E":
        before, after = operand_powers(reference, task), operand_powers(model, task)
        assert torch.equal(model.W_U, reference.W_U)
    else:
        before, after = (powers(m.W_U.T[None, :n], task.group) for m in (reference, model))
        assert torch.equal(model.W_E, reference.W_E)
    assert (after[:, 2] < 1e-10 * after.sum(1)).all() and (before[:, 2] > 1).all()
    torch.testing.assert_close(after[:, [0, 1, 3, 4]], before[:, [0, 1, 3, 4]], rtol=1e-5, atol=1e-6)


def test_strongest_keeps_the_irreps_of_largest_power():
    task, reference = built()
    before = operand_powers(reference, task).sum(0)
    top = set((torch.argsort(before[1:], descending=True)[:2] + 1).tolist())
    _, model = built("intervention=ablate", "intervention.ablate.freqs=null", "intervention.ablate.strongest=2")
    after = operand_powers(model, task).sum(0)
    assert {i for i in range(1, len(NAMES)) if after[i] > 1e-6 * after.sum()} == top
    assert after[0] < 1e-10 * after.sum()


def test_irreps_of_a_cyclic_group_match_its_frequencies():
    """On ``task=modular op=add`` (group ``Z_p``) the irrep ``freq_k`` is the frequency ``k``."""
    common = ("experiment=tiny_modular", "metrics=none", "intervention=ablate")
    _, by_freq = build(validate(make_config(*common, "intervention.ablate.freqs=[3]")))
    _, by_irrep = build(validate(make_config(*common, "intervention.ablate.freqs=null",
                                             "intervention.ablate.irreps=[freq_3]")))
    torch.testing.assert_close(by_irrep.W_E, by_freq.W_E, rtol=0, atol=1e-6)


def test_persistent_irrep_ablation_holds_after_training(tmp_path):
    """D_5 (trivial, sign, freq_1, freq_2): keep freq_1 and the trivial irrep after every optimizer step."""
    group = ("task=composition", "group=dihedral", "group.n=5", "model.d_embed=16", "model.hidden=[32]",
             "metrics=none")
    ablate = (*IRREPS, "intervention.ablate.irreps=[freq_1]", "intervention.ablate.dc=true",
              "intervention.ablate.when=persistent")
    task, initial = build(validate(make_config(*group, *ablate)))
    train(tmp_path, *group, *ablate, "max_epochs=5")
    W_E = final_checkpoint(tmp_path)["model"]["W_E"]
    rows = initial.operand_rows(task.operand_tokens)
    final, start = powers(W_E[rows], task.group), operand_powers(initial, task)
    assert group_basis(task.group).names == ("trivial", "sign", "freq_1", "freq_2")
    assert (final[:, [1, 3]] < 1e-10 * final.sum(1, keepdim=True)).all()
    assert (final[:, 2] > 1).all() and not torch.allclose(final, start)  # the kept components did train


def test_eval_irrep_ablation_scores_the_ablated_final_model(tmp_path):
    """``ablated/{split}/...`` are the scores of the final weights with only the sign irrep of ``W_E`` kept."""
    ablate = (*IRREPS, "intervention.ablate.irreps=[sign]", "intervention.ablate.when=eval")
    summary = train(tmp_path, *S4[:-1], "metrics=default", "metrics.progress.enabled=false",
                    "metrics.rep.enabled=false",
                    "max_epochs=3", *ablate)
    task, model = built(*ablate)
    model.load_state_dict(final_checkpoint(tmp_path)["model"])
    expected = split_scores(evaluate(model, task, Loss()), task)
    kept = irrep_filter(group_basis(task.group), {"sign": 1.0}, 0.0, model.W_E.dtype)
    with torch.no_grad():
        rows = model.operand_table_rows(task)
        model.W_E[rows] = apply_filter(kept, model.W_E[rows])
    ablated = split_scores(evaluate(model, task, Loss()), task)
    assert summary["final"]["train/loss"] == pytest.approx(expected["train/loss"], rel=1e-5)
    assert summary["final"]["ablated/train/loss"] == pytest.approx(ablated["train/loss"], rel=1e-5)
    assert summary["final"]["ablated/test/acc"] == pytest.approx(ablated["test/acc"], abs=1e-6)
    assert abs(ablated["train/loss"] - expected["train/loss"]) > 1e-3


def test_ablated_scores_in_row_chunks_equal_those_of_the_whole_table():
    config = validate(make_config(*S4, *IRREPS, "intervention.ablate.irreps=[sign]", "intervention.ablate.when=eval"))
    task, model, interventions = build_with_interventions(config)
    (metric,) = [m for intervention in interventions for m in intervention.metrics()]
    whole = metric(model, task, evaluate(model, task, Loss()))
    chunked = metric(model, task, evaluate(model, task, Loss(), chunk_rows=50))
    assert len(task.labels) > 50 and whole.keys() == chunked.keys()
    for key, value in whole.items():
        assert chunked[key] == pytest.approx(value, rel=1e-9), key


@pytest.mark.parametrize("overrides, key", [
    ((*S4, *IRREPS, "intervention.ablate.irreps=[bogus]"), "intervention.ablate.irreps"),
    ((*S4, *IRREPS, "intervention.ablate.irreps=[trivial]"), "intervention.ablate.irreps"),
    ((*S4, *IRREPS, "intervention.ablate.irreps=[sign,sign]"), "intervention.ablate.irreps"),
    ((*S4, *IRREPS, "intervention.ablate.strongest=5"), "intervention.ablate.strongest"),
    ((*S4, "intervention=ablate"), "intervention.ablate.freqs"),  # freqs on a non-cyclic group
    ((*S4, "intervention=ablate", "intervention.ablate.irreps=[sign]"), "intervention.ablate.freqs"),  # two set
    ((*S4, *IRREPS, "intervention.ablate.strongest=1", "intervention.ablate.irreps=[sign]"),
     "intervention.ablate.strongest"),  # two set, freqs not among them
    (("task.op=mul", "intervention=ablate", "intervention.ablate.freqs=null", "intervention.ablate.irreps=[sign]"),
     "intervention.ablate.irreps"),  # no group
])
def test_bad_irrep_choice_names_the_key(overrides, key):
    assert_config_error(key, "metrics=none", *overrides, build_too=True)
