"""Circle-survival metrics (circle_survival.md §6): signal, threshold, circles, circularity, survivors."""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from grokscope.groups.spectral import fourier_signal
from grokscope.interventions.construct import constructed_embedding
from grokscope.losses import Loss
from grokscope.metrics import build_metrics
from grokscope.metrics.circles import circle_mask, circle_threshold, frequency_circularity, survivors
from grokscope.metrics.evaluation import evaluate
from grokscope.run import build
from grokscope.run.config import validate
from tests.helpers.config import make_config
from tests.helpers.runs import train

P = 23


def test_threshold_and_circles_of_a_constructed_embedding():
    amplitude = torch.full(((P - 1) // 2,), 1.0, dtype=torch.float64)
    amplitude[[2, 6]] = torch.tensor([80.0, 60.0], dtype=torch.float64)
    s = fourier_signal(constructed_embedding(P, 16, amplitude, torch.Generator().manual_seed(0)), P)
    assert math.isclose(float(circle_threshold(s, P)), 2 * 2 * (140 + 9) / P, rel_tol=1e-9)
    assert torch.nonzero(circle_mask(s, P)).squeeze(1).tolist() == [2, 6]  # frequencies 3 and 7


def test_circularity_of_a_circle_and_of_noise():
    t = torch.arange(59, dtype=torch.float64)
    circle = torch.zeros(59, 8, dtype=torch.float64)
    circle[:, 0], circle[:, 1] = torch.cos(2 * math.pi * 5 * t / 59), torch.sin(2 * math.pi * 5 * t / 59)
    circle += 1e-3 * torch.randn(59, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert frequency_circularity(circle, 59)[4] > 0.99
    noise = torch.randn(59, 128, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert 0.6 < float(frequency_circularity(noise, 59).mean()) < 0.76  # reference: about 0.68


def test_survivors_report_initial_signal_and_rank():
    initial = np.array([0.0, 5.0, 9.0, 7.0])
    assert survivors(initial, np.array([False, True, True])) == [
        {"freq": 2, "initial_signal": 9.0, "initial_rank": 1}, {"freq": 3, "initial_signal": 7.0, "initial_rank": 2}]


def test_circle_metric_keys():
    config = validate(make_config("experiment=tiny_modular", "metrics=none", "metrics.circles.enabled=true"))
    task, model = build(config)
    (circles,) = build_metrics(config.metrics, task, model)
    out = circles.metric(model, task, evaluate(model, task, Loss()))
    assert out["circles/signal"].shape == (1, (P - 1) // 2 + 1)
    assert out["circles/n_circles"] == 0  # N(0, 1) init: every s_k near sqrt(p d)
    assert {f"circles/signal/{k}" for k in range(1, 12)} <= set(out)


def test_circle_survival_experiment_composes_to_the_reference_setup():
    config = validate(make_config("experiment=circle_survival", "param_dtype=float64"))
    task, model = build(config)
    assert (task.modulus, int(task.masks["train"].sum()), model.W_E.dtype) == (59, 2784, torch.float64)
    assert sum(p.numel() for p in model.parameters()) == 49_311  # circle_survival.md §2


def test_dense_epochs_log_every_early_epoch(tmp_path):
    train(tmp_path, "experiment=tiny_modular", "metrics.progress.enabled=false",
          "metrics.circles.enabled=true", "metrics.dense_epochs=3", "max_epochs=6", "plots=true")
    with np.load(tmp_path / "arrays" / "circles.npz") as data:
        assert list(data["epochs"]) == [0, 1, 2, 3, 6]
        assert data["signal"].shape == (5, 1, (P - 1) // 2 + 1)
    assert (tmp_path / "plots" / "circle_signals.png").stat().st_size > 0


def test_summary_names_the_surviving_initial_frequencies(tmp_path):
    """Frequencies 2 and 4 built in at init (s_k = 80, the others tiny) are the circles at the end, and the
    summary reports them with their initial signal and rank."""
    summary = train(tmp_path, "experiment=tiny_modular", "metrics.progress.enabled=false",
                    "metrics.circles.enabled=true", "intervention=construct", "intervention.construct.freqs=[2,4]",
                    "intervention.construct.amplitudes=[80,60]", "max_epochs=5")
    found = summary["circle_survivors"]
    assert [s["freq"] for s in found] == [2, 4] and [s["initial_rank"] for s in found] == [1, 2]
    assert [round(s["initial_signal"], 6) for s in found] == [80.0, 60.0]


@pytest.mark.slow  # a whole recipe, end to end (a sweep of runs): its parts are in the fast tier
def test_sweep_recipe_circles_vs_dimension(tmp_path):
    """scripts/sweep_circles.sh end to end on 2 tiny jobs: runs, table and plot of circles/n_circles vs d."""
    script = Path(__file__).resolve().parents[1] / "scripts" / "sweep_circles.sh"
    args = [str(script), "dim", "max_epochs=10", "seed=0", "model.d_embed=8,16", "task.p=23", "model.hidden=[16]",
            "metrics.dense_epochs=0", "plots=false"]
    result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "SWEEP_DIR": str(tmp_path / "sweep")})
    assert result.returncode == 0, result.stderr
    runs = pd.read_csv(tmp_path / "sweep" / "runs.csv")
    assert sorted(runs["model.d_embed"]) == [8, 16] and "circles/n_circles" in runs
    assert (tmp_path / "sweep" / "circles_n_circles_vs_model.d_embed.png").stat().st_size > 0
