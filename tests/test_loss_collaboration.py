"""Loss collaboration (circle_survival.md §6.6) on small untrained models."""

from __future__ import annotations

import torch

from grokscope.analysis.loss_collaboration import loss_collaboration, restricted_scores
from grokscope.losses import Loss
from grokscope.metrics.evaluation import evaluate
from grokscope.run import build
from grokscope.run.config import validate
from tests.helpers.config import make_config

SMALL = ("task.p=13", "model.d_embed=8", "model.hidden=[16]", "metrics=none", "task.frac_train=0.5")


def all_pairs_loss(model, task) -> float:
    ev = evaluate(model, task, Loss())
    return float(ev.row_loss.mean())


def test_keeping_every_frequency_is_the_model_itself():
    task, model = build(validate(make_config(*SMALL)))
    before = model.W_E.detach().clone()
    loss, _ = restricted_scores(model, task, list(range(1, 7)))
    assert abs(loss - all_pairs_loss(model, task)) < 1e-5
    assert torch.equal(model.W_E, before)


def test_only_present_frequencies_matter():
    """W_E holding only DC and frequency 3: the sets {i} with i != 3 all give the DC-only loss, {3} the full one."""
    task, model = build(validate(make_config(*SMALL, "intervention=ablate", "intervention.ablate.freqs=[3]",
                                             "intervention.ablate.dc=true")))
    table = loss_collaboration(model, task, [])
    assert abs(table[2, 0] - all_pairs_loss(model, task)) < 1e-5
    dc_only, _ = restricted_scores(model, task, [])
    assert abs(table[[0, 1, 3, 4, 5], 0] - dc_only).max() < 1e-5
