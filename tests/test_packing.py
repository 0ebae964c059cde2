"""Packed sweeps (``hydra/launcher=packed``): which cells pack, and a packed sweep writes the unpacked sweep's run
dirs, resumes after a kill, skips what is finished and runs what cannot pack as ordinary jobs."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grokscope.analysis.collect import collect
from grokscope.cli.checks import sweep_dirname_override
from grokscope.cli.packing import pack_overrides, plan, shape
from grokscope.cli.sweep_configs import ComposedOnce, derive
from grokscope.paths import CONF_DIR
from tests.helpers.cli import KILLED, cli, cli_killed_after_checkpoint
from tests.helpers.runs import train

SMALL = ["experiment=tiny_modular", "logger=csv", "progress_bar=false", "plots=false"]
PACKED = "hydra/launcher=packed"


def test_cells_that_differ_only_in_seed_weight_decay_or_lr_pack():
    cells = [["model.d_embed=8", "seed=0"], ["model.d_embed=16", "seed=0"], ["model.d_embed=8", "seed=1"],
             ["model.d_embed=16", "seed=1"], ["model.d_embed=8", "seed=2"]]
    assert plan(cells, size=64) == [[0, 2, 4], [1, 3]]
    assert shape(["optimizer.lr=1e-3", "optimizer.weight_decay=1", "seed=3", "task.p=23"]) == (
        "optimizer.lr", "optimizer.weight_decay", "seed", "task.p=23")
    assert shape(["seed=0", "ensemble.size=2"]) is None and shape(["+ensemble.lr=[1]"]) is None


def test_packs_hold_at_most_size_cells_and_cells_that_cannot_pack_run_alone():
    cells = [["seed=0"], ["seed=1"], ["seed=2"], ["seed=3"], ["seed=4"], ["ensemble.size=2", "seed=5"],
             ["seed=6"], ["+seed=7"]]
    assert plan(cells, size=2) == [[0, 1], [2, 3], [4, 6], [5], [7]]
    assert plan(cells, size=3, packable=[True, False, *[True] * 6]) == [[0, 2, 3], [1], [4, 6], [5], [7]]
    assert plan(cells, size=1) == [[i] for i in range(8)]


def test_a_pack_lists_the_values_that_differ_and_its_members_dirs():
    cells = [["task.p=23", "seed=0", "optimizer.weight_decay=1"], ["task.p=23", "seed=1", "optimizer.weight_decay=1"],
             ["task.p=23", "seed=0", "optimizer.weight_decay=0.3"]]
    dirs = ["/s/a=1,seed=0", "/s/it's", "/s/c"]
    overrides = pack_overrides(cells, dirs)
    assert overrides[:5] == [*cells[0], "ensemble.seeds=[0,1,0]", "ensemble.weight_decay=[1,1,0.3]"]
    assert overrides[5] == r"ensemble.member_dirs=['/s/a=1,seed=0','/s/it\'s','/s/c']"
    assert overrides[6].startswith("hydra.sweep.subdir=.packs/") and pack_overrides(cells, dirs)[6] == overrides[6]
    assert pack_overrides(cells[:2], dirs[:2])[3] == "ensemble.seeds=[0,1]"  # the decay is the same: no list


class Counting:
    """A config loader that counts the sweep configs it composes."""

    def __init__(self, loader) -> None:
        self.loader, self.calls = loader, 0

    def load_sweep_config(self, master_config, sweep_overrides):
        self.calls += 1
        return self.loader.load_sweep_config(master_config, sweep_overrides)


def test_a_sweeps_configs_are_composed_once_per_shape_and_are_hydras_own(tmp_path):
    """The loader a packed sweep shares composes one cell per shape (here per ``model.d_embed``) and derives the
    others: every config and run dir is the one Hydra composes, with a fixed key left out of the dir names and
    with a sweep subdir that numbers the jobs. A value that another override replaces is not derived."""
    from hydra import initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import RunMode
    from omegaconf import OmegaConf, open_dict

    import grokscope.cli.train  # noqa: F401  (registers the job_dir resolver of the sweep subdir)

    argv = ["experiment=tiny_modular", "model.d_embed=8,16", "task.p=23", "seed=0,1", "optimizer.weight_decay=0.3,1"]
    cells = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(argv), None)[0]
    for subdir in ([], ["hydra.sweep.subdir=${hydra.job.num}_${hydra.job.override_dirname}"]):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            loader = GlobalHydra.instance().config_loader()
            master = loader.load_configuration(
                "train", [*sweep_dirname_override(["-m", *argv]), f"hydra.sweep.dir={tmp_path}", *subdir, *argv],
                RunMode.MULTIRUN)
            once = ComposedOnce(counting := Counting(loader))
            dirs = []
            for num, cell in enumerate(cells):
                configs = once.load_sweep_config(master, cell), loader.load_sweep_config(master, cell)
                for config in configs:
                    with open_dict(config):
                        config.hydra.job.num = num
                mine, hydras = (OmegaConf.to_yaml(c) for c in configs)
                assert mine == hydras, cell
                dirs.append({os.path.join(c.hydra.sweep.dir, c.hydra.sweep.subdir) for c in configs})
            assert counting.calls == 2 and all(len(d) == 1 for d in dirs)
            assert once.load_sweep_config(master, cells[-1]) and counting.calls == 2
            assert type(pickle.loads(pickle.dumps(once))) is Counting  # joblib and submitit get the loader alone
        name = Path(dirs[-1].pop()).name
        assert name == ("7_" if subdir else "") + "model.d_embed=16,optimizer.weight_decay=1,seed=1"

        replaced = ["optimizer.weight_decay=0.3", "optimizer={weight_decay:1}"]  # the dict sets it last
        config = loader.load_sweep_config(master, replaced)
        assert derive(config, replaced, ["optimizer.weight_decay=0.5", replaced[1]]) is None
        assert derive(config, replaced, ["optimizer.weight_decay=true", replaced[1]]) is None


def frame(sweep_dir: Path) -> pd.DataFrame:
    """``collect``'s table of a sweep, with the run dirs relative to the sweep and rows in their order."""
    runs = collect([sweep_dir])
    runs["run_dir"] = [Path(d).relative_to(sweep_dir).as_posix() for d in runs["run_dir"]]
    return runs.sort_values("run_dir").reset_index(drop=True)


