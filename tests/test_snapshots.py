"""Parameter snapshots, ``grokscope-analyze circles collab`` on a run's snapshots (circle_survival.md §6.6) and the
circle geometry plots (§6.9), on a tiny circle-survival run whose two circles are constructed at init."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from grokscope.analysis.loss_collaboration import restricted_scores, snapshots, task_and_model
from grokscope.cli.analyze import main as analyze
from grokscope.losses import Loss
from grokscope.metrics.circles import pca_pairs, plane_points
from grokscope.metrics.evaluation import evaluate, split_scores
from tests.helpers.config import assert_config_error
from tests.helpers.runs import final_checkpoint, train

TINY = ("experiment=tiny_circle_survival", "metrics.dense_epochs=0", "intervention=construct",
        "intervention.construct.freqs=[2,4]", "intervention.construct.amplitudes=[40.0,30.0]")
K = 5


@pytest.fixture(scope="module")
def circle_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("circle_run")
    train(run_dir, *TINY, "max_epochs=35", "plots=true")
    return run_dir


def main(argv: list[str]) -> None:
    analyze(["circles", "collab", *argv])


def load_snapshot(run_dir: Path, epoch: int) -> dict:
    return torch.load(run_dir / "snapshots" / f"epoch={epoch}.pt", weights_only=True)


def test_snapshots_at_epoch_0_every_n_and_the_last_one_is_the_final_model(circle_run):
    assert list(snapshots(circle_run)) == [0, 10, 20, 30, 35]
    final = final_checkpoint(circle_run)["model"]
    last = load_snapshot(circle_run, 35)
    assert set(last) == {"W_E", "W_U", "b_U", "layers.0.W_in", "layers.0.b_in"}  # embedding + MLP
    assert all(torch.equal(last[k], final[k]) for k in last)
    assert not torch.equal(load_snapshot(circle_run, 0)["W_E"], last["W_E"])


def test_a_snapshot_is_the_model_whose_scores_were_logged_at_its_epoch(circle_run):
    task, model = task_and_model(circle_run)
    model.load_state_dict(load_snapshot(circle_run, 20))
    logged = pd.read_csv(circle_run / "metrics.csv").set_index("epoch").loc[20]
    scores = split_scores(evaluate(model, task, Loss()), task)
    assert all(abs(scores[key] - logged[key]) < 1e-6 for key in ("train/loss", "test/loss", "train/acc"))


def test_resuming_rewrites_no_snapshot_differently(tmp_path, circle_run):
    train(tmp_path, *TINY, "max_epochs=20")
    before = {e: load_snapshot(tmp_path, e) for e in snapshots(tmp_path)}
    train(tmp_path, *TINY, "max_epochs=35")  # a longer max_epochs continues the completed run from epoch 20
    assert list(snapshots(tmp_path)) == [0, 10, 20, 30, 35]
    assert all(torch.equal(load_snapshot(tmp_path, e)["W_E"], before[e]["W_E"]) for e in before)
    resumed, straight = load_snapshot(tmp_path, 35), load_snapshot(circle_run, 35)
    assert all(torch.allclose(resumed[k], straight[k], atol=1e-6) for k in straight)


def test_restricted_loss_keeping_every_frequency_and_dc_is_the_snapshot_loss(circle_run):
    """Keeping DC and 1..K is the identity filter (odd p): the all-pairs loss of the snapshot itself."""
    task, model = task_and_model(circle_run)
    model.load_state_dict(load_snapshot(circle_run, 30))
    loss, acc = restricted_scores(model, task, list(range(1, K + 1)))
    ev = evaluate(model, task, Loss())
    assert abs(loss - float(ev.row_loss.mean())) < 1e-6
    assert abs(acc - float((ev.logits.argmax(-1) == task.labels).double().mean())) < 1e-12


def test_cli_writes_k_rows_per_base_and_epoch_and_checks_collaboration(circle_run, capsys):
    main([str(circle_run), "--plots"])
    table = pd.read_csv(circle_run / "analysis" / "loss_collaboration.csv", dtype={"base": str})
    assert list(table.columns) == ["epoch", "base", "freq", "loss", "acc"]
    assert table.groupby(["epoch", "base"]).size().to_dict() == {
        (e, b): K for e in (0, 10, 20, 30, 35) for b in ("none", "2", "2+4")}
    at = table.set_index(["epoch", "base", "freq"])["loss"]
    assert abs(at[35, "none", 2] - at[35, "2", 2]) < 1e-9  # {2} either way
    assert abs(at[35, "2", 4] - at[35, "2+4", 4]) < 1e-9  # {2, 4} either way
    assert at[35, "2", 4] < min(at[35, "none", 2], at[35, "none", 4])  # the two circles collaborate
    out = capsys.readouterr().out
    assert "final circles, strongest first: [2, 4]" in out and "the circles collaborate at the end" in out
    for name in ("loss_collaboration.png", "circle_planes.png", "circle_pca.png"):
        assert (circle_run / "analysis" / name).stat().st_size > 0


def test_cli_fails_with_one_line_without_snapshots_or_circles(tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main([str(tmp_path)])
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"grokscope-analyze circles collab: error: run_dir='{tmp_path}'")
    assert "snapshots/epoch=N.pt" in lines[0] and "snapshot_every_n_epochs" in lines[0]
    (tmp_path / "snapshots").mkdir()
    (tmp_path / "snapshots" / "epoch=0.pt").write_bytes(b"")
    with pytest.raises(SystemExit) as err:
        main([str(tmp_path)])
    assert err.value.code == 2 and "circles.npz" in capsys.readouterr().err


def test_cli_bad_arguments_are_one_line(tmp_path, capsys):
    for argv, match in (([str(tmp_path / "missing")], "argument run_dir: '{}': must be an existing directory".format(
                         tmp_path / "missing")), ([str(tmp_path), "--every", "x"], "argument --every: 'x' is not an "
                        "integer"), ([str(tmp_path), "--every", "0"], "argument --every: 0: must be an integer >= 1")):
        with pytest.raises(SystemExit) as err:
            main(argv)
        lines = capsys.readouterr().err.strip().splitlines()
        assert err.value.code == 2 and len(lines) == 1 and match in lines[0], lines


def test_a_circle_run_ends_with_its_geometry_plots(circle_run):
    for name in ("circle_planes.png", "circle_pca.png", "circle_signals.png"):
        assert (circle_run / "plots" / name).stat().st_size > 0


def two_circles(p: int = 13, d: int = 6) -> torch.Tensor:
    """``E_t = 3 (cos(2 pi 2 t/p) e_0 + sin(2 pi 2 t/p) e_1) + cos(2 pi 5 t/p) e_2 + sin(2 pi 5 t/p) e_3``."""
    t = torch.arange(p, dtype=torch.float64)
    E = torch.zeros(p, d, dtype=torch.float64)
    for k, r, col in ((2, 3.0, 0), (5, 1.0, 2)):
        E[:, col], E[:, col + 1] = r * torch.cos(2 * math.pi * k * t / p), r * torch.sin(2 * math.pi * k * t / p)
    return E


def test_circle_planes_put_token_t_at_angle_2_pi_k_t_over_p():
    points = plane_points(two_circles(), 13, [2, 5])
    t = torch.arange(13, dtype=torch.float64)
    for k, r in ((2, 3.0), (5, 1.0)):
        z = torch.view_as_complex(torch.from_numpy(points[k]).contiguous())  # E_t . u_k + i E_t . v_k
        assert torch.allclose(z.abs(), torch.full((13,), r, dtype=torch.float64))  # a circle of radius r
        turn = torch.exp(2j * math.pi * k * t / 13)  # z_t = z_0 e^{+-2 pi i k t / p} (v_k = +-Im F_k / ||Im F_k||)
        assert torch.allclose(z / z[0], turn) or torch.allclose(z / z[0], turn.conj())


def test_pca_pairs_find_the_two_circles_strongest_first():
    assert [k for _, k in pca_pairs(two_circles(), 13, 2)] == [2, 5]


def test_snapshot_cadence_is_validated():
    assert_config_error("snapshot_every_n_epochs", "snapshot_every_n_epochs=0")


def test_ensemble_members_write_their_own_snapshots(tmp_path):
    """Member 1's snapshots are those of the run seed=1: equal at init, equal to float tolerance after."""
    summary = train(tmp_path / "ensemble", *TINY, "max_epochs=20", "ensemble.size=2")
    train(tmp_path / "single", *TINY, "max_epochs=20", "seed=1")
    member = Path(summary["members"][1])
    assert list(snapshots(member)) == list(snapshots(tmp_path / "single")) == [0, 10, 20]
    assert torch.equal(load_snapshot(member, 0)["W_E"], load_snapshot(tmp_path / "single", 0)["W_E"])
    torch.testing.assert_close(load_snapshot(member, 20)["W_E"], load_snapshot(tmp_path / "single", 20)["W_E"],
                               rtol=1e-5, atol=1e-6)
