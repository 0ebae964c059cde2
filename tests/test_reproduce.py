"""grokscope-reproduce: every sweep of every reproduction composes and validates at every scale; the reports
and their summary are filled from the run dirs (slow: each reproduction at the tiny scale)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from grokscope.analysis.collect import find_run_dirs, read_summary
from grokscope.cli.reproduce import main
from grokscope.config import ConfigError
from grokscope.reproduce.catalogue import REPRODUCTIONS
from grokscope.reproduce.plan import NAMES
from grokscope.reproduce.report import Claim, Findings, smoke_test, write_report, write_summary
from grokscope.reproduce.runs import number
from grokscope.run.config import validate
from tests.helpers.config import make_config

PLANS = [(name, scale) for name in REPRODUCTIONS for scale in ("paper", "cpu")]


@pytest.mark.parametrize(("name", "scale"), PLANS, ids=[f"{n}-{s}" for n, s in PLANS])
def test_every_sweep_composes_and_validates(name, scale):
    """The last grid point of each sweep (the largest seed, width, fraction) is a valid config; the tiny scale
    is trained by the slow test below."""
    plan = REPRODUCTIONS[name].plan(scale)
    for sweep in plan.sweeps:
        point = {key: values[-1] for key, values in sweep.grid.items()}
        try:
            config = validate(make_config(f"experiment={sweep.experiment}", *sweep.overrides,
                                          *(f"{key}={value}" for key, value in point.items()), "logger=csv"))
        except ConfigError as err:  # the paper's OOCL table needs more memory than a laptop has: refused by name
            assert (name, scale, err.key) == ("oocl", "paper", "task.p") and "at most p=" in str(err)
            continue
        assert config.run.seed == point.get("seed", config.run.seed)
    assert bool(plan.cuts) == (scale != "paper")  # a cut scale says what it cuts; the paper scale cuts nothing


def test_the_command_line_names_every_reproduction():
    assert tuple(REPRODUCTIONS) == NAMES  # the parser's choices, known before the catalogue loads


def test_sweep_command_line_is_a_hydra_multirun(tmp_path):
    sweep = REPRODUCTIONS["pizza"].plan("cpu").sweep("phase")
    arguments = sweep.arguments(tmp_path, jobs=2)
    assert arguments[:2] == ["-m", "experiment=pizza_2023"]
    assert "model.attention_rate=0,0.5,1" in arguments and "hydra.launcher.n_jobs=2" in arguments
    assert arguments[-1] == f"hydra.sweep.dir={tmp_path / 'phase'}"
    assert "hydra/launcher=joblib" not in sweep.arguments(tmp_path, jobs=1)


def test_report_and_summary(tmp_path):
    figure = tmp_path / "drawn.png"
    figure.write_bytes(b"\x89PNG")
    findings = Findings(claims=[Claim("grokking", "3 of 3", "groks", "§3", "yes"),
                                Claim("phases", "2 of 3", "ordered", "§5.1", "no", "seed 2 never cleans up")],
                        tables=[("Seeds", [{"seed": 0, "test acc": 0.99}])], figures=[("curve", figure)],
                        pending=["the paper scale"], compute_s=3725.0, devices=["cpu"])
    plan = REPRODUCTIONS["nanda_2023"].plan("cpu")
    path = write_report("nanda_2023", "Nanda", plan, findings, ["grokscope-reproduce nanda_2023"], tmp_path, 12.0)
    text = path.read_text()
    assert "| grokking | 3 of 3 | cpu scale (cut: see below) | groks | §3 | yes |" in text
    assert "seed 2 never cleans up" in text
    assert "| 0 | 0.990 |" in text and "![curve](nanda_2023/0_drawn.png)" in text
    assert (tmp_path / "nanda_2023" / "0_drawn.png").read_bytes() == b"\x89PNG"
    assert "1 h 02 min" in text and all(cut in text for cut in plan.cuts)
    summary = write_summary(tmp_path).read_text()
    assert "[Nanda](nanda_2023.md) (cpu) | ordered | 2 of 3 | cpu scale (cut: see below) | no |" in summary
    with pytest.raises(ValueError, match="agrees='maybe'"):
        Claim("q", "m", "p", "s", "maybe")


def test_claims_say_where_they_were_measured_and_tiny_runs_are_smoke_tests(tmp_path):
    headline = Claim("grokking", "3 of 3", "groks", "§3", "yes", measured_at="the paper's setting, 12,000 epochs")
    findings = Findings(claims=[headline, Claim("fractions", "0.4: 3000", "later", "§3", "no")])
    write_report("nanda_2023", "Nanda", REPRODUCTIONS["nanda_2023"].plan("cpu"), findings, ["c"], tmp_path, 1.0)
    summary = write_summary(tmp_path).read_text()
    assert "| 3 of 3 | the paper's setting, 12,000 epochs | yes |" in summary
    assert "| 0.4: 3000 | cpu scale (cut: see below) | no |" in summary
    assert [c.agrees for c in smoke_test(findings.claims)] == ["smoke test", "smoke test"]


@pytest.mark.parametrize("name", list(REPRODUCTIONS))
def test_every_cut_plan_names_its_cuts_and_its_time(name):
    for scale in ("cpu", "tiny"):
        plan = REPRODUCTIONS[name].plan(scale)
        assert plan.cuts and "min" in plan.estimate


@pytest.mark.parametrize(("argv", "named"), [(["nanda"], "name"), (["pizza", "--scale", "huge"], "--scale"),
                                             (["oocl", "--jobs", "0"], "--jobs")])
def test_usage_errors_are_one_line(argv, named, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    assert done.value.code == 2 and out == ""
    assert err.count("\n") == 1 and named in err and err.startswith("grokscope-reproduce: error:")


#: per reproduction, a number each completed run puts in the report, as the report formats it
RUN_CELLS = {
    "nanda_2023": lambda summary: number(summary["final"]["test/acc"]),
    "chughtai": lambda summary: number(summary["final"]["test/acc"]),
    "circle_survival": lambda summary: number(summary["final"]["test/acc"]),
    "pizza": lambda summary: number(summary["final"]["pizza/gradient_symmetricity"]),
    "prieto": lambda summary: number(summary["final"]["test/acc"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(REPRODUCTIONS))
def test_tiny_reproduction_report_is_filled_from_its_run_dirs(name, tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "docs"
    command = [sys.executable, "-m", "grokscope.cli.reproduce", name, "--scale", "tiny", "--runs", str(runs),
               "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True)
    record = json.loads((out / f"{name}.json").read_text())
    text = (out / f"{name}.md").read_text()
    summaries = [read_summary(run_dir) for run_dir in find_run_dirs([runs], quiet=True)]
    planned = sum(np.prod([len(v) for v in sweep.grid.values()]) for sweep in REPRODUCTIONS[name].plan("tiny").sweeps)
    assert len(summaries) == planned and all(s["status"] == "completed" for s in summaries)
    assert record["claims"] and all(claim["agrees"] == "smoke test" for claim in record["claims"])
    assert f"--runs {runs} --out {out}" in record["commands"][0]
    assert record["compute_s"] == pytest.approx(sum(s["wall_time_s"] for s in summaries), abs=0.1)
    if name in RUN_CELLS:
        for summary in summaries:
            assert f"| {RUN_CELLS[name](summary)} |" in text
    else:  # oocl: one row per objective, its seed mean
        means = [np.mean([s["final"]["holdout1/acc"] for s in summaries if s["config"]["task"]["k2"] == k2])
                 for k2 in (0.0, 1.0)]
        assert all(f"{mean:.3f}" in text for mean in means)
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert (out / image).is_file()
    assert f"[{REPRODUCTIONS[name].title}]({name}.md) (tiny)" in (out / "README.md").read_text()
    again = subprocess.run([*command, "--report-only"], check=True, capture_output=True, text=True)
    assert again.stdout.strip() == f"report -> {out / f'{name}.md'}"
    assert json.loads((out / f"{name}.json").read_text())["claims"] == record["claims"]


def test_nanda_phase_boundaries_stand_beside_the_papers_with_an_account_past_a_fifth():
    from grokscope.reproduce.nanda import _boundaries

    near = _boundaries({"seed": 0, "epochs": 14000, "test grok": 9000,
                        "_phases": {"circuit_formation": 1500, "cleanup": 9000, "stable": 13000}})
    assert near["end of memorisation (paper 1,400)"] == "1,500 (1.07)"
    assert near["account"] == "within a fifth of the paper's"
    early = _boundaries({"seed": 1, "epochs": 12000, "test grok": 4500,
                         "_phases": {"circuit_formation": 1400, "cleanup": 5000, "stable": 6000}})
    assert early["account"].startswith("end of circuit formation earlier, end of cleanup earlier than the paper's")
    assert "generalises (test accuracy 0.99) at epoch 4,500" in early["account"]
    late = _boundaries({"seed": 2, "epochs": 12000, "test grok": None, "_phases": {"circuit_formation": 1400}})
    assert late["account"] == ("end of circuit formation and end of cleanup: not reached within the run's 12,000 "
                               "epochs")


def _nanda_seed(seed: int, test_grok: int | None) -> dict:
    phases = {"circuit_formation": 1400, "cleanup": 9000, "stable": 11000} if test_grok else {"circuit_formation": 1400}
    return {"seed": seed, "p": 113, "frac_train": 0.3, "_p": 113, "epochs": 12000, "train grok": 200,
            "test grok": test_grok, "final test acc": 1.0 if test_grok else 0.1,
            "_test_loss": 0.01 if test_grok else 20,
            "key freqs": "14 35 41" if test_grok else " ".join(map(str, range(1, 57))),
            "_n_freqs": 3 if test_grok else 56,
            "circuit formation": phases.get("circuit_formation"), "cleanup": phases.get("cleanup"),
            "stable": phases.get("stable"), "_phases": phases, "_gini": (0.2, 0.6), "_norm": (60.0, 40.0)}


def test_a_seed_not_yet_generalised_in_a_cut_run_leaves_the_grokking_verdict_pending():
    from grokscope.reproduce.nanda import _claims

    claims = {c.quantity: c for c in _claims([_nanda_seed(0, 8000), _nanda_seed(1, 4500), _nanda_seed(2, None)], [],
                                             "cpu")}
    assert claims["grokking"].agrees == "pending" and "seed 2 had not generalised by epoch 12,000" in claims[
        "grokking"].note
    assert claims["key frequencies"].agrees == "yes" and "over the seeds that generalised" in claims[
        "key frequencies"].note
    assert claims["phases"].agrees == "yes" and "the paper's setting (p = 113, 30%" in claims["phases"].measured_at
    every = {c.quantity: c for c in _claims([_nanda_seed(0, 8000), _nanda_seed(1, 4500)], [], "cpu")}
    assert every["grokking"].agrees == "yes" and "No verdict" not in every["grokking"].note


def test_nanda_rewrites_a_report_from_the_remetric_it_wrote(tmp_path):
    from grokscope.reproduce import nanda
    from tests.helpers.runs import train

    train(tmp_path, "experiment=nanda_2023", *nanda.TINY, "snapshot_every_n_epochs=10")
    computed = nanda._remetric(tmp_path)
    assert (tmp_path / "remetric" / "summary.json").is_file()
    read_back = nanda._remetric(tmp_path)
    assert read_back[0] == computed[0] and read_back[1] == computed[1]
    assert [row["epoch"] for row in read_back[2]] == [row["epoch"] for row in computed[2]] == [0, 10, 20, 30, 40]
    for ours, theirs in zip(read_back[2], computed[2]):
        assert ours["progress/gini_W_E"] == pytest.approx(theirs["progress/gini_W_E"], rel=1e-12)
