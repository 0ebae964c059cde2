"""One lifecycle for a single run and an ensemble of K members: claim the run dir, start (fresh, or resume
from a verified checkpoint set), fit, finalise.

    execute(cfg, run_dir)      # what ``grokscope-train`` does for one job

- **Claim**: the dir is locked for this process; temporary files of killed writes are removed; a dir holding
  progress (checkpoints or a finished run) made with another config is refused in one line naming the
  differing keys, and nothing in it changes (:mod:`~grokscope.run.fingerprint`). A finished run is skipped,
  unless ``max_epochs`` grew past a completed run's epochs: then it is reopened and continues. An ensemble
  with ``member_dirs`` (a pack of a packed sweep) claims each member's dir as the member's own job would:
  finished members are skipped, the others train together; its own dir only records the pack.
- **Start**: ``resume=auto`` continues from the newest complete checkpoint set that loads (weights_only) and
  verifies, falling back to an older one; ``true`` insists on one; ``false`` clears the dir's outputs.
- **Fit**: Lightning drives the module; :class:`~grokscope.training.callbacks.RunCallback` records,
  snapshots and checkpoints. SIGTERM/SIGUSR1/SIGUSR2 checkpoint at the next epoch boundary and stop
  (:class:`~grokscope.run.preempt.Preempted`); a dir is never left at a state a re-run cannot continue.
- **Finalise** (:mod:`~grokscope.run.finalise`): each member's arrays, plots, summary, marker; then the
  ensemble's summary and marker. With 0 epochs left (a kill after the last checkpoint) the same files result.

A config mistake is refused before the dir is touched (in a multirun, a fresh job dir records it as a failed
``summary.json``, so the sweep counts it); a run that raises writes ``summary.json`` with ``status: failed``
(never over a finished run) and re-raises.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from grokscope.config import OPTIONAL_GROUPS, Config, ConfigError, require
from grokscope.losses import Loss
from grokscope.run.build import build_with_interventions, recorder_parts, resolve_device
from grokscope.run.checkpoints import CheckpointSets
from grokscope.run.config import validate
from grokscope.run.fingerprint import differing_keys
from grokscope.run.identity import Identity, identity, launch_group, split_items
from grokscope.run.members import MemberSpec, check_supported, member_specs
from grokscope.run.preempt import Preempted, StopSignals
from grokscope.run.rundir import RunDir
from grokscope.run.terminal import verbose
from grokscope.training.cadence import Cadence
from grokscope.training.outputs import ArrayStore, write_json
from grokscope.training.stopping import StopRule


@dataclasses.dataclass(frozen=True)
class Job:
    """How a run was launched: a name for its runs in place of ``<task>_<model>`` (:mod:`grokscope.run.identity`),
    its WandB group (a sweep's dir), the overrides that made it, whether it is a sweep's job, and whether the
    death of the parent process stops it (joblib workers)."""

    name: str | None = None
    group: str | None = None
    overrides: tuple[str, ...] = ()
    watch_parent: bool = False
    multirun: bool = False
    #: called with the run dir once every check has passed, before anything is written (the command prints it)
    started: Callable[[Path], None] | None = dataclasses.field(default=None, compare=False)


def execute(cfg: DictConfig, run_dir: Path | str, job: Job = Job()) -> dict:
    """Run the job ``cfg`` in ``run_dir`` (see the module docstring) and return its summary."""
    start = time.time()
    rd = RunDir(run_dir)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    try:  # a mistake touches nothing; a sweep records it in a fresh job dir
        config = validate(cfg)
        specs = member_specs(cfg, config.run.ensemble, rd, list(job.overrides))
        device, members = _prepare(config, specs, job)
    except ConfigError as err:
        if job.multirun:
            with rd.lock():
                if not rd.has_progress():
                    _record_failure(rd, err, resolved, start)
        raise
    if job.started is not None:
        job.started(rd.path)
    packed = config.run.ensemble.member_dirs is not None
    with rd.lock(), contextlib.ExitStack() as held:
        rd.clean_temps()
        if packed:
            todo = _claim_members(specs, held)
            rd.reopen()
            rd.record_config(resolved, list(job.overrides))
        elif claim(rd, resolved, list(job.overrides)):
            todo = specs
        else:
            summary = _finished_summary(rd)
            _skipped(rd)
            return summary
        try:
            return _execute(config, rd, resolved, job, start, specs,
                            [m for m in members if any(m.spec is t for t in todo)], device)
        except Exception as err:
            with contextlib.suppress(OSError):  # a full disk: the error that matters is the one being raised
                _record_failure(rd, err, resolved, start)
                for spec in todo if packed else ():
                    _record_failure(spec.dir, err, spec.resolved, start)
            raise


def _prepare(config: Config, specs: list[MemberSpec], job: Job) -> tuple[str, list[Member]]:
    """Every refusal that needs no look inside the run dir's files, before the dir is touched: command-line
    groups the task does not use, what ensembles do not support, the device, a required checkpoint, the WandB
    login, and what only the built task and model can tell (an intervention's frequencies, irreps or parameter).
    Returns the device and the members, built (task, model, interventions, recorder) as they will train."""
    from grokscope.run.sinks import require_wandb_login
    from grokscope.training.callbacks import MetricsRecorder

    check_used_groups(config, job.overrides)
    ensemble = config.run.ensemble.n_members > 1
    if ensemble:
        check_supported(config)
    device = resolve_device(config.run.device)
    if config.run.resume == "true":
        dirs = [spec.dir for spec in specs]
        require(bool(CheckpointSets(dirs).complete_epochs()), "resume", "true",
                f"{dirs[0].path if len(dirs) == 1 else 'the members of ' + str(specs[0].dir.path.parent)} holds no "
                "checkpoint to resume from; use resume=auto (resume if there is one) or resume=false")
    require_wandb_login(config.logger)
    torch.set_float32_matmul_precision(config.run.matmul_precision)
    members = []
    for spec in specs:
        member_config = validate(spec.cfg) if ensemble else config
        task, model, interventions = build_with_interventions(member_config)
        families, parts = recorder_parts(member_config, task, model, interventions, notes=not members)
        recorder = MetricsRecorder(*parts, ArrayStore(spec.dir.arrays))
        members.append(Member(spec, member_config, spec.resolved, task, model, interventions, families, recorder))
    return device, members


def check_used_groups(config: Config, overrides: tuple[str, ...] | list[str]) -> None:
    """A config group chosen on the command line that the task does not use (``group=symmetric`` with
    ``task=modular``) would be ignored: refused."""
    needed = set(getattr(config.task, "requires", ()))
    for override in overrides:
        if override.startswith("~"):  # removing a group is no choice of one
            continue
        key = override.split("=", 1)[0].lstrip("+")
        group = key.split(".", 1)[0].split("@", 1)[0]
        if group in OPTIONAL_GROUPS and group not in needed:
            raise ConfigError(key, override.split("=", 1)[-1], f"task={config.task.name} uses no {group}; only a task "
                              f"that names one does (task=composition): drop {key}=...")


def _finished_summary(rd: RunDir) -> dict:
    """The summary of a finished run that is skipped; a one-line refusal naming ``summary.json`` when it is
    missing or does not read (the dir is left as it is)."""
    again = ("the run is marked finished (finished.json): remove finished.json and run the same command again to "
             "finalise it anew from its last checkpoint")
    try:
        summary = rd.summary(strict=True)
    except ConfigError as err:
        raise ConfigError(err.key, err.value, f"{err.allowed}; {again}") from None
    require(summary is not None and "status" in summary, str(rd.summary_path), "<missing>" if summary is None else
            "{...}", f"must be a JSON object (the run's summary); {again}")
    return summary


def _skipped(rd: RunDir) -> None:
    print(f"skipped {rd.path}: {rd.finished()['status']} with the same config", file=sys.stderr)


def _claim_members(specs: list[MemberSpec], held: contextlib.ExitStack) -> list[MemberSpec]:
    """Lock and claim each member's own dir (held until ``held`` closes); the members left to train."""
    todo = []
    for spec in specs:
        held.enter_context(spec.dir.lock())
        spec.dir.clean_temps()
        if claim(spec.dir, spec.resolved, spec.overrides):
            todo.append(spec)
        else:
            _skipped(spec.dir)
    return todo


def _record_failure(rd: RunDir, err: Exception, resolved: dict, start: float) -> None:
    write_json(rd.summary_path, {"status": "failed", "error": f"{type(err).__name__}: {err}",
                                 "traceback": traceback.format_exc(), "wall_time_s": time.time() - start,
                                 "config": resolved})


def claim(rd: RunDir, resolved: dict, overrides: list[str]) -> bool:
    """Make ``rd`` this config's, or refuse; False if it holds this run finished (nothing to do)."""
    fresh = str(resolved.get("resume")).lower() == "false"
    recorded = _recorded_config(rd) if rd.has_progress() and not fresh else rd.config()
    if recorded is not None and rd.has_progress() and not fresh:
        differ = differing_keys(recorded, resolved)
        if differ:
            key = differ[0]
            raise ConfigError(key, _select(resolved, key), f"{rd.path} was made with {key}={_select(recorded, key)!r}"
                              f" (differing: {', '.join(differ)}); use another run dir, or resume=false to "
                              "start it afresh")
    done = rd.finished()
    if done is not None and not fresh:
        if not (done["status"] == "completed" and resolved["max_epochs"] > done["epochs"] and _ended_at_cap(rd)):
            return False
        rd.reopen()
    if fresh:
        rd.reset()
    rd.record_config(resolved, overrides)
    return True


def _ended_at_cap(rd: RunDir) -> bool:
    """Whether a completed run ended at its ``max_epochs`` (a larger one reopens it), not by its stop rule."""
    return ((rd.summary() or {}).get("stopped") or {}).get("by", "max_epochs") == "max_epochs"


def _recorded_config(rd: RunDir) -> dict | None:
    """The config a dir holding progress was made with; a recorded config that does not read as a mapping is
    refused in one line naming the file (its progress cannot be matched to a config, so nothing in it changes)."""
    try:
        return rd.config(strict=True)
    except ConfigError as err:
        raise ConfigError(err.key, err.value, f"{err.allowed}; the checkpoints or finished run beside it cannot be "
                          "matched to a config: use another run dir, or resume=false to start it afresh") from None


def _select(tree: dict, dotted: str):
    for part in dotted.split("."):
        tree = tree.get(part, "<absent>") if isinstance(tree, dict) else "<absent>"
    return tree


@dataclasses.dataclass
class Member:
    """One member being trained: its spec, validated config, task, model, interventions, metric families,
    recorder, sinks."""

    spec: MemberSpec
    config: Config
    resolved: dict
    task: object
    model: torch.nn.Module
    interventions: list
    families: list
    recorder: object
    sinks: list = dataclasses.field(default_factory=list)


def _execute(config: Config, rd: RunDir, resolved: dict, job: Job, start: float, specs: list[MemberSpec],
             members: list[Member], device: str) -> dict:
    """Train ``members`` (all of ``specs``, except a pack's finished ones; built by :func:`_prepare`) and
    finalise."""
    # Lightning, matplotlib and wandb load only now, once the config has been checked
    from grokscope.run.finalise import finalise
    from grokscope.run.sinks import build_sinks
    from grokscope.training.callbacks import MemberOutputs, RunCallback

    ensemble = config.run.ensemble.n_members > 1
    if not members:
        return _finish_ensemble(rd, specs, None, resolved, time.time() - start, None)
    for m in members:
        if ensemble and config.run.ensemble.member_dirs is None:  # a pack's members recorded theirs when claimed
            m.spec.dir.record_config(m.spec.resolved, m.spec.overrides)
    checkpoints = CheckpointSets([m.spec.dir for m in members])
    states = checkpoints.load() if config.run.resume != "false" else None
    if states is None and config.run.resume == "true":
        raise ConfigError("resume", "true", f"no loadable checkpoint under {rd.path}; use resume=auto or resume=false")
    for m, state in zip(members, states or ()):
        m.model.load_state_dict(state["model"])
        m.recorder.load_state_dict(state["recorder"])
    module = _module(config, members)
    if states is not None:
        module.resume(states)
    resumed_epoch = module.epoch if states is not None else None
    stop = config.run.stop
    rule = None if stop.event == "none" else StopRule(stop.event, stop.after_epochs, config.run.max_epochs)
    if rule is not None:
        rule.apply(module, [m.recorder.history for m in members])

    for m in members:
        m.sinks = build_sinks(m.recorder, m.spec.dir, m.config.logger, m.families, m.task,
                              _identity(config, m, rd, job, ensemble).as_dict(), m.resolved, config.run.max_epochs)
    outputs = [MemberOutputs(m.recorder, m.sinks, m.spec.dir.snapshots) for m in members]
    snapshots = config.run.snapshot_every_n_epochs
    callback = RunCallback(outputs, Cadence(config.run.checkpoint_every_n_epochs), checkpoints.save,
                           None if snapshots is None else Cadence(snapshots), rule)
    try:
        if module.epoch < module.max_epochs:
            _fit(module, callback, config, device, rd, job.watch_parent)
    except BaseException:
        for sink in (s for m in members for s in m.sinks):
            sink.finish(None)
        raise
    wall = time.time() - start
    summaries = []
    for e, m in enumerate(members):
        diverged = module.diverged_at[e]
        fields = {"status": "diverged" if diverged is not None else "completed",
                  "error": f"training loss is not finite by epoch {diverged}" if diverged is not None else None,
                  "run_name": _identity(config, m, rd, job, ensemble).name, "epochs": module.epoch,
                  "stopped": ({"by": "divergence"} if diverged is not None else {"by": "max_epochs"} if rule is None
                              else rule.stopped(m.recorder.history, module.epoch)),
                  "resumed_from_epoch": resumed_epoch, "wall_time_s": wall, "device": device,
                  "cuda_graph": module.graph_use()}
        if ensemble:
            fields["ensemble"] = {"index": m.spec.index, "size": len(specs), "dir": str(rd.path)}
        summaries.append(finalise(m.spec.dir, m.recorder, m.sinks, m.families, m.task, module.member(e),
                                  m.resolved, config.run.plots, **fields))
    if not ensemble:
        return summaries[0]
    return _finish_ensemble(rd, specs, resumed_epoch, resolved, wall, device)


def _identity(config: Config, m: Member, rd: RunDir, job: Job, ensemble: bool) -> Identity:
    """A member's WandB name, group, job type and tags (:mod:`grokscope.run.identity`); a pack's member is the
    sweep job whose dir it writes (named after that dir, with that job's overrides)."""
    common = {"task": m.task.name, "model": config.model.name, "seed": m.config.run.seed,
              "prefix": config.run.name or m.task.run_name or job.name}
    if config.run.ensemble.member_dirs is not None:
        return identity("sweep", **common, varied=split_items(m.spec.dir.path.name), group=job.group,
                        overrides=m.spec.overrides)
    swept = split_items(rd.path.name) if job.multirun else []
    if ensemble:
        own = split_items(m.spec.name.split("_", 1)[1])  # <index>_<key=value,...>
        swept = [item for item in swept if not item.startswith("ensemble.")]
        return identity("ensemble", **common, varied=[*swept, *own], group=job.group or launch_group(rd.path),
                        overrides=m.spec.overrides)
    return identity("sweep" if job.multirun else "run", **common, varied=swept, group=job.group,
                    overrides=list(job.overrides))


def _finish_ensemble(rd: RunDir, specs: list[MemberSpec], resumed_epoch: int | None, resolved: dict, wall: float,
                     device: str | None) -> dict:
    """The ensemble's own summary (its members' dirs) and completion marker, once every member is finished
    (a pack's members may have been finished by an earlier attempt)."""
    finished = [spec.dir.finished() or {} for spec in specs]
    status = "diverged" if all(f.get("status") == "diverged" for f in finished) else "completed"
    epochs = max(f.get("epochs", 0) for f in finished)
    summary = {"status": status, "error": None, "epochs": epochs, "resumed_from_epoch": resumed_epoch,
               "wall_time_s": wall, "device": device, "members": [str(spec.dir.path) for spec in specs],
               "config": resolved}
    write_json(rd.summary_path, summary)
    rd.finish(status, epochs)
    return summary


def _module(config: Config, members: list[Member]):
    """One member: a :class:`GrokModule` of its own config; several: an :class:`EnsembleModule` with their
    per-member weight decays and lrs when they differ."""
    from grokscope.training.ensemble import EnsembleModule
    from grokscope.training.module import GrokModule

    if len(members) == 1:
        m = members[0]
        run = m.config.run
        return GrokModule(m.model, m.task, m.config.optimizer, run.max_epochs, run.steps_per_call, Loss.of(run),
                          run.batch_size, run.seeds.sampler, m.interventions, run.compile, run.cuda_graph)
    run, optimizer = config.run, config.optimizer
    lrs = [m.config.optimizer.lr for m in members] if run.ensemble.lr else None
    per_member_decay = run.ensemble.weight_decay or (lrs and optimizer.name == "adamw")
    decays = [m.config.optimizer.weight_decay for m in members] if per_member_decay else None
    optimizer_cfg = dataclasses.replace(optimizer, weight_decay=0.0 if decays else optimizer.weight_decay,
                                        lr=1.0 if lrs else optimizer.lr)
    return EnsembleModule([m.model for m in members], [m.task for m in members], optimizer_cfg, run.max_epochs,
                          run.steps_per_call, Loss.of(run), decays, run.batch_size,
                          [m.config.run.seeds.sampler for m in members], [m.interventions for m in members], lrs,
                          run.cuda_graph)


def _fit(module, callback, config: Config, device: str, rd: RunDir, watch_parent: bool) -> None:
    """Train until ``max_epochs``, divergence of every member, or a stop signal (then :class:`Preempted`)."""
    import lightning as L

    from grokscope.training.callbacks import EpochProgressBar
    from grokscope.training.module import Diverged

    if not verbose():
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)")
    # with cuda_graph, the epochs before the capture (lr warm-up, graph warm-up) step the capturable AdamW eagerly
    warnings.filterwarnings("ignore", message="This instance was constructed with capturable=True")
    callbacks = [callback] + ([EpochProgressBar(callback.members[0].recorder)] if config.run.progress_bar else [])
    trainer = L.Trainer(  # one endless epoch, no validation, no Lightning checkpoints or loggers: ours
        accelerator=device, devices=1, min_epochs=0, max_epochs=1, logger=False, callbacks=callbacks,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0, default_root_dir=rd.path,
    )
    with StopSignals(watch_parent) as stop:
        callback.stop = stop
        with contextlib.suppress(Diverged):  # every member diverged: recorded in module.diverged_at
            trainer.fit(module)
    if callback.preempted:
        stop.forward()
        raise Preempted(stop.signum, module.epoch)

