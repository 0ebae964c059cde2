"""``ensemble.size=K``: K runs of one shape trained in one process, each written to its own complete run dir.

    grokscope-train ensemble.size=8                       # seeds 0..7 -> <run_dir>/members/<i>_seed=<s>/
    grokscope-train ensemble.seeds=[3,5,8]
    grokscope-train ensemble.weight_decay=[0.3,1.0,3.0]   # one seed, three weight decays (adamw)

Member ``i`` is the run ``grokscope-train seed=s_i [optimizer.weight_decay=w_i]`` would make: its config,
split, initialisation (built by :func:`grokscope.train.build_run` from its own seeds, with its interventions'
``at_init``, then stacked), batches (``batch_size``: its own generators from its ``seeds.sampler``), metrics,
``metrics.csv`` and WandB run, ``summary.json``, ``arrays/`` and ``checkpoints/last.ckpt``. The ensemble's own
run dir holds a ``summary.json`` listing the members; ``grokscope-collect`` reads the members as runs;
``resume=auto`` continues an interrupted ensemble from the members' checkpoints.

Exactness (tests): a member equals its separate run to float tolerance (the vmapped forward and the summed
loss round differently from one run's; speed.md §6), and on CPU an ensemble resumed from its checkpoints is
bit-identical to the ensemble trained straight through, as a resumed single run is.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path

import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from grokscope.config import Config, EnsembleConfig, require, validate
from grokscope.interventions.freeze import FreezeEmbedding
from grokscope.train import (
    build_run,
    lightning_trainer,
    recorder_parts,
    resolve_device,
    resume_checkpoint,
    write_summary,
)
from grokscope.training.cadence import Cadence
from grokscope.training.callbacks import EpochProgressBar, MetricsRecorder
from grokscope.training.ensemble import EnsembleCallback, EnsembleModule, Member
from grokscope.training.loggers import build_loggers, finish_wandb
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
    require(not run.compile, "compile", run.compile, "not supported with ensembles: use compile=false")
    require(run.snapshot_every_n_epochs is None, "snapshot_every_n_epochs", run.snapshot_every_n_epochs,
            "not supported with ensembles: use snapshot_every_n_epochs=null")
    require(not config.run.ensemble.weight_decay or config.optimizer.name == "adamw", "ensemble.weight_decay",
            config.run.ensemble.weight_decay, "needs optimizer=adamw (per-member decoupled decay)")


def check_interventions(keys: list[str], interventions) -> None:
    """Members take interventions that act on the model at init or at the start of an epoch (perturb,
    construct, ablate when=init, noise): each acts on its member's own model. Those that act after every step,
    add metrics on their own model or change which parameters train (ablate when=persistent or when=eval,
    freeze_embedding) are one-line errors."""
    for key, intervention in zip(keys, interventions):
        require(intervention.after_step is None and not intervention.metrics()
                and not isinstance(intervention, FreezeEmbedding), "intervention", key,
                "not supported with ensembles (interventions at init or at an epoch's start are)")


def resume_members(resume: str, checkpoints: list[Path]) -> list[dict] | None:
    """The members' checkpoints to continue from (:func:`grokscope.train.resume_checkpoint` for each), or
    None to start afresh; all members or none must have one, at the same epoch."""
    found = [resume_checkpoint(resume, path) for path in checkpoints]
    if not any(found):
        return None
    missing = [str(c.parents[1].name) for c, f in zip(checkpoints, found) if f is None]
    require(not missing, "resume", resume, f"members {missing} have no checkpoint; use resume=false to start afresh")
    states = [torch.load(path, weights_only=False) for path in found]
    epochs = sorted({s["grokscope"]["epoch"] for s in states})
    require(len(epochs) == 1, "resume", resume,
            f"the members' checkpoints are at different epochs {epochs}; use resume=false to start afresh")
    return states


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
    ensemble's summary (members' paths).

    Each member logs as its separate run would: ``metrics.csv`` and, with ``logger.wandb.enabled``, its own
    WandB run (named ``<ensemble name>_<member dir>``, grouped by ``logger.wandb.group``, else the sweep dir,
    else the ensemble's name; id in the member's ``wandb_id``). ``resume=auto|true`` continues every member
    from its ``checkpoints/last.ckpt`` (exactly: see :class:`EnsembleModule`)."""
    check_supported(config)
    device = resolve_device(config.run.device)
    torch.set_float32_matmul_precision(config.run.matmul_precision)
    specs = member_specs(config.raw, config.run.ensemble)
    dirs = [run_dir / "members" / spec.name for spec in specs]
    checkpoints = resume_members(config.run.resume, [d / "checkpoints" / "last.ckpt" for d in dirs])
    members, tasks, models, interventions, resolved, configs = [], [], [], [], [], []
    ensemble_name = None
    for spec, member_dir, ckpt in zip(specs, dirs, checkpoints or [None] * len(specs)):
        write_hydra_dir(member_dir, spec)
        member_config = validate(spec.cfg)
        task, model, member_interventions = build_run(member_config)
        check_interventions(list(member_config.intervention), member_interventions)
        resolved.append(OmegaConf.to_container(spec.cfg, resolve=True))
        recorder = MetricsRecorder(*recorder_parts(member_config, task, model, member_interventions),
                                   ArrayStore(member_dir / "arrays"))
        if ckpt is not None:  # as Lightning restores a single run's model and MetricsCallback
            model.load_state_dict({k.removeprefix("model."): v for k, v in ckpt["state_dict"].items()})
            recorder.load_state_dict(ckpt["callbacks"]["MetricsCallback"])
        ensemble_name = ensemble_name or (config.run.name or task.run_name or run_name
                                          or f"{task.name}_{config.model.name}_ensemble")
        loggers = build_loggers(member_config.logger, member_dir, f"{ensemble_name}_{spec.name}",
                                group or ensemble_name, resolved[-1], tags, concurrent=True)
        members.append(Member(recorder, loggers, member_dir / "checkpoints" / "last.ckpt"))
        for items, item in ((tasks, task), (models, model), (interventions, member_interventions),
                            (configs, member_config)):
            items.append(item)
    decays = config.run.ensemble.weight_decay
    optimizer_cfg = dataclasses.replace(config.optimizer, weight_decay=0.0) if decays else config.optimizer
    module = EnsembleModule(models, tasks, optimizer_cfg, config.run.max_epochs, config.run.steps_per_call,
                            config.run.loss_dtype, decays, config.run.batch_size,
                            [c.run.seeds.sampler for c in configs], interventions)
    if checkpoints is not None:
        module.resume([c["grokscope"] for c in checkpoints], [c["optimizer_states"][0] for c in checkpoints],
                      checkpoints[0]["lr_schedulers"][0])
    resumed_epoch = module.epoch if checkpoints is not None else None
    callbacks = [EnsembleCallback(members, Cadence(config.run.checkpoint_every_n_epochs))]
    if config.run.progress_bar:
        callbacks.append(EpochProgressBar(members[0].recorder))
    status, error = "completed", None
    try:
        lightning_trainer(device, False, callbacks, run_dir).fit(module)
    except Diverged as err:
        status, error = "diverged", str(err)
    finally:
        for member in members:
            finish_wandb(member.loggers)
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
            module.member(e),
            status=member_status, error=member_error, run_name=f"{ensemble_name}_{spec.name}",
            epochs=module.epoch, resumed_from_epoch=resumed_epoch, wall_time_s=wall, device=device,
            ensemble={"index": e, "size": len(specs), "dir": str(run_dir)}))
    summary = {"status": status, "error": error, "epochs": module.epoch, "resumed_from_epoch": resumed_epoch,
               "wall_time_s": wall, "device": device, "members": [str(m.checkpoint.parents[1]) for m in members],
               "config": OmegaConf.to_container(config.raw, resolve=True)}
    write_json(run_dir / "summary.json", summary)
    return summary
