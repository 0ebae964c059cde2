"""Ensembles (speed.md §6): a member equals the separate run with its seed; members' run dirs are runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from grokscope.analysis.collect import collect
from grokscope.config import ConfigError
from grokscope.run import Job, RunDir, execute
from grokscope.run.config import validate
from grokscope.run.members import member_specs
from grokscope.run.wandb_offline import read_offline_run
from grokscope.training.outputs import load_arrays
from tests.helpers.config import make_config
from tests.helpers.runs import final_checkpoint, interrupted_after_checkpoint, train

MLP = ("task.p=23", "max_epochs=200", "metrics.every_n_epochs=100", "log_every_n_epochs=50")
TRANSFORMER = ("experiment=tiny_transformer", "max_epochs=120", "metrics.every_n_epochs=60", "log_every_n_epochs=30",
               "optimizer.grad_clip=0.5", "optimizer.warmup_steps=10")


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
    ckpts = [final_checkpoint(d) for d in (member_dir, single_dir)]
    assert ckpts[0]["epoch"] == ckpts[1]["epoch"]
    for key, value in ckpts[1]["model"].items():
        torch.testing.assert_close(ckpts[0]["model"][key], value, rtol=1e-5, atol=1e-6)
    for index, slots in ckpts[1]["optimizer"]["state"].items():
        for slot, value in slots.items():
            torch.testing.assert_close(ckpts[0]["optimizer"]["state"][index][slot], value, rtol=1e-4, atol=1e-8)


def test_mlp_members_equal_separate_runs_and_are_collected(tmp_path):
    summary = train(tmp_path / "ensemble", *MLP, "ensemble.size=2", "plots=true")
    members = [Path(d) for d in summary["members"]]
    assert [d.name for d in members] == ["0_seed=0", "1_seed=1"]
    train(tmp_path / "single", *MLP, "seed=1", "plots=true")
    assert_same_run(members[1], tmp_path / "single")
    assert sorted(p.name for p in members[0].iterdir()) == [
        ".hydra", "arrays", "checkpoints", "finished.json", "metrics.csv", "plots", "summary.json"]
    assert yaml.safe_load((members[1] / ".hydra" / "overrides.yaml").read_text()) == ["seed=1"]
    runs = collect([tmp_path / "ensemble"])  # the members, not the ensemble's own dir
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


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_lr_members_equal_separate_runs(tmp_path, optimizer):
    """Per-member lr (the stack's lr-1 update scaled per member, the decoupled decay at the member's lr):
    member 1 is the run with optimizer.lr=1e-3, warm-up and clipping included. In float64, as the scaled
    update rounds differently from the run's own (in float32 training amplifies that to ~1e-4 by epoch 200)."""
    common = (*MLP, f"optimizer={optimizer}", "optimizer.grad_clip=1.0", "param_dtype=float64")
    summary = train(tmp_path / "ensemble", *common, "ensemble.lr=[3e-3,1e-3]")
    members = [Path(d) for d in summary["members"]]
    assert [d.name for d in members] == ["0_seed=0,optimizer.lr=0.003", "1_seed=0,optimizer.lr=0.001"]
    assert yaml.safe_load((members[1] / ".hydra" / "overrides.yaml").read_text()) == ["optimizer.lr=0.001"]
    train(tmp_path / "single", *common, "optimizer.lr=1e-3")
    assert_same_run(members[1], tmp_path / "single")
    member, single = (final_checkpoint(d) for d in (members[1], tmp_path / "single"))
    assert member["scheduler"] == single["scheduler"]  # either can resume the other
    assert member["optimizer"]["param_groups"] == single["optimizer"]["param_groups"]


