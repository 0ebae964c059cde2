"""The stability family (Prieto et al. 2025): the softmax-collapse and zero-loss fractions of hand-made logits
equal a count by hand, in each loss precision and on the training rows only; the NLM alignment equals a direct
computation of the training objective's gradient, chunked or not, leaving the model as it was; a run without
weight decay logs the family's columns, plot and summary, and with weight decay the family stays off."""

from __future__ import annotations

import csv
import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from grokscope.figures import MediaCanvas
from grokscope.losses import Loss
from grokscope.metrics import RunRecord, build_metrics
from grokscope.metrics.evaluation import evaluate_metrics
from grokscope.metrics.stability import FAMILY, MARGIN_EDGES, StabilityMetric
from grokscope.run import build
from grokscope.run.config import validate
from grokscope.tasks.base import LossTerm, Task
from tests.helpers.config import make_config
from tests.helpers.runs import train

SC = "stability/softmax_collapse"
ZERO = "stability/zero_loss"
NLM = "stability/nlm_alignment"


class TableModel(torch.nn.Module):
    """Row ``r``'s logits are ``table[r]`` (token ``r``): logits by hand, and a parameter to differentiate."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.table = torch.nn.Parameter(logits.clone())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.table[tokens[:, 0]]


def table_task(logits: torch.Tensor, labels: list[int], train: list[bool]) -> Task:
    """One row per logit vector, token ``r`` for row ``r``, trained on the rows where ``train``."""
    n, n_classes = logits.shape
    tokens = torch.arange(n)[:, None]
    train_mask = torch.tensor(train)
    return Task("table", tokens, torch.tensor(labels), {"train": train_mask, "test": ~train_mask},
                (LossTerm("train", "train", 1.0),), d_vocab=n, n_classes=n_classes, operands=tokens,
                operand_tokens=torch.arange(n)[None], operand_positions=(0,))


def stability(model, task, loss: Loss, chunk_rows: int | None = None) -> dict:
    return evaluate_metrics(model, task, loss, [StabilityMetric()], chunk_rows=chunk_rows)[1][0]


def margin_rows(margins: list[float], n_classes: int = 4) -> torch.Tensor:
    """Logits ``[margin, 0, ..., 0]`` (label 0: the correct logit leads the others by ``margin``)."""
    logits = torch.zeros(len(margins), n_classes)
    logits[:, 0] = torch.tensor(margins)
    return logits


def test_the_collapse_and_zero_loss_fractions_are_a_count_by_hand():
    # margins 0, 5, 10, 30, 40, 200 with label 0 and four classes; a row whose label trails another class by 200;
    # a test row (margin 200) that is not counted. Row r collapses once 3 exp(-m) < u = eps/2 (2^-11, 2^-24, 2^-53):
    # m > ln(3/u) = 8.7 (float16), 17.7 (float32), 37.8 (float64); the wrong row always collapses.
    logits = torch.cat([margin_rows([0, 5, 10, 30, 40, 200]), torch.tensor([[0.0, 200, 0, 0]]),
                        margin_rows([200])])
    task = table_task(logits, [0] * 8, [True] * 7 + [False])
    model = TableModel(logits)
    collapsed = {torch.float16: 5, torch.float32: 4, torch.float64: 3}  # 10 30 40 200 wrong | 30 40 ... | 40 ...
    for dtype, n in collapsed.items():
        values = stability(model, task, Loss("cross_entropy", dtype))
        assert values[SC] == n / 7
        assert values[ZERO] == (n - 1) / 7  # the collapsed rows with the right label: loss log(1) - 0 = 0
        assert not math.isnan(values[NLM])  # defined: some rows keep a gradient
    assert stability(model, task, Loss("cross_entropy", torch.float32))["stability/margin_histogram"].tolist() == \
        np.histogram([0, 5, 10, 30, 40, 200, -200], MARGIN_EDGES)[0].tolist()


def test_a_stablemax_loss_is_zero_where_the_other_classes_round_away_and_its_softmax_still_counts():
    # StableMax: s(1e10) = 1e10 + 1 absorbs the other classes' s(0) = 1 in float32 (spacing 1024 there), not in
    # float64; the softmax of both rows collapses in float32 (margins 1e10 and 30) but only the first in float64
    logits = margin_rows([1e10, 30])
    task = table_task(logits, [0, 0], [True, True])
    model = TableModel(logits)
    single = stability(model, task, Loss("stablemax", torch.float32))
    double = stability(model, task, Loss("stablemax", torch.float64))
    assert (single[ZERO], single[SC]) == (0.5, 1.0)
    assert (double[ZERO], double[SC]) == (0.0, 0.5)


def test_a_fully_collapsed_objective_has_no_nlm_alignment():
    logits = margin_rows([200, 300])
    values = stability(TableModel(logits), table_task(logits, [0, 0], [True, True]), Loss("cross_entropy",
                                                                                        torch.float32))
    assert values[SC] == values[ZERO] == 1.0 and math.isnan(values[NLM])


def objective_alignment(model, task, loss: Loss) -> float:
    """``cos(-∇L, θ)``, ``L`` as the trainer sums its loss terms, from one forward over the whole table."""
    params = [p for p in model.parameters() if p.requires_grad]
    logits = model(task.tokens)
    objective = sum(term.weight * loss(logits[task.masks[term.mask]], task.labels[task.masks[term.mask]])
                    for term in task.loss_terms if term.weight > 0)
    grad = torch.cat([g.double().flatten() for g in torch.autograd.grad(objective, params)])
    theta = torch.cat([p.detach().double().flatten() for p in params])
    return float(torch.nn.functional.cosine_similarity(-grad, theta, dim=0))


def test_the_nlm_alignment_is_the_objectives_gradient_chunked_or_not_and_leaves_the_model_alone():
    task, model = build(validate(make_config("experiment=tiny_modular")))
    # three terms: the train split, half of it plus some test rows again at weight 0.5, the test split at weight 0
    half = task.masks["train"] & (torch.arange(len(task.labels)) % 2 == 0) | (torch.arange(len(task.labels)) < 20)
    task = dataclasses.replace(task, masks={**task.masks, "half": half}, loss_terms=(
        LossTerm("train", "train", 1.0), LossTerm("half", "half", 0.5), LossTerm("test", "test", 0.0)))
    loss = Loss("cross_entropy", torch.float64)
    model.train()
    whole, chunked = stability(model, task, loss), stability(model, task, loss, chunk_rows=50)
    assert whole[NLM] == pytest.approx(objective_alignment(model, task, loss), abs=1e-6)
    assert chunked[NLM] == pytest.approx(whole[NLM], abs=1e-6)
    assert chunked["stability/logit_norm"] == pytest.approx(whole["stability/logit_norm"], rel=1e-9)
    assert chunked["stability/margin_histogram"].tolist() == whole["stability/margin_histogram"].tolist()
    assert whole["stability/margin_histogram"].sum() == int((task.masks["train"] | half).sum())
    assert model.training and all(p.grad is None for p in model.parameters())


def test_a_run_without_weight_decay_logs_the_family_and_with_weight_decay_it_stays_off(tmp_path):
    def names(*overrides):
        config = validate(make_config("experiment=tiny_modular", *overrides))
        return {active.family.name for active in build_metrics(config.metrics, *build(config), notes=False,
                                                               optimizer=config.optimizer)}

    assert "stability" not in names()  # weight decay 1.0
    assert "stability" in names("optimizer.weight_decay=1.0", "metrics.stability.enabled=true")
    assert "stability" not in names("optimizer.weight_decay=0", "metrics.stability.enabled=false")
    summary = train(tmp_path, "experiment=tiny_modular", "optimizer.weight_decay=0", "max_epochs=20",
                    "metrics.every_n_epochs=10", "plots=true")
    with open(tmp_path / "metrics.csv") as f:
        rows = [row for row in csv.DictReader(f) if row[SC]]
    assert [int(row["epoch"]) for row in rows] == [0, 10, 20]
    assert all(0 <= float(row[key]) <= 1 for row in rows for key in (SC, ZERO))
    assert all(-1 <= float(row[NLM]) <= 1 and float(row["stability/logit_norm"]) > 0 for row in rows)
    with np.load(tmp_path / "arrays" / "stability.npz") as arrays:
        assert arrays["margin_histogram"].shape == (3, len(MARGIN_EDGES) - 1)
        assert (arrays["margin_histogram"].sum(axis=1) == int(0.4 * 23 * 23)).all()  # every training row
    assert (tmp_path / "plots" / "stability.png").read_bytes()[:4] == b"\x89PNG"
    assert summary["stability/final_nlm_alignment"] == pytest.approx(float(rows[-1][NLM]))
    assert summary["stability/final_softmax_collapse"] == float(rows[-1][SC]) == 0.0
    assert summary["stability/sc_half_epoch"] is None  # a young model collapses nowhere
    assert summary["stability/max_nlm_alignment"] == pytest.approx(max(float(row[NLM]) for row in rows))


def test_the_summary_says_none_for_never_and_the_media_marks_the_float32_collapse_margin():
    history = [{"epoch": e, SC: sc, ZERO: sc, NLM: nlm}
               for e, sc, nlm in ((0, 0.0, 0.1), (10, 0.3, 0.8), (20, 0.6, 0.9), (30, 1.0, math.nan))]
    assert FAMILY.summary(RunRecord(history, {}, {}, None, None)) == {
        "stability/sc_half_epoch": 20, "stability/final_softmax_collapse": 1.0,
        "stability/final_nlm_alignment": None, "stability/max_nlm_alignment": 0.9}
    assert FAMILY.summary(RunRecord(history[:2], {}, {}, None, None))["stability/sc_half_epoch"] is None
    counts = np.arange(len(MARGIN_EDGES) - 1)
    ((key, bars),) = FAMILY.media({"stability/margin_histogram": counts}, SimpleNamespace(n_classes=113))
    # ln(2^24 * 112) = 21.3: the bins from 25 on are beyond it; ln(2^53 * 112) = 41.5
    assert key == "stability/margin_bars" and "about 21 in float32" in bars.caption and "about 41" in bars.caption
    assert MARGIN_EDGES[:-1][bars.dark].tolist()[0] == 25 and len(bars.xticklabels) == len(counts)
    assert MediaCanvas().draw(key, bars, "run · epoch 0").std() > 10
