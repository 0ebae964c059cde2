"""The stopping rule (grokscope.training.stopping): a run ends ``stop.after_epochs`` after its event, as the same
run without the rule saw it; the summary says why; a resumed run keeps the rule; bad values are refused."""

from __future__ import annotations

import pandas as pd
import pytest

from grokscope.analysis.collect import collect, time_line
from grokscope.training.stopping import StopRule
from tests.helpers.config import assert_config_error
from tests.helpers.runs import interrupted_after_checkpoint, train

#: a tiny run that generalises within a few hundred epochs
GROKS = ("experiment=tiny_modular", "task.frac_train=0.9", "optimizer.lr=1e-2", "max_epochs=700",
         "log_every_n_epochs=10", "metrics.every_n_epochs=100", "checkpoint_every_n_epochs=100")
RULE = ("stop.event=test_acc", "stop.after_epochs=50")


def metrics(run_dir) -> pd.DataFrame:
    return pd.read_csv(run_dir / "metrics.csv", float_precision="round_trip")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("full")
    return run_dir, train(run_dir, *GROKS)


def test_a_run_ends_after_its_event_as_the_run_without_the_rule_saw_it(full_run, tmp_path):
    full_dir, full = full_run
    grok = full["grok_epochs"]["test"]
    assert grok is not None and grok + 50 < 700, "the run must generalise early enough to test the rule"
    stopped = train(tmp_path / "stopped", *GROKS, *RULE)
    assert stopped["epochs"] == grok + 50 == stopped["final"]["epoch"]
    assert stopped["grok_epochs"] == full["grok_epochs"]
    assert stopped["stopped"] == {"by": "stop rule", "event": "test_acc", "event_epoch": grok, "after_epochs": 50}
    assert full["stopped"] == {"by": "max_epochs"}
    ours, theirs = metrics(tmp_path / "stopped"), metrics(full_dir)
    scores = ["epoch", "train/loss", "test/loss", "train/acc", "test/acc"]
    pd.testing.assert_frame_equal(ours[scores], theirs[theirs["epoch"] <= grok + 50][scores])
    # one setting and seed (the rule says when a run ends, not what it learns): collected apart
    runs = pd.concat([collect([full_dir]), collect([tmp_path / "stopped"])], ignore_index=True)
    assert sorted(runs["stopped"]) == ["max_epochs", "stop rule"]
    assert "1 ended by their stop rule" in time_line(runs)


def test_a_short_real_run_that_groks_writes_its_phases_and_its_curves_shade_them(full_run):
    from grokscope.metrics.curves import curves_figure
    from grokscope.metrics.family import RunRecord

    full_dir, full = full_run
    phases = full["phases"]
    assert phases["circuit_formation_end"] is not None and phases["cleanup_end"] is not None
    assert phases["circuit_formation_end"] <= phases["cleanup_end"] <= full["epochs"]
    assert phases["memorisation_end"] is not None or "memorisation_end" in phases["reasons"]
    history = metrics(full_dir).to_dict("records")
    history = [{k: v for k, v in row.items() if v == v} for row in history]  # NaN: not logged that epoch
    task = type("Task", (), {"eval_masks": ("train", "test")})
    fig = curves_figure(RunRecord(history, {}, {}, task, None), "run")
    shaded = {"cleanup"} | ({"memorisation", "circuit formation"} if phases["memorisation_end"] is not None else set())
    assert {p.get_label() for ax in fig.axes for p in ax.patches} == shaded


def test_a_resumed_run_keeps_its_rule(full_run, tmp_path, monkeypatch):
    grok = full_run[1]["grok_epochs"]["test"]
    uninterrupted = train(tmp_path / "once", *GROKS, *RULE)
    interrupted_after_checkpoint(monkeypatch, 100, *GROKS, *RULE, run_dir=tmp_path / "twice")
    resumed = train(tmp_path / "twice", *GROKS, *RULE)
    assert resumed["epochs"] == uninterrupted["epochs"] == grok + 50
    pd.testing.assert_frame_equal(metrics(tmp_path / "twice"), metrics(tmp_path / "once"))
    again = train(tmp_path / "twice", *GROKS, *RULE)  # finished by its rule: not reopened to max_epochs
    assert again["epochs"] == grok + 50


def test_cleanup_end_moves_later_while_the_test_loss_still_falls():
    rule = StopRule("cleanup_end", 100, 10_000)
    falling = [{"epoch": e, "test/acc": 1.0 if e >= 300 else 0.1, "test/loss": 10.0 if e < 300 else 10.0 / (e - 290)}
               for e in range(0, 2000, 10)]
    settled = [{**row, "test/loss": max(row["test/loss"], 0.05)} for row in falling]
    assert rule.event_epoch(falling, 1000) < rule.event_epoch(falling, 2000)  # still falling: it moves
    event = rule.event_epoch(settled, 2000)
    assert event == rule.event_epoch(settled, 1500) and event < 600  # settled at 0.05 from epoch 490: it stays
    assert rule.end([settled], 2000) == 2000  # the event has passed: end now
    assert rule.end([settled, falling[:10]], 2000) == 10_000  # an ensemble waits for every member


@pytest.mark.parametrize(("override", "key"), [("stop.event=grokked", "stop.event"),
                                               ("stop.after_epochs=-1", "stop.after_epochs")])
def test_bad_stop_values_are_refused(override, key):
    assert_config_error(key, override)


@pytest.mark.slow
def test_a_fraction_sweep_with_the_rule_groks_at_the_same_epochs_in_less_time(tmp_path, capsys):
    from grokscope.cli.analyze import main
    from tests.helpers.cli import cli

    fixed = [o for o in GROKS if not o.startswith(("task.frac_train=", "max_epochs="))]
    cells = ["-m", *fixed, "max_epochs=900", "logger=csv", "progress_bar=false", "plots=false",
             "task.frac_train=0.8,0.9"]
    for name, extra in (("full", ()), ("stopped", RULE)):
        proc = cli(*cells, *extra, f"hydra.sweep.dir={tmp_path / name}", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    full, stopped = (collect([tmp_path / name]).set_index("task.frac_train").sort_index()
                     for name in ("full", "stopped"))
    assert full["grok_epoch/test"].notna().all()
    assert full["grok_epoch/test"].tolist() == stopped["grok_epoch/test"].tolist()
    assert stopped["epochs"].sum() < full["epochs"].sum() and set(stopped["stopped"]) == {"stop rule"}
    capsys.readouterr()
    main(["collect", str(tmp_path / "stopped")])
    assert "2 ended by their stop rule" in capsys.readouterr().out
