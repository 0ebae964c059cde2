"""task=oocl: token layout, sequences, held-out masks, run name and config errors (reference/oocl.md §2-6)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from grokscope.config import ConfigError
from grokscope.metrics import fit
from grokscope.run import build
from grokscope.run.compose import compose
from grokscope.run.config import validate
from grokscope.tasks.oocl import OoclConfig, n_train_cells, oocl_task
from tests.helpers.config import assert_config_error

SRC = Path(__file__).resolve().parents[1] / "src"


def make(p: int = 7, op: str = "x2+y2", h1: float = 0.5, h2: float = 0.5, k=(1.0, 1.0, 1.0), seed: int = 0):
    cfg = OoclConfig(name="oocl", p=p, op=op, holdout1=h1, holdout2=h2, k1=k[0], k2=k[1], k3=k[2])
    cfg.check("task")
    return oocl_task(cfg, seed)


def table_part(mask: torch.Tensor, p: int, table: int) -> torch.Tensor:
    """The ``p^2`` cells of table 1 or 2 of a row mask."""
    return mask[(table - 1) * p * p : table * p * p]


def test_vocabulary_layout():
    p = 7
    task = make(p)
    assert task.d_vocab == 2 * p + 4 and task.n_classes == 2 * p and task.n_ctx == 4
    assert task.token_names[:p] == tuple(str(i) for i in range(p))
    assert task.token_names[p : 2 * p] == tuple(f"{i}'" for i in range(p))
    assert task.token_names[2 * p :] == ("=", "true", "false", "define")


@pytest.mark.parametrize("op, fn", [("x2+y2", lambda x, y, p: (x * x + y * y) % p),
                                    ("add", lambda x, y, p: (x + y) % p),
                                    ("mul", lambda x, y, p: x * y % p)])
def test_sequences_are_the_originals(op, fn):
    """Fed tokens + label = the original's 5-token sequences, answer read at "=" (position 3)."""
    p = 5
    task = make(p, op=op)
    seq = torch.cat([task.tokens, task.labels[:, None]], dim=1).tolist()  # [N, 5]
    equal, true, false, define = range(2 * p, 2 * p + 4)
    assert len(seq) == 2 * p * p + 2 * p
    for x in range(p):
        for y in range(p):
            z = fn(x, y, p)
            assert seq[x * p + y] == [true, x, y, equal, z]
            assert seq[p * p + x * p + y] == [true, x + p, y + p, equal, z + p]
    for i in range(p):
        assert seq[2 * p * p + i] == [define, define, i, equal, i + p]
        assert seq[2 * p * p + p + i] == [define, define, i + p, equal, i]
    assert false not in task.tokens


def test_masks_and_loss_terms():
    p = 11
    task = make(p, h1=0.4, h2=0.6, k=(1.0, 0.5, 2.0))
    m = task.masks
    tables = torch.zeros(2 * p * p + 2 * p, dtype=torch.bool)
    assert torch.equal(m["train1"] | m["holdout1"], tables.index_fill(0, torch.arange(p * p), True))
    assert not (m["train1"] & m["holdout1"]).any() and not (m["train2"] & m["holdout2"]).any()
    assert torch.equal(m["train2"] | m["holdout2"], tables.index_fill(0, torch.arange(p * p, 2 * p * p), True))
    assert m["links"].sum() == 2 * p and m["links"][-2 * p :].all()
    assert torch.equal(m["holdout1_alias_seen"] | m["holdout1_alias_unseen"], m["holdout1"])
    assert torch.equal(table_part(m["holdout1_alias_seen"], p, 1), table_part(m["holdout1"], p, 1)
                       & table_part(m["train2"], p, 2))
    assert [(t.name, t.mask, t.weight) for t in task.loss_terms] == [
        ("table1", "train1", 1.0), ("table2", "train2", 0.5), ("links", "links", 2.0)]
    assert {"train1", "train2", "links", "holdout1", "holdout2"} <= set(task.eval_masks)


@pytest.fixture
def an_80gb_device(monkeypatch):
    """The original's p = 997 needs about 37 GiB at evaluation: validate it as on an 80 GB GPU."""
    monkeypatch.setattr(fit, "device_memory_bytes", lambda device: 80 * 2**30)


def test_held_out_counts_match_the_original(an_80gb_device):
    """oocl.md §4: p = 997, h = 0.6 gives 397,603 training and 596,406 held-out cells per table."""
    task, _ = build(validate(compose(["experiment=oocl"])))
    for i in (1, 2):
        assert task.masks[f"train{i}"].sum() == n_train_cells(997, 0.6) == 397_603
        assert task.masks[f"holdout{i}"].sum() == 596_406


def test_masks_are_reproducible_from_the_seed():
    a, b, c = make(31, seed=3), make(31, seed=3), make(31, seed=4)
    for name in ("holdout1", "holdout2"):
        assert torch.equal(a.masks[name], b.masks[name])
        assert not torch.equal(a.masks[name], c.masks[name])
    assert torch.equal(make(31, seed=3, k=(1.0, 0.0, 0.0)).masks["holdout1"], a.masks["holdout1"])