def test_member_seeds_shift_explicit_seeds(tmp_path):
    cfg = make_config("seed=3", "seeds.data=10", "ensemble.size=3")
    specs = member_specs(cfg, validate(cfg).run.ensemble, RunDir(tmp_path), ["seeds.data=10", "ensemble.size=3"])
    assert [s.dir.path.name for s in specs] == ["0_seed=3", "1_seed=4", "2_seed=5"]
    assert specs[1].overrides == ["seeds.data=10", "seed=4"]
    assert [(s.cfg.seed, s.cfg.seeds.data, s.cfg.seeds.model) for s in specs] == [(3, 10, 3), (4, 11, 4), (5, 12, 5)]
    assert all(s.cfg.ensemble.size == 1 for s in specs)


@pytest.mark.parametrize(("overrides", "key"), [
    (["ensemble.size=0"], "ensemble.size"),
    (["ensemble.seeds=[1,2,1]"], "ensemble.seeds"),
    (["ensemble.weight_decay=[0.1,0.1]"], "ensemble.seeds"),
    (["ensemble.seeds=[1,2]", "ensemble.weight_decay=[0.1,0.2,0.3]"], "ensemble.weight_decay"),
    (["ensemble.size=3", "ensemble.seeds=[1,2]"], "ensemble.size"),
    (["ensemble.weight_decay=[-1.0,1.0]"], "ensemble.weight_decay"),
    (["ensemble.lr=[0.0,1e-3]"], "ensemble.lr"),
    (["ensemble.lr=[1e-3,1e-3]"], "ensemble.seeds"),
    (["ensemble.seeds=[1,2]", "ensemble.lr=[1e-3]"], "ensemble.lr"),
    (["ensemble.member_dirs=[a]"], "ensemble.member_dirs"),
    (["ensemble.member_dirs=[a,a]"], "ensemble.member_dirs"),
    (["ensemble.seeds=[1,2]", "ensemble.member_dirs=[a,b,c]"], "ensemble.member_dirs"),
])
def test_bad_ensemble_config_names_the_key(overrides, key):
    with pytest.raises(ConfigError) as err:
        validate(make_config(*overrides))
    assert str(err.value).startswith(f"{key}=") and "\n" not in str(err.value)


@pytest.mark.parametrize(("overrides", "key"), [
    (["ensemble.size=2", "compile=true"], "compile"),
    (["ensemble.weight_decay=[0.1,0.2]", "optimizer=sgd"], "ensemble.weight_decay"),
])
def test_unsupported_ensemble_runs_fail_with_one_line(tmp_path, overrides, key):
    with pytest.raises(ConfigError) as err:
        execute(make_config("logger=csv", "progress_bar=false", "max_epochs=5", *overrides), tmp_path)
    assert str(err.value).startswith(f"{key}=") and "\n" not in str(err.value)


@pytest.mark.parametrize("members", ["ensemble.size=2", "ensemble.lr=[1e-3,3e-3]"])
def test_interrupted_ensemble_resumes_bit_identically(tmp_path, monkeypatch, members):
    """Stopped after its epoch-20 checkpoints, then ``resume=auto``: every member's metrics.csv, summary,
    arrays, weights, optimizer state and batch generators equal those of the ensemble trained straight
    through (with ``batch_size``, so the members' generators are resumed too; with per-member lrs, the stack's
    own schedule comes back from the members' checkpoints)."""
    small = ("experiment=tiny_modular", members, "batch_size=16", "optimizer.warmup_steps=30")
    straight = train(tmp_path / "straight", *small)
    interrupted_after_checkpoint(monkeypatch, 20, *small, run_dir=tmp_path / "resumed")
    resumed = train(tmp_path / "resumed", *small)
    assert resumed["resumed_from_epoch"] == 20 and resumed["epochs"] == 40
    for a, b in zip(map(Path, resumed["members"]), map(Path, straight["members"])):
        assert (a / "metrics.csv").read_text() == (b / "metrics.csv").read_text()
        sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
        assert sa["final"] == sb["final"] and sa["resumed_from_epoch"] == 20
        for name, arrays in load_arrays(b / "arrays" / "fourier.npz").items():
            np.testing.assert_array_equal(load_arrays(a / "arrays" / "fourier.npz")[name], arrays)
        ca, cb = (final_checkpoint(d) for d in (a, b))
        for key, value in cb["model"].items():
            assert torch.equal(ca["model"][key], value), key
        for index, slots in cb["optimizer"]["state"].items():
            for slot, value in slots.items():
                assert torch.equal(ca["optimizer"]["state"][index][slot], value)
        assert [torch.equal(x, y) for x, y in zip(ca["sampler"], cb["sampler"])] == [True] * len(cb["sampler"])