@pytest.mark.slow  # three / two sweeps of CLI processes: tens of seconds on 2 cores
def test_a_packed_sweep_writes_the_unpacked_sweeps_runs_and_resumes_after_a_kill(tmp_path):
    """2 weight decays x 3 seeds: one pack of 6 members, killed after its epoch-20 checkpoints, then run again
    (resumed from them). Every run dir is the unpacked sweep's: same path, same recorded config and overrides,
    metrics equal to float tolerance, the same ``collect`` table."""
    grid = ["optimizer.weight_decay=0.3,1", "seed=0,1,2"]
    unpacked = cli("-m", *SMALL, f"hydra.sweep.dir={tmp_path / 'unpacked'}", *grid, cwd=tmp_path)
    assert unpacked.returncode == 0, unpacked.stderr
    sweep = ["-m", PACKED, *SMALL, f"hydra.sweep.dir={tmp_path / 'packed'}", *grid]
    killed = cli_killed_after_checkpoint(20, *sweep, cwd=tmp_path)
    assert killed.returncode == KILLED, killed.stderr
    assert "packed: 6 cells as 1 packs and 0 other jobs" in killed.stderr
    names = sorted(p.name for p in (tmp_path / "unpacked").iterdir() if p.is_dir())
    assert len(names) == 6 and sorted(p.name for p in (tmp_path / "packed").glob("*=*")) == names
    assert not list((tmp_path / "packed").glob("*/finished.json"))

    resumed = cli(*sweep, cwd=tmp_path)
    assert resumed.returncode == 0 and "6 completed, 0 failed, 0 diverged" in resumed.stderr, resumed.stderr
    for name in names:
        packed, alone = tmp_path / "packed" / name, tmp_path / "unpacked" / name
        assert json.loads((packed / "summary.json").read_text())["resumed_from_epoch"] == 20
        for recorded in (".hydra/config.yaml", ".hydra/overrides.yaml"):
            assert (packed / recorded).read_bytes() == (alone / recorded).read_bytes(), recorded
        a, b = (pd.read_csv(d / "metrics.csv") for d in (packed, alone))
        assert list(a.columns) == list(b.columns) and np.allclose(a.to_numpy(), b.to_numpy(), equal_nan=True), name
    a, b = frame(tmp_path / "packed"), frame(tmp_path / "unpacked")
    assert list(a.columns) == list(b.columns) and a["run_dir"].tolist() == names
    numeric = a.select_dtypes("number").columns
    pd.testing.assert_frame_equal(a.drop(columns=numeric), b.drop(columns=numeric))
    assert np.allclose(a[numeric].to_numpy(float), b[numeric].to_numpy(float), equal_nan=True)


