"""``ensemble.size=K``: K runs of one shape trained in one process, each written to its own complete run dir.

    grokscope-train ensemble.size=8                       # seeds 0..7 -> <run_dir>/members/<i>_seed=<s>/
    grokscope-train ensemble.seeds=[3,5,8]
    grokscope-train ensemble.weight_decay=[0.3,1.0,3.0]   # one seed, three weight decays (adamw)

Member ``i`` is the run ``grokscope-train seed=s_i [optimizer.weight_decay=w_i]`` would make: its config,
split, initialisation (built by :func:`grokscope.train.build` from its own seeds, then stacked), metrics,
``summary.json``, ``arrays/`` and ``checkpoints/last.ckpt``. The ensemble's own run dir holds a
``summary.json`` listing the members; ``grokscope-collect`` reads the members as runs.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import time
from pathlib import Path

import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from grokscope.config import Config, EnsembleConfig, require, validate
from grokscope.train import build, lightning_trainer, recorder_parts, resolve_device, write_summary
from grokscope.training.cadence import Cadence
from grokscope.training.callbacks import EpochProgressBar, MetricsRecorder
from grokscope.training.ensemble import EnsembleCallback, EnsembleModule, Member
from grokscope.training.loggers import build_loggers
from grokscope.training.module import Diverged
from grokscope.training.outputs import ArrayStore, write_json


@dataclasses.dataclass
class MemberSpec:
    """Member ``index``: its run-dir name, its config and the command-line overrides that make it."""

    index: int
    name: str
    cfg: DictConfig
    overrides: list[str]


def member_specs(cfg: DictConfig, ens: EnsembleConfig) -> list[MemberSpec]:
    """Seeds ``ensemble.seeds``, else ``seed`` for every member of a weight-decay list, else ``seed + i``;
    every explicit ``seeds.*`` shifts with the member's seed (interpolated ones follow ``seed``)."""
    n = ens.n_members
    seeds = ens.seeds or ([cfg.seed] * n if ens.weight_decay else [cfg.seed + i for i in range(n)])
    decays = ens.weight_decay or [None] * n
    specs = []
    for i, (seed, wd) in enumerate(zip(seeds, decays)):
        member = copy.deepcopy(cfg)
        for key in member.seeds:
            if not OmegaConf.is_interpolation(member.seeds, key):
                member.seeds[key] += seed - cfg.seed
        member.seed = seed
        overrides = [f"seed={seed}"]
        if wd is not None:
            member.optimizer.weight_decay = wd
            overrides.append(f"optimizer.weight_decay={wd}")
        member.ensemble = {"size": 1, "seeds": None, "weight_decay": None}
        specs.append(MemberSpec(i, f"{i}_{','.join(overrides)}", member, overrides))
    return specs


def check_supported(config: Config) -> None:
    """What ensembles do not do (yet), as one-line errors."""
    run = config.run
    require(run.batch_size is None, "batch_size", run.batch_size, "ensembles train full batch: use batch_size=null")
    require(run.resume != "true", "resume", run.resume, "ensembles start afresh: use resume=auto or resume=false")
    require(not run.compile, "compile", run.compile, "not supported with ensembles: use compile=false")
    require(run.snapshot_every_n_epochs is None, "snapshot_every_n_epochs", run.snapshot_every_n_epochs,
            "not supported with ensembles: use snapshot_every_n_epochs=null")
    require(not config.intervention, "intervention", list(config.intervention),
            "not supported with ensembles: use intervention=none")
    require(not config.run.ensemble.weight_decay or config.optimizer.name == "adamw", "ensemble.weight_decay",
            config.run.ensemble.weight_decay, "needs optimizer=adamw (per-member decoupled decay)")


def write_hydra_dir(run_dir: Path, spec: MemberSpec) -> None:
    """``.hydra/config.yaml`` and ``overrides.yaml`` as Hydra writes them for a single run."""
    hydra_dir = run_dir / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(spec.cfg, hydra_dir / "config.yaml")
    parent = run_dir.parents[1] / ".hydra" / "overrides.yaml"
    inherited = [o for o in (yaml.safe_load(parent.read_text()) or []) if not o.startswith("ensemble.")] \
        if parent.exists() else []
    (hydra_dir / "overrides.yaml").write_text(yaml.safe_dump([*inherited, *spec.overrides]))


def run_ensemble(config: Config, run_dir: Path, run_name, group, tags, start: float) -> dict:
    """Train the members of ``config.run.ensemble`` together; write each member's run dir and the
    ensemble's summary (members' paths). Members log to CSV (WandB per member is not supported yet)."""
    check_supported(config)
    device = resolve_device(config.run.device)
    torch.set_float32_matmul_precision(config.run.matmul_precision)
    specs = member_specs(config.raw, config.run.ensemble)
    members, tasks, models, resolved = [], [], [], []
    for spec in specs:
        member_dir = run_dir / "members" / spec.name
        write_hydra_dir(member_dir, spec)
        member_config = validate(spec.cfg)
        task, model = build(member_config)
        resolved.append(OmegaConf.to_container(spec.cfg, resolve=True))
        recorder = MetricsRecorder(*recorder_parts(member_config, task, model), ArrayStore(member_dir / "arrays"))
        csv_only = dataclasses.replace(member_config.logger,
                                       wandb=dataclasses.replace(member_config.logger.wandb, enabled=False))
        name = f"{run_name or task.name}_{spec.name}"
        loggers = build_loggers(csv_only, member_dir, name, group, resolved[-1], tags)
        members.append(Member(recorder, loggers, member_dir / "checkpoints" / "last.ckpt"))
        tasks.append(task)
        models.append(model)
    if config.logger.wandb.enabled:
        print("grokscope-train: ensemble members log to CSV only (no WandB)", file=sys.stderr)
    decays = config.run.ensemble.weight_decay
    optimizer_cfg = dataclasses.replace(config.optimizer, weight_decay=0.0) if decays else config.optimizer
    module = EnsembleModule(models, tasks, optimizer_cfg, config.run.max_epochs, config.run.steps_per_call,
                            config.run.loss_dtype, decays)
    callbacks = [EnsembleCallback(members, Cadence(config.run.checkpoint_every_n_epochs))]
    if config.run.progress_bar:
        callbacks.append(EpochProgressBar(members[0].recorder))
    status, error = "completed", None
    try:
        lightning_trainer(device, False, callbacks, run_dir).fit(module)
    except Diverged as err:
        status, error = "diverged", str(err)
    wall = time.time() - start
    summaries = []
    for e, (spec, member, task) in enumerate(zip(specs, members, tasks)):
        for logger in member.loggers:
            logger.save()
        member.recorder.arrays.save()
        diverged = module.diverged_at[e]
        member_status = "diverged" if diverged is not None else status
        member_error = f"training loss is not finite by epoch {diverged}" if diverged is not None else error
        summaries.append(write_summary(
            member.checkpoint.parents[1], resolved[e], task, member.recorder, member.recorder.arrays,
            status=member_status, error=member_error, run_name=f"{run_name or task.name}_{spec.name}",
            epochs=module.epoch, resumed_from_epoch=None, wall_time_s=wall, device=device,
            ensemble={"index": e, "size": len(specs), "dir": str(run_dir)}))
    summary = {"status": status, "error": error, "epochs": module.epoch, "wall_time_s": wall, "device": device,
               "members": [str(m.checkpoint.parents[1]) for m in members],
               "config": OmegaConf.to_container(config.raw, resolve=True)}
    write_json(run_dir / "summary.json", summary)
    return summary
