"""The local learning coefficient: devinterp's SGLD estimate lands on the known LLC of a regular model (a
full-rank linear regression with d parameters: d / 2), ``grokscope-analyze llc`` writes it over a run's
snapshots, and without the ``slt`` extra asking for it is one line naming the extra."""

from __future__ import annotations

import sys

import pandas as pd
import pytest
import torch

from grokscope.cli.analyze import main
from grokscope.metrics.llc_estimator import LLCConfig, MissingExtra, estimate_llc
from tests.helpers.config import assert_config_error
from tests.helpers.runs import final_checkpoint, train


def _linear_regression(d: int, n: int = 2000) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A linear model without bias at the least-squares optimum of ``y = X w0 + N(0, 1)``."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=gen)
    y = x @ torch.randn(d, 1, generator=gen) + torch.randn(n, 1, generator=gen)
    model = torch.nn.Linear(d, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.linalg.lstsq(x, y).solution.T)
    return model, x, y


def _gaussian_nll(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The mean negative log-likelihood of unit-variance Gaussian noise, up to a constant."""
    return 0.5 * ((prediction - target) ** 2).mean()


@pytest.mark.slow
def test_llc_of_a_regular_model_is_half_its_dimension_with_the_documented_defaults():
    pytest.importorskip("devinterp")
    model, x, y = _linear_regression(10)
    before = model.weight.detach().clone()
    estimate = estimate_llc(model, x, y, _gaussian_nll)
    assert estimate.mean == pytest.approx(10 / 2, rel=0.10) and not estimate.warnings
    assert torch.equal(model.weight, before)  # the weights are left as they were


def test_llc_of_a_regular_model_with_fewer_draws():
    pytest.importorskip("devinterp")
    model, x, y = _linear_regression(6)
    estimate = estimate_llc(model, x, y, _gaussian_nll, LLCConfig(chains=4, draws=150))
    assert estimate.mean == pytest.approx(6 / 2, rel=0.25)
    assert len(estimate.per_chain) == 4 and estimate.loss_trace.shape == (4, 150)


def test_a_diverging_chain_is_warned_about():
    pytest.importorskip("devinterp")
    model, x, y = _linear_regression(4, n=500)
    estimate = estimate_llc(model, x, y, _gaussian_nll, LLCConfig(lr=1.0, chains=2, draws=20, burnin=0))
    assert any("diverged" in warning for warning in estimate.warnings)


def test_analyze_llc_writes_the_estimate_at_each_snapshot(snapshot_run, tmp_path, capsys):
    pytest.importorskip("devinterp")
    main(["llc", str(snapshot_run), "--chains", "2", "--draws", "10", "--burnin", "0", "--out", str(tmp_path)])
    table = pd.read_csv(tmp_path / "llc.csv")
    assert table["epoch"].tolist() == [0, 10, 20]
    assert table["llc_mean"].notna().all() and (tmp_path / "llc.png").stat().st_size > 1000
    assert "LLC at 3 snapshots" in capsys.readouterr().out


def test_without_the_extra_asking_for_the_llc_is_one_line(snapshot_run, tmp_path, monkeypatch, capsys):
    for name in [m for m in sys.modules if m.startswith("devinterp")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "devinterp", None)  # import devinterp... raises ImportError
    with pytest.raises(MissingExtra, match=r'pip install "grokscope\[slt\]"'):
        estimate_llc(torch.nn.Linear(2, 1), torch.zeros(4, 2), torch.zeros(4, 1), _gaussian_nll)
    with pytest.raises(SystemExit) as done:
        main(["llc", str(snapshot_run), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1 and "grokscope[slt]" in err
    assert not (tmp_path / "llc.csv").exists()


LLC_RUN = ("experiment=tiny_modular", "max_epochs=20", "metrics.every_n_epochs=10", "metrics.llc.chains=2",
           "metrics.llc.draws=10", "metrics.llc.burnin=0", "plots=true")


def test_the_llc_during_training_is_logged_and_changes_nothing_of_the_run(tmp_path):
    pytest.importorskip("devinterp")
    with_llc = train(tmp_path / "llc", *LLC_RUN, "metrics.llc.enabled=true")
    without = train(tmp_path / "plain", *LLC_RUN)
    table = pd.read_csv(tmp_path / "llc" / "metrics.csv")
    assert table.dropna(subset=["llc/mean"])["epoch"].tolist() == [0, 10, 20]
    assert (tmp_path / "llc" / "plots" / "llc.png").is_file()
    assert "llc/mean" not in pd.read_csv(tmp_path / "plain" / "metrics.csv")
    assert with_llc["final"]["train/loss"] == without["final"]["train/loss"]
    weights = [final_checkpoint(tmp_path / name)["model"] for name in ("llc", "plain")]
    for key, value in weights[1].items():
        assert torch.equal(weights[0][key], value), key


def test_asking_for_the_llc_during_training_without_the_extra_is_one_line(monkeypatch):
    for name in [m for m in sys.modules if m.startswith("devinterp")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "devinterp", None)
    assert_config_error("metrics.llc.enabled", "metrics.llc.enabled=true")
