"""grokscope-analyze collect (alias grokscope-collect) and phase-diagram refuse bad input in one line, exit 2, before
writing anything; collect's curves average each setting's seeds over epochs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.axes import Axes

from grokscope.analysis import collect as collect_lib
from grokscope.analysis.collect import collect, curves
from grokscope.cli.analyze import collect_main, main
from grokscope.run.fingerprint import setting_id


def make_run(run_dir: Path, summary: str | None = None, config: str = "seed: 0\ntask:\n  p: 23\n") -> Path:
    """A run dir as Hydra leaves it (``.hydra/config.yaml``), with ``summary`` as the text of its summary.json."""
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text(config)
    if summary is not None:
        (run_dir / "summary.json").write_text(summary)
    return run_dir


def completed(seed: int) -> str:
    return json.dumps({"status": "completed", "epochs": 10, "final": {"test/acc": 0.5 + seed / 10},
                       "grok_epochs": {"test": None}, "config": {"seed": seed, "task": {"p": 23}}})


def refusal(main, argv: list[str], capsys) -> str:
    """The one stderr line of ``main(argv)``, which must exit with status 2."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(("summary", "config", "named"), [
    ("[]", "seed: 0\n", "summary.json"),                      # valid JSON, not a summary
    ("{not json", "seed: 0\n", "summary.json"),               # corrupted
    (None, "seed: [0\n", "config.yaml"),                      # unparsable Hydra config
    (completed(0), "seed: [0\n", "config.yaml"),              # ... beside a summary that holds a config
    (completed(0), "- seed\n", "config.yaml"),                # a recorded config that is a list
])
def test_unreadable_run_is_named_and_nothing_written(tmp_path, capsys, summary, config, named):
    run_dir = make_run(tmp_path / "run", summary, config)
    err = refusal(collect_main, [str(run_dir)], capsys)
    assert err.startswith("grokscope-collect: error: ") and f"{run_dir}/" in err and named in err
    assert "no run dirs" not in err and not (run_dir / "runs.csv").exists()


