"""Ensembles (speed.md §6): a member equals the separate run with its seed; members' run dirs are runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from grokscope.analysis.collect import collect
from grokscope.config import ConfigError, validate
from grokscope.ensemble import member_specs
from grokscope.train import run
from grokscope.training.outputs import load_arrays
from tests.conftest import make_config, train

MLP = ("task.p=23", "max_epochs=200", "metrics.every_n_epochs=100", "log_every_n_epochs=50")
# No attention biases: the gradient of b_K is zero up to rounding, which Adam amplifies into noise.
TRANSFORMER = ("task.p=13", "model=transformer", "model.d_model=16", "model.n_heads=2", "model.d_head=8",
               "model.d_mlp=32", "model.attn_bias=false", "task.equals_token=true", "max_epochs=120",
               "metrics.every_n_epochs=60", "log_every_n_epochs=30", "optimizer.grad_clip=0.5",
               "optimizer.warmup_steps=10")


def assert_same_run(member_dir: Path, single_dir: Path) -> None:
    member, single = (json.loads((d / "summary.json").read_text()) for d in (member_dir, single_dir))
    assert member["status"] == single["status"] == "completed"
    assert member["final"].keys() == single["final"].keys()
    for key, value in single["final"].items():
        assert member["final"][key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    assert member["grok_epochs"] == single["grok_epochs"]
    assert member["config"] == single["config"]
    for name in ("fourier.npz",):
        a, b = load_arrays(member_dir / "arrays" / name), load_arrays(single_dir / "arrays" / name)
        for key in b:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-7)
    ckpts = [torch.load(d / "checkpoints" / "last.ckpt", weights_only=False) for d in (member_dir, single_dir)]
    assert ckpts[0]["grokscope"]["epoch"] == ckpts[1]["grokscope"]["epoch"]
    for key, value in ckpts[1]["state_dict"].items():
        torch.testing.assert_close(ckpts[0]["state_dict"][key], value, rtol=1e-5, atol=1e-6)
    state = ckpts[1]["optimizer_states"][0]["state"]
    for index, slots in state.items():
        for slot, value in slots.items():
            torch.testing.assert_close(ckpts[0]["optimizer_states"][0]["state"][index][slot], value,
                                       rtol=1e-4, atol=1e-8)


def test_mlp_members_equal_separate_runs_and_are_collected(tmp_path):
    summary = train(tmp_path / "ensemble", *MLP, "ensemble.size=2")
    members = [Path(d) for d in summary["members"]]
    assert [d.name for d in members] == ["0_seed=0", "1_seed=1"]
    train(tmp_path / "single", *MLP, "seed=1")
    assert_same_run(members[1], tmp_path / "single")
    assert sorted(p.name for p in members[0].iterdir()) == [
        ".hydra", "arrays", "checkpoints", "metrics.csv", "plots", "summary.json"]
    assert yaml.safe_load((members[1] / ".hydra" / "overrides.yaml").read_text()) == ["seed=1"]
    runs = collect([tmp_path])  # the members, not the ensemble's own dir (nor "single": run without Hydra)
    assert sorted(runs["run_dir"]) == [str(d) for d in members]
    assert sorted(runs["seed"]) == [0, 1]
    assert set(runs["status"]) == {"completed"}


def test_transformer_weight_decay_members_with_clipping_equal_separate_runs(tmp_path):
    """Per-member decoupled decay and per-member clipping: member 1 is the run with weight decay 0.1."""
    summary = train(tmp_path / "ensemble", *TRANSFORMER, "ensemble.weight_decay=[1.0,0.1]")
    members = [Path(d) for d in summary["members"]]
    assert [d.name for d in members] == ["0_seed=0,optimizer.weight_decay=1.0",
                                         "1_seed=0,optimizer.weight_decay=0.1"]
    train(tmp_path / "single", *TRANSFORMER, "optimizer.weight_decay=0.1")
    assert_same_run(members[1], tmp_path / "single")


def test_member_seeds_shift_explicit_seeds():
    cfg = make_config("seed=3", "seeds.data=10", "ensemble.size=3")
    specs = member_specs(cfg, validate(cfg).run.ensemble)
    assert [(s.cfg.seed, s.cfg.seeds.data, s.cfg.seeds.model) for s in specs] == [(3, 10, 3), (4, 11, 4), (5, 12, 5)]
    assert all(s.cfg.ensemble.size == 1 for s in specs)


@pytest.mark.parametrize(("overrides", "key"), [
    (["ensemble.size=0"], "ensemble.size"),
    (["ensemble.seeds=[1,2,1]"], "ensemble.seeds"),
    (["ensemble.weight_decay=[0.1,0.1]"], "ensemble.seeds"),
    (["ensemble.seeds=[1,2]", "ensemble.weight_decay=[0.1,0.2,0.3]"], "ensemble.weight_decay"),
    (["ensemble.size=3", "ensemble.seeds=[1,2]"], "ensemble.size"),
    (["ensemble.weight_decay=[-1.0,1.0]"], "ensemble.weight_decay"),
])
def test_bad_ensemble_config_names_the_key(overrides, key):
    with pytest.raises(ConfigError) as err:
        validate(make_config(*overrides))
    assert str(err.value).startswith(f"{key}=") and "\n" not in str(err.value)


@pytest.mark.parametrize(("overrides", "key"), [
    (["ensemble.size=2", "batch_size=8"], "batch_size"),
    (["ensemble.weight_decay=[0.1,0.2]", "optimizer=sgd"], "ensemble.weight_decay"),
])
def test_unsupported_ensemble_runs_fail_with_one_line(tmp_path, overrides, key):
    with pytest.raises(ConfigError) as err:
        run(make_config("logger=csv", "progress_bar=false", "max_epochs=5", *overrides), tmp_path)
    assert str(err.value).startswith(f"{key}=") and "\n" not in str(err.value)