def test_masks_are_independent():
    """Each mask depends only on its own fraction; held-out cells overlap as two independent draws would."""
    p, h = 61, 0.5
    task = make(p, h1=h, h2=h, seed=1)
    held1, held2 = table_part(task.masks["holdout1"], p, 1), table_part(task.masks["holdout2"], p, 2)
    assert torch.equal(table_part(make(p, h1=h, h2=0.2, seed=1).masks["holdout1"], p, 1), held1)
    assert torch.equal(table_part(make(p, h1=0.2, h2=h, seed=1).masks["holdout2"], p, 2), held2)
    n = p * p
    f1, f2 = held1.float().mean().item(), held2.float().mean().item()
    expected = f1 * f2 * n
    assert abs((held1 & held2).sum().item() - expected) < 4 * math.sqrt(n * f1 * f2 * (1 - f1 * f2))
    # not symmetric: (x, y) and (y, x) are independent cells
    square = held1.reshape(p, p)
    assert not torch.equal(square, square.T)


def test_run_name(an_80gb_device):
    assert validate(compose(["experiment=oocl"])).task.run_name() == "oocl_x2+y2_997_0.6_0.6_1.0_1.0_1.0"
    cfg = validate(compose(["task=oocl", "task.op=add", "task.p=31", "task.holdout1=0.123", "task.k2=0",
                            "task.k3=0.5"]))
    assert cfg.task.run_name() == "oocl_add_31_0.12_0.12_1.0_0.0_0.5"


@pytest.mark.parametrize("override, key", [
    ("task.holdout1=1.0", "task.holdout1"),
    ("task.holdout1=-0.1", "task.holdout1"),
    ("task.holdout2=1.5", "task.holdout2"),
    ("task.k2=-1", "task.k2"),
    ("task.p=2", "task.p"),
    ("task.op=pow", "task.op"),
    ("batch_size=0", "batch_size"),
])
def test_bad_input_names_the_key(override, key):
    assert_config_error(key, "task=oocl", override)


def test_all_weights_zero_is_an_error():
    with pytest.raises(ConfigError) as err:
        validate(compose(["task=oocl", "task.k1=0", "task.k2=0", "task.k3=0"]))
    assert err.value.key == "task.k1" and "task.k3" in str(err.value)


def test_a_holdout_that_leaves_no_training_cell_is_an_error():
    with pytest.raises(ConfigError) as err:
        validate(compose(["task=oocl", "task.p=3", "task.holdout1=0.95"]))
    assert err.value.key == "task.holdout1"


def test_console_reports_a_bad_weight_in_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "grokscope.cli.train", "task=oocl", "task.k1=-1"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "task.k1" in lines[0], proc.stderr


def test_sweep_table_reads_completed_runs_only(tmp_path):
    """``analysis.oocl.load_runs``: completed OOCL runs; failed, unreadable and ensemble dirs are skipped."""
    from grokscope.analysis.oocl import FINAL_KEYS, load_runs

    task = {"name": "oocl", "op": "x2+y2", "p": 7, "holdout1": 0.6, "holdout2": 0.6, "k1": 1.0, "k2": 1.0, "k3": 1.0}
    done = {"status": "completed", "epochs": 10, "config": {"task": task, "seed": 3},
            "final": dict.fromkeys(FINAL_KEYS, 0.5), "grok_epochs": {"holdout1": None}}
    for name, text in (("done", json.dumps(done)), ("failed", json.dumps({"status": "failed", "config": {}})),
                       ("torn", "{not json"), ("ensemble", json.dumps({"status": "completed", "members": [],
                                                                         "config": done["config"]}))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(text)
    runs = load_runs(tmp_path)
    assert [(r["run"], r["seed"], r["holdout1/acc"]) for r in runs] == [("done", 3, 0.5)]


def test_cli_writes_the_sweep_tables_and_refuses_a_dir_without_oocl_runs(tmp_path, capsys):
    """``grokscope-analyze oocl``: the four files of a sweep; a dir without OOCL runs is one line, exit 2."""
    from grokscope.analysis.oocl import FINAL_KEYS
    from grokscope.cli.analyze import main

    with pytest.raises(SystemExit) as exit_:
        main(["oocl", str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err == f"grokscope-analyze oocl: error: sweep_dir='{tmp_path}': must hold " \
        "completed runs of task=oocl (their summary.json)\n"
    for seed, k in ((0, 1.0), (1, 1.0), (0, 0.0)):
        task = {"name": "oocl", "op": "ssq", "p": 7, "holdout1": 0.6, "holdout2": 0.6, "k1": 1.0, "k2": k, "k3": k}
        summary = {"status": "completed", "epochs": 10, "config": {"task": task, "seed": seed},
                   "final": dict.fromkeys(FINAL_KEYS, 0.25 + 0.75 * seed), "grok_epochs": {"holdout1": None}}
        (tmp_path / f"{seed}_{k}").mkdir()
        (tmp_path / f"{seed}_{k}" / "summary.json").write_text(json.dumps(summary))
    main(["oocl", str(tmp_path), "--out", str(tmp_path / "out")])
    lines = (tmp_path / "out" / "oocl_summary.md").read_text().splitlines()
    assert capsys.readouterr().out.splitlines() == lines and len(lines) == 4  # header, rule, one row per objective
    assert "| (1,1,1) | 0 1 | 0.625 | 0.250 | 1.000 |" in lines[3] and lines[3].endswith("| 1/2 |")  # mean, min, max
    assert len((tmp_path / "out" / "oocl_runs.csv").read_text().splitlines()) == 4
    assert (tmp_path / "out" / "oocl_sweep.png").stat().st_size > 0