def test_a_pack_skips_its_finished_members_and_trains_the_others(tmp_path, monkeypatch):
    """A member dir that an unpacked job finished is skipped and left as it was; the others train together, as
    their own jobs would; run again, the pack skips them all."""
    monkeypatch.chdir(tmp_path)
    train(tmp_path / "seed=1", *SMALL[:1], "seed=1")
    stamp = (tmp_path / "seed=1" / "metrics.csv").stat().st_mtime_ns
    pack = ("ensemble.seeds=[0,1,2]", "ensemble.member_dirs=['seed=0','seed=1','seed=2']")
    summary = train(tmp_path / ".packs" / "p", *SMALL[:1], *pack)
    assert summary["members"] == ["seed=0", "seed=1", "seed=2"] and summary["status"] == "completed"
    assert (tmp_path / "seed=1" / "metrics.csv").stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "seed=2" / "summary.json").read_text())["ensemble"]["size"] == 3
    train(tmp_path / "alone", *SMALL[:1], "seed=2")
    a, b = (pd.read_csv(d / "metrics.csv") for d in (tmp_path / "seed=2", tmp_path / "alone"))
    assert np.allclose(a.to_numpy(), b.to_numpy(), equal_nan=True)
    stamps = [(tmp_path / f"seed={s}" / "metrics.csv").stat().st_mtime_ns for s in range(3)]
    assert train(tmp_path / ".packs" / "p", *SMALL[:1], *pack)["members"] == summary["members"]
    assert [(tmp_path / f"seed={s}" / "metrics.csv").stat().st_mtime_ns for s in range(3)] == stamps
    assert collect([tmp_path])["run_dir"].map(lambda d: Path(d).name).tolist().count("p") == 0


@pytest.mark.slow  # three / two sweeps of CLI processes: tens of seconds on 2 cores
def test_packs_ordinary_jobs_and_failing_cells_in_one_sweep(tmp_path):
    """Per task.frac_train, 3 seeds at most 2 to a pack: a pack and an ordinary job for 0.3; the cells of 1.5
    are refused as their own jobs (failed summaries)."""
    sweep_dir = tmp_path / "sweep"
    proc = cli("-m", PACKED, "hydra.launcher.size=2", *SMALL, f"hydra.sweep.dir={sweep_dir}",
               "task.frac_train=0.3,1.5", "seed=0,1,2", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "packed: 6 cells as 1 packs and 4 other jobs" in proc.stderr
    assert "3 completed, 3 failed, 0 diverged" in proc.stderr
    statuses = {p.parent.name: json.loads(p.read_text())["status"] for p in sweep_dir.glob("*/summary.json")}
    assert statuses == {f"seed={s},task.frac_train={f}": "completed" if f == 0.3 else "failed"
                        for s in (0, 1, 2) for f in (0.3, 1.5)}
    member = sweep_dir / "seed=1,task.frac_train=0.3"
    assert json.loads((member / "summary.json").read_text())["ensemble"]["size"] == 2
    train(tmp_path / "alone", "experiment=tiny_modular", "task.frac_train=0.3", "seed=1")
    a, b = (pd.read_csv(d / "metrics.csv") for d in (member, tmp_path / "alone"))
    assert list(a.columns) == list(b.columns) and np.allclose(a.to_numpy(), b.to_numpy(), equal_nan=True)


def test_the_inner_launcher_is_the_one_named():
    """``hydra/launcher@hydra.launcher.inner=joblib``: the packed launcher hands its jobs to joblib, with its keys."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.plugins import Plugins
    from hydra.types import HydraContext

    overrides = [PACKED, "hydra/launcher@hydra.launcher.inner=joblib", "hydra.launcher.inner.n_jobs=2",
                 "hydra.launcher.size=8"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
        context = HydraContext(config_loader=GlobalHydra.instance().config_loader(), callbacks=None)
        launcher = Plugins.instance().instantiate_launcher(hydra_context=context, task_function=lambda c: None,
                                                           config=cfg)
    assert launcher.size == 8 and type(launcher.inner).__name__ == "JoblibLauncher"
    assert launcher.inner.joblib["n_jobs"] == 2