def test_unwritable_out_and_unknown_plot_column_write_nothing(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    for seed in (0, 1):
        make_run(sweep / str(seed), completed(seed))
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    assert "--out=" in refusal(collect_main, [str(sweep), "--out", str(a_file / "out")], capsys)
    err = refusal(collect_main, [str(sweep), "--plot", "nosuchmetric", "--x", "seed"], capsys)
    assert "--plot='nosuchmetric'" in err and "test/acc" in err
    assert "--x=None" in refusal(collect_main, [str(sweep), "--plot", "test/acc"], capsys)
    assert "--plot=None" in refusal(collect_main, [str(sweep), "--x", "seed"], capsys)
    assert not (sweep / "runs.csv").exists() and not (sweep / "runs_by_setting.csv").exists()
    collect_main([str(sweep), "--plot", "test/acc", "--x", "seed"])
    assert (sweep / "runs.csv").exists() and (sweep / "test_acc_vs_seed.png").exists()


def phase_diagram_main(argv: list[str]) -> None:
    main(["phase-diagram", *argv])


@pytest.mark.parametrize(("command", "name"), [(collect_main, "grokscope-collect"),
                                               (lambda argv: main(["collect", *argv]), "grokscope-analyze collect"),
                                               (phase_diagram_main, "grokscope-analyze phase-diagram")])
def test_no_run_dirs_and_usage_errors_are_one_line(tmp_path, capsys, command, name):
    err = refusal(command, [str(tmp_path)], capsys)
    assert err.startswith(f"{name}: error: paths=") and str(tmp_path) in err
    assert refusal(command, [str(tmp_path), "--bogus"], capsys).startswith(f"{name}: error: ")
    err = refusal(command, [str(tmp_path / "missing")], capsys)
    assert err.startswith(f"{name}: error: argument paths: ") and "missing': must be an existing directory" in err


def test_phase_diagram_names_the_missing_columns(tmp_path, capsys):
    make_run(tmp_path / "run", completed(0))
    err = refusal(phase_diagram_main, [str(tmp_path)], capsys)
    assert "columns=" in err and "model.attention_rate" in err and not list(tmp_path.glob("*.png"))


def test_setting_id_ignores_seeds_and_housekeeping_only():
    base = {"seed": 0, "seeds": {"data": 0, "model": 0}, "max_epochs": 100, "device": "auto",
            "task": {"name": "modular", "p": 23}, "optimizer": {"lr": 1e-3}, "logger": {"name": "csv"}}
    same = {**base, "seed": 7, "seeds": {"data": 7, "model": 3}, "max_epochs": 500, "logger": {"name": "default"}}
    other = {**base, "optimizer": {"lr": 3e-3}}
    assert setting_id(same) == setting_id(base) != setting_id(other)


def run_with_history(sweep: Path, p: int, seed: int, epochs: list[int], status: str = "completed") -> Path:
    """A run of setting ``task.p=p`` whose ``metrics.csv`` holds ``test/loss = (seed + 1) * (epoch + 1) * scale``
    (scale 1 for p=23, 10 otherwise) at ``epochs``, and ``test/acc = seed`` at every other one of them."""
    scale = 1 if p == 23 else 10
    config = {"seed": seed, "max_epochs": epochs[-1] + 1, "task": {"p": p}}
    losses = [(seed + 1) * (e + 1) * scale for e in epochs]
    summary = {"status": status, "config": config, "final": {"test/loss": losses[-1]}}
    run_dir = make_run(sweep / f"p={p},seed={seed}", json.dumps(summary))
    rows = [f"{e},{loss},{seed if i % 2 == 0 else ''}" for i, (e, loss) in enumerate(zip(epochs, losses))]
    (run_dir / "metrics.csv").write_text("\n".join(["epoch,test/loss,test/acc", *rows]) + "\n")
    return run_dir


@pytest.fixture
def curve_sweep(tmp_path) -> Path:
    """Two settings (task.p=23, 31) x two seeds; seed 1 of p=23 was extended to epoch 30, and an unfinished
    p=23 run must be left out."""
    sweep = tmp_path / "sweep"
    run_with_history(sweep, 23, 0, [0, 10, 20])
    run_with_history(sweep, 23, 1, [0, 10, 20, 30])
    run_with_history(sweep, 31, 0, [0, 10, 20])
    run_with_history(sweep, 31, 1, [0, 10, 20])
    run_with_history(sweep, 23, 2, [0, 10], status="running")
    return sweep


def test_curves_average_seeds_per_setting_on_shared_epochs(curve_sweep, capsys):
    collect_main([str(curve_sweep), "--curves", "test/loss", "test/acc"])
    bands = pd.read_csv(curve_sweep / "curves_by_setting.csv")
    loss = bands[bands["key"] == "test/loss"].set_index(["task.p", "epoch"])
    assert sorted(loss.index) == [(p, e) for p in (23, 31) for e in (0, 10, 20)]  # epoch 30: one seed only
    for (p, epoch), row in loss.iterrows():
        scale = (epoch + 1) * (1 if p == 23 else 10)
        assert (row["mean"], row["min"], row["max"], row["n"]) == (1.5 * scale, scale, 2 * scale, 2)
        assert row["setting_id"] == setting_id({"seed": 0, "max_epochs": 1, "task": {"p": int(p)}})
    acc = bands[bands["key"] == "test/acc"]
    assert sorted(acc["epoch"].unique()) == [0, 20] and (acc["mean"] == 0.5).all()
    long = pd.read_csv(curve_sweep / "curves.csv")
    assert list(long.columns) == ["task.p", "setting_id", "seed", "run_dir", "epoch", "key", "value"]
    assert len(long) == 13 + 8 and list(long[long["epoch"] == 30]["value"]) == [2 * 31]  # the extended seed's
    for key in ("test_loss", "test_acc"):
        assert (curve_sweep / f"curves_{key}.png").read_bytes().startswith(b"\x89PNG")
    assert "curves -> " in capsys.readouterr().out


def test_curves_refuse_an_unlogged_key_or_unreadable_history_before_writing(curve_sweep, capsys):
    err = refusal(collect_main, [str(curve_sweep), "--curves", "test/loss", "test/los"], capsys)
    assert "--curves='test/los'" in err and "test/acc, test/loss" in err
    assert not list(curve_sweep.glob("*.csv")) and not list(curve_sweep.glob("*.png"))
    history = curve_sweep / "p=31,seed=1" / "metrics.csv"
    history.write_text('epoch,test/loss\n0,"1\n')  # a quote never closed
    err = refusal(collect_main, [str(curve_sweep), "--curves", "test/loss"], capsys)
    assert f"{history}=None: must be a CSV" in err and not (curve_sweep / "runs.csv").exists()


def test_curves_from_python_take_the_collected_table_or_paths(curve_sweep):
    from_paths = curves([curve_sweep], ["test/loss"])
    assert from_paths.equals(curves(collect([curve_sweep]), ["test/loss"]))
    assert set(from_paths["seed"]) == {0, 1} and set(from_paths["key"]) == {"test/loss"}


def test_a_metric_some_settings_never_reach_plots_the_others_against_a_named_key(tmp_path, monkeypatch):
    """``grok_epoch/test`` is None where a run never grokked (an object column when every run of a setting lacks
    it): those points are left out, and a text-valued key (``matmul_precision``) is a categorical x axis."""
    runs = pd.DataFrame({"status": ["completed"] * 4, "seed": [0, 1, 0, 1],
                         "matmul_precision": ["highest", "highest", "high", "high"],
                         "grok_epoch/test": [1500, 1700, None, None]}).astype({"grok_epoch/test": object})
    drawn = []
    monkeypatch.setattr(Axes, "plot", lambda self, x, y, **kw: drawn.append((list(x), list(y))))
    collect_lib.plot(runs, "grok_epoch/test", "matmul_precision", None, tmp_path / "grok.png")
    assert (tmp_path / "grok.png").stat().st_size > 0
    assert len(drawn) == 1 and drawn[0][0] == ["high", "highest"]
    assert pd.isna(drawn[0][1][0]) and drawn[0][1][1] == 1600


def test_a_seed_collected_twice_counts_once_and_is_named(tmp_path, capsys):
    """An ensemble member and a sweep job of the same setting and seed are one run, not two seeds."""
    job = make_run(tmp_path / "sweep" / "seed=0", completed(0))
    make_run(tmp_path / "sweep" / "seed=1", completed(1))
    member = make_run(tmp_path / "ensemble" / "members" / "0_seed=0", completed(0))
    runs = collect([tmp_path], strict=True)
    assert sorted(runs["run_dir"]) == sorted([str(member), str(tmp_path / "sweep" / "seed=1")])  # a tie: path order
    assert f"{job} repeats the setting and seeds of {member}" in capsys.readouterr().err
    assert collect_lib.aggregate(runs)["test/acc:n"].tolist() == [2]


def test_aggregate_is_not_fragmented(tmp_path, recwarn):
    for seed in range(3):
        final = {f"family/key_{i}": float(i + seed) for i in range(150)}
        make_run(tmp_path / str(seed), json.dumps({"status": "completed", "epochs": 10, "final": final,
                                                   "config": {"seed": seed, "task": {"p": 23}}}))
    table = collect_lib.aggregate(collect([tmp_path]))
    assert table["family/key_149:n"].tolist() == [3]
    assert not [w for w in recwarn if "fragmented" in str(w.message)]


def test_a_metric_missing_in_every_run_is_refused_before_plotting(tmp_path, capsys):
    for seed in (0, 1):
        make_run(tmp_path / str(seed), json.dumps({"status": "completed", "epochs": 10,
                                                   "final": {"test/acc": None, "test/loss": 1.0},
                                                   "config": {"seed": seed, "task": {"p": 23 + seed}}}))
    err = refusal(collect_main, [str(tmp_path), "--plot", "test/acc", "--x", "task.p"], capsys)
    assert "--plot='test/acc'" in err and "every" in err and not list(tmp_path.glob("*.png"))
