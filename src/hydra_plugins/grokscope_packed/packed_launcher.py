"""``PackedLauncher``: packs a sweep's cells into ensemble jobs (:mod:`grokscope.cli.packing`) and hands the
jobs to an inner launcher (basic, joblib, submitit).

    grokscope-train -m hydra/launcher=packed seed='range(64)' optimizer.weight_decay=0.3,1
    grokscope-train -m hydra/launcher=packed hydra/launcher@hydra.launcher.inner=joblib ...

Selected by ``conf/hydra/launcher/packed.yaml`` (``size``: members per pack at most; ``inner``: the launcher
that runs the jobs). It composes each cell as the inner launcher would, to know its run dir and config. The
sweeper's check, this launcher and the inner launcher share one config loader that composes each job once per
batch, or derives it from a cell of its shape (:mod:`grokscope.cli.sweep_configs`).

Hydra imports every module of ``hydra_plugins`` at start-up, without registering it (so no ``from __future__
import annotations`` here: the dataclass needs its module); the packing logic, which loads torch, is imported
only when a packed sweep sets up.
"""

import copy
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import MISSING, DictConfig, open_dict, read_write

from grokscope.config import require


@dataclass
class PackedLauncherConf:
    """The schema of ``hydra.launcher`` for packed sweeps; values in ``conf/hydra/launcher/packed.yaml``."""

    _target_: str = "hydra_plugins.grokscope_packed.packed_launcher.PackedLauncher"
    _recursive_: bool = False  # the inner launcher is a plugin: Hydra's plugin registry makes it (setup)
    size: int = MISSING
    inner: Any = MISSING


ConfigStore.instance().store(group="hydra/launcher", name="grokscope_packed", node=PackedLauncherConf,
                             provider="grokscope")


class PackedLauncher(Launcher):
    """Launches the packs and the ordinary jobs of :func:`grokscope.cli.packing.packed_jobs` with the launcher
    that ``inner`` configures."""

    def __init__(self, size: int, inner: DictConfig) -> None:
        require(size >= 1, "hydra.launcher.size", size, "must be an integer >= 1 (members per pack at most)")
        self.size = size
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.inner: Launcher | None = None
        self.composed: Any = None  # grokscope.cli.sweep_configs.ComposedOnce, once set up

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        """The inner launcher, made by Hydra from a copy of ``config`` whose ``hydra.launcher`` is ``inner``; the
        config loader of ``hydra_context`` (which the sweeper shares) becomes a ``ComposedOnce``."""
        from grokscope.cli.sweep_configs import ComposedOnce

        self.config, self.hydra_context = config, hydra_context
        self.composed = hydra_context.config_loader = ComposedOnce(hydra_context.config_loader)
        inner = copy.deepcopy(config)
        with read_write(inner), open_dict(inner):
            inner.hydra.launcher = config.hydra.launcher.inner
        self.inner = Plugins.instance().instantiate_launcher(hydra_context=hydra_context, task_function=task_function,
                                                             config=inner)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        try:
            return self.inner.launch(self.jobs(job_overrides, initial_job_idx), initial_job_idx)
        finally:
            self.composed.forget()

    def jobs(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[list[str]]:
        """The overrides of the packs and ordinary jobs that run the cells ``job_overrides``."""
        from grokscope.cli import packing

        cells = []
        for index, overrides in enumerate(job_overrides, start=initial_job_idx):
            config = self.compose(overrides, index)
            run_dir = os.path.abspath(os.path.join(str(config.hydra.sweep.dir), str(config.hydra.sweep.subdir)))
            cells.append(packing.make_cell(overrides, run_dir, task_config(config)))

        def compose(overrides: list[str]) -> tuple[DictConfig, list[str]]:
            config = self.compose(overrides, initial_job_idx)
            return task_config(config), list(config.hydra.overrides.task)

        jobs = packing.packed_jobs(cells, self.size, compose, note=lambda line: print(f"packed: {line}",
                                                                                      file=sys.stderr))
        packs = sum(any(o.startswith("ensemble.member_dirs=") for o in job) for job in jobs)
        print(f"packed: {len(cells)} cells as {packs} packs and {len(jobs) - packs} other jobs", file=sys.stderr)
        return jobs

    def compose(self, overrides: Sequence[str], index: int) -> DictConfig:
        """The config Hydra runs job ``overrides`` with (``hydra`` node included), as job number ``index``."""
        config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        with open_dict(config):
            config.hydra.job.id = config.hydra.job.num = index
        HydraConfig.instance().set_config(config)
        return config


def task_config(config: DictConfig) -> DictConfig:
    """A job's config as its task function receives it: without the ``hydra`` node."""
    task = copy.deepcopy(config)
    with read_write(task), open_dict(task):
        del task["hydra"]
    return task


