"""grokscope-analyze collect (alias grokscope-collect) and phase-diagram refuse bad input in one line, exit 2, before
writing anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
