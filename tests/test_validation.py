"""Bad input refused in one line naming the key, before any table is built or anything is written."""

from __future__ import annotations

from dataclasses import replace

import pytest

from grokscope.cli.checks import check_launch
from grokscope.config import ConfigError
from grokscope.metrics import fit
from grokscope.run.config import validate
from tests.helpers.config import assert_config_error, make_config

GIB = 2**30


@pytest.mark.parametrize(("key", "overrides"), [
    ("task.p", ["task.p=5003"]),                                   # cannot fit the device
    ("task.p", ["task.p=100003"]),
    ("task.p", ["task.p=2"]),                                      # Z_2: no non-constant frequency
    ("task.p", ["task.p=2", "task.op=div"]),
    ("task.frac_train", ["task.p=23", "task.frac_train=0.001"]),  # empty train split
    ("task.frac_train", ["task=composition", "group.n=1"]),        # a one-row table cannot be split
    ("seed", ["seed=-1"]),
    ("seeds.model", ["seeds.model=-3"]),
    ("seeds.sampler", ["seeds.sampler=-1", "batch_size=8"]),
    ("ensemble.seeds", ["ensemble.seeds=[0,-1]"]),
    ("metrics.fourier.top_k", ["task.p=23", "metrics.fourier.top_k=50"]),
    ("metrics.progress.enabled", ["metrics.progress.enabled=sometimes"]),
    ("metrics.auto", ["metrics.auto=sometimes"]),
    ("logger.wandb.max_media", ["logger.wandb.max_media=-1"]),
    ("logger.wandb.max_media", ["logger.wandb.max_media=100000"]),
])
def test_bad_config_is_refused_naming_its_key(key, overrides):
    assert_config_error(key, *overrides)


def test_memory_refusal_names_the_largest_p_that_fits(monkeypatch):
    monkeypatch.setattr(fit, "device_memory_bytes", lambda device: 4 * GIB)
    with pytest.raises(ConfigError) as err:
        validate(make_config("task.p=2003", "device=cpu"))
    largest = int(str(err.value).rsplit("at most p=", 1)[1].split()[0])
    config = validate(make_config(f"task.p={largest}", "device=cpu"))

    def need(p: int) -> int:
        return fit.estimate_bytes(config, replace(config.task, p=p))

    assert need(largest) <= 4 * GIB < need(largest + 1)
    assert "4.0 GiB" in str(err.value) and "device=cpu" in str(err.value)


def test_fourier_top_k_up_to_the_frequencies_is_accepted():
    assert validate(make_config("task.p=23", "metrics.fourier.top_k=11")).metrics.fourier.top_k == 11


@pytest.mark.parametrize(("key", "value", "argv"), [
    ("--cfg", "hydra", ["-m", "seed=0,1", "--cfg", "hydra"]),
    ("hydra.launcher.n_jobs", 0, ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0", "seed=0,1"]),
    ("hydra.launcher.size", 0, ["-m", "hydra/launcher=packed", "hydra.launcher.size=0", "seed=0,1"]),
    ("hydra.launcher.inner.n_jobs", 0, ["-m", "hydra/launcher=packed", "hydra/launcher@hydra.launcher.inner=joblib",
                                        "hydra.launcher.inner.n_jobs=0", "seed=0,1"]),
    ("hydra/launcher", "bogus", ["-m", "hydra/launcher=packed", "hydra/launcher@hydra.launcher.inner=bogus"]),
    ("intervention", "bogus", ["intervention=[ablate,bogus]"]),
    ("model", "bogus", ["-m", "model=mlp,bogus"]),
    ("hydra.run.dir", "{file}/run", ["hydra.run.dir={file}/run"]),
    ("hydra.sweep.dir", "{file}/sweep", ["-m", "seed=0,1", "hydra.sweep.dir={file}/sweep"]),
])
def test_launch_mistakes_are_refused_before_hydra(tmp_path, key, value, argv):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    with pytest.raises(ConfigError) as err:
        check_launch([arg.format(file=a_file) for arg in argv])
    expected = value.format(file=a_file) if isinstance(value, str) else value
    assert (err.value.key, err.value.value) == (key, expected) and "\n" not in str(err.value)
    assert not (a_file.parent / "outputs").exists() and not (a_file.parent / "multirun").exists()


def test_unknown_group_option_lists_the_allowed_ones():
    with pytest.raises(ConfigError) as err:
        check_launch(["intervention=[ablate,bogus]"])
    assert all(option in err.value.allowed for option in ("ablate", "freeze_embedding", "perturb"))


def test_slurm_without_srun_is_refused(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(ConfigError) as err:
        check_launch(["-m", "hydra/launcher=slurm", "seed=0,1"])
    assert err.value.key == "hydra/launcher" and "srun" in err.value.allowed


@pytest.mark.parametrize("argv", [
    [], ["--cfg", "job"], ["-m", "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    ["-m", "seed=0,1", "hydra/launcher=packed", "hydra/launcher@hydra.launcher.inner=joblib", "hydra.launcher.size=2"],
    ["experiment=nanda_2023", "task.p=23"], ["intervention=[freeze_embedding,perturb]"],
])
def test_good_command_lines_pass(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_launch(argv)
