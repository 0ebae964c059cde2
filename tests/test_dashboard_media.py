"""The dashboard's pictures and the end-of-run plots read like figures: each family's media is a captioned
bar chart or map with axes and labels, drawn on one figure per picture that later epochs update; the loss and
accuracy curves carry the run's name and its grokking epochs; the Fourier heatmap has an epoch axis with evenly
spaced ticks; lines of a few metric epochs have markers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from grokscope.figures import FEW_POINTS, Bars, Heatmap, MediaCanvas, points
from grokscope.groups.basis import group_basis
from grokscope.groups.families import symmetric
from grokscope.metrics import RunRecord
from grokscope.metrics.circles import FAMILY as CIRCLES
from grokscope.metrics.curves import curves_figure
from grokscope.metrics.fourier import FAMILY as FOURIER
from grokscope.metrics.fourier import spectrum_figure
from grokscope.metrics.pizza import FAMILY as PIZZA
from grokscope.metrics.progress import FAMILY as PROGRESS
from grokscope.metrics.rep_theory import FAMILY as REP

P, K, D_HIDDEN = 11, 5, 24


def media_values(rng) -> list[tuple[object, dict, object]]:
    """(family, the arrays it logs at one metric epoch, task) for each family with media."""
    modular = SimpleNamespace(modulus=P, group=None)
    group = symmetric(3)
    n_irreps = len(group_basis(group).names)
    is_circle = np.zeros((2, K), bool)
    is_circle[:, 2] = True
    return [
        (FOURIER, {"fourier/W_E_power": rng.random((2, K + 1))}, modular),
        (CIRCLES, {"circles/signal": rng.random((2, K + 1)), "circles/is_circle": is_circle}, modular),
        (PROGRESS, {"progress/neuron_freq": rng.integers(0, K + 1, D_HIDDEN),
                    "progress/key_freqs": np.array([0, 1, 0, 1, 0], bool)}, modular),
        (PIZZA, {"pizza/correct_logits": rng.random((P, P)), "pizza/max_wrong_logits": rng.random((P, P))}, modular),
        (REP, {"rep/logit_similarity": rng.random(n_irreps), "rep/key_irreps": np.arange(n_irreps) == 1},
         SimpleNamespace(modulus=None, group=group)),
    ]


def test_each_familys_media_is_a_captioned_chart_drawn_on_one_figure_per_picture():
    rng = np.random.default_rng(0)
    canvas = MediaCanvas()
    keys = []
    for family, values, task in media_values(rng):
        for key, picture in family.media(values, task):
            keys.append(key)
            assert isinstance(picture, Bars | Heatmap) and key.startswith(f"{family.name}/")
            assert len(picture.caption) > 40 and picture.title and picture.xlabel and picture.ylabel
            first = canvas.draw(key, picture, "run_seed0 · epoch 0")
            figure = canvas.figures[key][1]
            assert figure.axes[0].get_xlabel() or figure.axes[-1].get_xlabel()
            assert figure.texts[-1].get_text() == f"{picture.title}\nrun_seed0 · epoch 0"
            if isinstance(picture, Heatmap):
                assert len(figure.axes) == 2  # the map and its colour bar
            again = canvas.draw(key, picture, "run_seed0 · epoch 20")
            assert canvas.figures[key][1] is figure and figure.texts[-1].get_text().endswith("epoch 20")
            assert first.shape == again.shape and first.shape[0] >= 250 and first.shape[1] >= 480
            assert first.dtype == np.uint8 and first.std() > 10  # drawn, not blank
    assert keys == ["fourier/W_E_spectrum", "circles/signal_bars", "progress/neuron_frequency_map",
                    "pizza/correct_logit_map", "pizza/max_wrong_logit_map", "rep/logit_similarity_bars"]


def record(epochs: list[int], **series: list[float]) -> RunRecord:
    history = [{"epoch": e, **{key.replace("__", "/"): v[i] for key, v in series.items()}}
               for i, e in enumerate(epochs)]
    return RunRecord(history, {}, {}, SimpleNamespace(eval_masks=("train", "test")), None)


def test_the_curves_name_the_run_and_mark_each_splits_grokking_epoch():
    run = record([0, 10, 20, 30], train__loss=[2.0, 0.5, 0.1, 0.05], test__loss=[2.0, 2.1, 0.4, 0.1],
                 train__acc=[0.1, 0.9, 1.0, 1.0], test__acc=[0.0, 0.1, 0.7, 1.0])
    fig = curves_figure(run, "modular_add_97_mlp_seed0", {"train": 10, "test": 30})
    assert fig._suptitle.get_text() == "modular_add_97_mlp_seed0: loss and accuracy"
    ax_loss, ax_acc = fig.axes
    marks = [line.get_xdata()[0] for line in ax_acc.lines if line.get_linestyle() == "--"]
    assert marks == [11, 31]  # epoch + 1 on the x axis
    assert {"train groks: epoch 10", "test groks: epoch 30"} <= set(ax_acc.get_legend_handles_labels()[1])
    curves = [line for line in ax_loss.lines if line.get_linestyle() == "-"]  # not the marks, nor the phases' ":"
    assert len(curves) == 2 and all(line.get_marker() == "o" for line in curves)  # 4 points: a marker at each


def test_markers_only_on_lines_of_few_points():
    assert points(3)["marker"] == "o" and points(FEW_POINTS) and not points(FEW_POINTS + 1)


def test_the_fourier_heatmap_has_evenly_spaced_epoch_ticks():
    epochs = np.array([0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200, 1337])
    fig = spectrum_figure(epochs, np.random.default_rng(0).random((len(epochs), 1, K + 1)))
    ax = fig.axes[0]
    ticks = [t for t in ax.get_yticks() if 0 <= t <= epochs[-1]]
    assert len(ticks) >= 3 and len(set(np.diff(ticks).round(6))) == 1, ticks
    assert ax.get_ylabel() == "epoch"