def test_batch_size_members_equal_separate_runs(tmp_path):
    """Member 1 draws its batches with its own generators seeded from its seeds.sampler, as the run seed=1."""
    summary = train(tmp_path / "ensemble", *MLP, "batch_size=16", "ensemble.size=2")
    train(tmp_path / "single", *MLP, "batch_size=16", "seed=1")
    assert_same_run(Path(summary["members"][1]), tmp_path / "single")


def test_init_and_epoch_interventions_members_equal_separate_runs(tmp_path):
    """perturb acts at init, noise at the start of epoch 50: each on its member's own model."""
    interventions = ("intervention=[perturb,noise]", "intervention.perturb.alpha=1.5", "intervention.noise.at_epoch=50")
    summary = train(tmp_path / "ensemble", *MLP, *interventions, "ensemble.size=2")
    train(tmp_path / "single", *MLP, *interventions, "seed=1")
    assert_same_run(Path(summary["members"][1]), tmp_path / "single")


@pytest.mark.parametrize("interventions, members, single", [
    # frozen from epoch 50 with per-member decay: the frozen W_E is neither updated nor decayed from then on
    (("intervention=freeze_embedding", "intervention.freeze_embedding.from_epoch=50"),
     ("ensemble.weight_decay=[1.0,0.1]",), ("optimizer.weight_decay=0.1",)),
    (("intervention=ablate", "intervention.ablate.freqs=[2,5]", "intervention.ablate.when=persistent"),
     ("ensemble.size=2",), ("seed=1",)),
    (("intervention=ablate", "intervention.ablate.target=W_U", "intervention.ablate.when=eval"),
     ("ensemble.size=2",), ("seed=1",)),
], ids=["freeze_embedding", "ablate_persistent", "ablate_eval"])
def test_interventions_on_trained_parameters_members_equal_separate_runs(tmp_path, interventions, members, single):
    """Interventions that change which parameters train, act after every step or score an ablated copy: each
    acts on its member's own slices, so member 1 is its separate run (``ablated/...`` scores included)."""
    summary = train(tmp_path / "ensemble", *MLP, *interventions, *members)
    train(tmp_path / "single", *MLP, *interventions, *single)
    assert_same_run(Path(summary["members"][1]), tmp_path / "single")
    final = json.loads((tmp_path / "single" / "summary.json").read_text())["final"]
    assert ("ablated/test/acc" in final) == ("intervention.ablate.when=eval" in interventions)


def test_members_log_to_their_own_wandb_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    summary = execute(make_config("task.p=23", "max_epochs=20", "progress_bar=false", "ensemble.size=2"), tmp_path,
                      Job(name="ens"))
    for seed, member in enumerate(map(Path, summary["members"])):
        offline = read_offline_run(next((member / "wandb").glob("offline-run-*")))
        assert offline["id"] == (member / "wandb_id").read_text().strip()
        assert (offline["name"], offline["group"]) == (f"ens_seed{seed}", tmp_path.name)  # named as seed=<s> alone
        assert offline["config"]["seed"] == seed and offline["config"]["ensemble"]["size"] == 1
        final = json.loads((member / "summary.json").read_text())["final"]
        assert offline["history"][-1]["epoch"] == 20
        assert offline["history"][-1]["train/loss"] == pytest.approx(final["train/loss"], rel=1e-12)
