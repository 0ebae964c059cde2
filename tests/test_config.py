"""Bad input exits non-zero with one line naming the key; nothing is trained."""

from __future__ import annotations

import sys

import pytest

from grokscope.cli.train import main
from grokscope.run.config import validate
from tests.helpers.cli import cli
from tests.helpers.config import assert_config_error, make_config

BAD = [
    (["task.frac_train=1.5"], "task.frac_train"),
    (["task.p=1"], "task.p"),
    (["task.op=div", "task.p=100"], "task.p"),
    (["model.d_embed=0"], "model.d_embed"),
    (["optimizer.lr=-1"], "optimizer.lr"),
    (["model.d_embed=abc"], "model.d_embed"),
    (["foo=1"], "foo"),
    (["model.foo=1"], "model.foo"),
    (["model=foo"], "model='foo'"),
    (["device=tpu"], "device"),
]


@pytest.mark.parametrize(("overrides", "key"), BAD[:6] + BAD[9:])
def test_validate_names_the_key(overrides, key):
    assert_config_error(key, *overrides)


@pytest.mark.parametrize(("overrides", "key"), BAD)
def test_console_entry_bad_input_one_line(tmp_path, monkeypatch, capsys, overrides, key):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["grokscope-train", *overrides, "logger=csv"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and key in lines[0] and lines[0].startswith("grokscope-train: error: ")
    assert not list(tmp_path.rglob("metrics.csv")) and not list(tmp_path.rglob("*.ckpt"))


def test_cli_process_exits_non_zero_without_traceback(tmp_path):
    proc = cli("task.frac_train=1.5", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "grokscope-train: error: task.frac_train=1.5: must be in (0, 1)"


def test_default_config_is_valid():
    config = validate(make_config())
    assert config.task.p == 97 and config.model.name == "mlp"
    assert config.run.seeds.data == config.run.seeds.model == config.run.seeds.embedding == config.run.seed


def test_seeds_follow_seed_unless_set():
    config = validate(make_config("seed=5", "seeds.data=9"))
    assert (config.run.seeds.data, config.run.seeds.model, config.run.seeds.embedding) == (9, 5, 5)


def test_nanda_experiment_composes():
    config = validate(make_config("experiment=nanda_2023"))
    assert (config.task.p, config.task.frac_train, config.model.name) == (113, 0.3, "transformer")
    assert (config.model.d_model, config.model.n_heads, config.model.d_head, config.model.d_mlp) == (128, 4, 32, 512)
    assert config.optimizer.weight_decay == 1.0 and config.run.max_epochs == 40000
