"""Group composition end to end: per-irrep metrics in metrics.csv, WandB and arrays/, the plots; the experiments."""

from __future__ import annotations

import csv
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from grokscope.run import Job, execute
from grokscope.run.config import validate
from grokscope.run.wandb_offline import read_offline_run
from tests.helpers.config import make_config
from tests.helpers.runs import train

S4_IRREPS = ("trivial", "sign", "s4_2d", "standard", "standard_sign")


def test_s4_composition_run_logs_per_irrep_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    cfg = make_config("task=composition", "group=symmetric", "group.n=4", "max_epochs=300",
                      "metrics.every_n_epochs=100", "log_every_n_epochs=50", "progress_bar=false")
    summary = execute(cfg, tmp_path, Job(name="s4"))
    with open(tmp_path / "metrics.csv") as f:
        table = list(csv.DictReader(f))
    metric_rows = [row for row in table if row["rep/percent_logits_explained"]]
    assert [int(row["epoch"]) for row in metric_rows] == [0, 100, 200, 300]
    for irrep in S4_IRREPS:
        for metric in ("logit_similarity", "percent_x_embed", "percent_hidden_xy", "hidden_restricted_loss"):
            assert f"rep/{metric}/{irrep}" in table[0], (metric, irrep)
    last = metric_rows[-1]
    assert sum(float(last[f"rep/percent_x_embed/{irrep}"]) for irrep in S4_IRREPS) == pytest.approx(1, rel=1e-6)
    assert float(last["train/loss"]) < 0.5 * float(metric_rows[0]["train/loss"])
    assert summary["final"]["rep/total_hidden_excluded_loss"] > 0
    history = read_offline_run(next((tmp_path / "wandb").glob("offline-run-*")))["history"]
    logged = set().union(*history)  # the per-irrep series go to the dashboard's arrays table, not as scalars
    assert "rep/total_hidden_excluded_loss" in logged and not any(k.startswith("rep/logit_similarity/") for k in logged)
    with np.load(tmp_path / "arrays" / "rep.npz") as arrays:
        assert arrays["logit_similarity"].shape == (4, 5) and arrays["epochs"].tolist() == [0, 100, 200, 300]
    for plot in ("rep_logit_similarity", "rep_losses", "curves"):
        assert (tmp_path / "plots" / f"{plot}.png").stat().st_size > 0


def test_modular_addition_run_logs_progress_measures(tmp_path):
    train(tmp_path, "task.p=23", "max_epochs=100", "metrics.every_n_epochs=50", "plots=true")
    with open(tmp_path / "metrics.csv") as f:
        last = list(csv.DictReader(f))[-1]
    for key in ("restricted_loss", "excluded_loss", "gini_W_E", "gini_W_L", "n_key_freqs"):
        assert last[f"progress/{key}"], key
    with np.load(tmp_path / "arrays" / "progress.npz") as arrays:
        assert arrays["key_freqs"].shape == (3, 11) and arrays["neuron_freq"].shape == (3, 128)
    assert (tmp_path / "plots" / "progress_losses.png").stat().st_size > 0


PAPER_RUNS = {  # (group, n, frac_train, max_epochs) of rep_theory.md §5
    "c113_mlp": ("cyclic", 113, 0.3, 250_000), "c113_transformer": ("cyclic", 113, 0.3, 50_000),
    "d59_mlp": ("dihedral", 59, 0.3, 250_000), "d59_transformer": ("dihedral", 59, 0.3, 100_000),
    "s5_mlp": ("symmetric", 5, 0.4, 250_000), "s5_transformer": ("symmetric", 5, 0.6, 50_000),
    "s6_mlp": ("symmetric", 6, 0.25, 100_000), "s6_transformer": ("symmetric", 6, 0.4, 20_000),
    "a5_mlp": ("alternating", 5, 0.5, 250_000), "a5_transformer": ("alternating", 5, 0.6, 250_000),
}


@pytest.mark.parametrize("name", PAPER_RUNS)
def test_chughtai_experiments(name):
    config = validate(make_config(f"experiment=chughtai_{name}"))
    assert (config.group.name, config.group.n, config.task.frac_train, config.run.max_epochs) == PAPER_RUNS[name]
    assert config.task.name == "composition" and config.optimizer.weight_decay == 1.0
    assert config.optimizer.warmup_steps == 0 and config.metrics.rep.enabled == "true"
    if name.endswith("mlp"):
        model = config.model
        assert (model.combine, model.d_embed, model.hidden, model.bias) == ("concat_separate", 256, [128], False)
    else:
        assert config.model.init == "tl" and config.model.freeze_biases


def test_nanda_experiment_turns_progress_measures_on():
    config = validate(make_config("experiment=nanda_2023"))
    progress = config.metrics.progress
    assert progress.enabled == "true" and not progress.exclude_top_freq


@pytest.mark.slow
def test_progress_measures_through_grokking(tmp_path):
    """Nanda et al. 2023 §5.7 on the default experiment: after memorisation the excluded loss rises while the
    restricted loss falls, the network groks, and the Fourier spectra become sparse (Gini rises)."""
    summary = train(tmp_path, "max_epochs=3000", "metrics.every_n_epochs=100")
    with open(tmp_path / "metrics.csv") as f:
        rows = [row for row in csv.DictReader(f) if row["progress/excluded_loss"]]
    series = {key: np.array([float(row[f"progress/{key}"]) for row in rows])
              for key in ("excluded_loss", "restricted_loss", "gini_W_E", "gini_W_L", "n_key_freqs")}
    assert summary["grok_epochs"]["test"] is not None and summary["final"]["test/acc"] > 0.99
    excluded = series["excluded_loss"]
    assert excluded[-1] > 2 * excluded.min() and excluded.argmin() < len(excluded) - 1
    assert series["restricted_loss"][-1] < 0.01 * series["restricted_loss"][0]
    assert series["gini_W_E"][-1] > series["gini_W_E"][0] + 0.2 and series["gini_W_L"][-1] > series["gini_W_L"][0]
    assert series["n_key_freqs"][-1] < series["n_key_freqs"][0]
    assert summary["final"]["rep/percent_logits_explained"] > 0.5


def test_bench_metrics_script_runs(monkeypatch, capsys):
    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_metrics.py"
    monkeypatch.setattr(sys, "argv", [str(script), "task=composition", "group=symmetric", "group.n=3",
                                      "--epochs", "2", "--evals", "1", "--rounds", "1"])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "RepTheoryMetric" in out and "metrics callback / training time:" in out


def test_bench_floor_counts_the_flops_of_the_training_rows():
    """scripts/bench.py's floor: FLOPs of one epoch scale with the training rows; no peak rate on a CPU."""
    from grokscope.analysis.bench import flops_per_epoch, peak_flops

    half, quarter = (flops_per_epoch(["experiment=tiny_modular", f"task.frac_train={f}"]) for f in (0.5, 0.25))
    assert quarter > 0 and half / quarter == pytest.approx(2, rel=0.01)  # 264 or 265 rows against 132
    assert torch.cuda.is_available() or peak_flops("highest") is None
