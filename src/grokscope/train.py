"""``grokscope-train``: compose the config (Hydra), validate it, build task and model, fit, summarise.

    grokscope-train                                   # (a+b) mod 97, MLP: groks in about a minute on a CPU
    grokscope-train experiment=nanda_2023
    grokscope-train -m seed=0,1,2 model.d_embed=32,64
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from grokscope.analysis.circle_plots import plot_circle_geometry
from grokscope.analysis.plots import (
    plot_circle_signals,
    plot_curves,
    plot_irrep_similarity,
    plot_progress_losses,
    plot_spectrum,
)
from grokscope.config import Config, ConfigError, validate
from grokscope.interventions import apply_at_init, build_interventions
from grokscope.metrics import build_metrics
from grokscope.metrics.circles import ranked_circles, survivors
from grokscope.metrics.fourier import distinct_tables
from grokscope.paths import CONF_DIR
from grokscope.sweep import is_completed
from grokscope.training.cadence import Cadence, log_spaced_epochs
from grokscope.training.outputs import ArrayStore, write_json

if TYPE_CHECKING:
    import lightning as L

# Lightning's CSV logger warns because Hydra has already written .hydra/ into the run dir; nothing is lost.
warnings.filterwarnings("ignore", message="Experiment logs directory .* exists and is not empty")
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)")


def compose(overrides: list[str]) -> DictConfig:
    """The config ``grokscope-train OVERRIDES`` would run, composed without running it (tests, notebooks)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("train", overrides=overrides)


def build(config: Config):
    """The task (split from ``seeds.data``, plus the config groups it ``requires``) and the model (init from
    ``seeds.model``, embedding from ``seeds.embedding``, in ``param_dtype``; then the interventions' ``at_init``)."""
    task, model, _ = build_run(config)
    return task, model


def build_run(config: Config):
    """:func:`build` plus the interventions, which act on the model at init and later during training."""
    seeds = config.run.seeds
    task = config.task.build(seeds.data, *(getattr(config, name) for name in getattr(config.task, "requires", ())))
    interventions = build_interventions(config.intervention, task, seeds)
    torch.manual_seed(seeds.model)
    model = config.model.build(task)
    model.init_embedding(torch.Generator().manual_seed(seeds.embedding))
    model.to(getattr(torch, config.run.param_dtype))
    apply_at_init(interventions, model, task)
    return task, model, interventions


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", device, "CUDA is not available on this machine; use auto or cpu")
    return device


def run(cfg: DictConfig, run_dir: Path, run_name: str | None = None, group: str | None = None,
        tags: tuple[str, ...] = ()) -> dict:
    """Train one run into ``run_dir`` and return its summary (also written to ``summary.json``).

    A run that raises writes ``summary.json`` with ``status: failed`` and the error, then re-raises; a run
    whose loss stops being finite ends early with ``status: diverged``.
    """
    start = time.time()
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    try:
        return _run(validate(cfg), resolved, run_dir, run_name, group, tags, start)
    except Exception as err:
        write_json(run_dir / "summary.json", {
            "status": "failed", "error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc(),
            "wall_time_s": time.time() - start, "config": resolved,
        })
        raise


def _run(config: Config, resolved: dict, run_dir: Path, run_name, group, tags, start: float) -> dict:
    if config.run.ensemble.n_members > 1:
        from grokscope.ensemble import run_ensemble

        return run_ensemble(config, run_dir, run_name, group, tags, start)
    device = resolve_device(config.run.device)
    torch.set_float32_matmul_precision(config.run.matmul_precision)
    task, model, interventions = build_run(config)
    run_name = (config.run.name or task.run_name or run_name
                or f"{task.name}_{config.model.name}_seed{config.run.seed}")
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    resume_from = resume_checkpoint(config.run.resume, checkpoint)
    resumed_epoch = torch.load(resume_from, weights_only=False)["grokscope"]["epoch"] if resume_from else None
    # Lightning loads only now, once the config has been checked and built: a user mistake exits in ~2 s
    from grokscope.training.callbacks import CheckpointCallback, EpochProgressBar, MetricsCallback, SnapshotCallback
    from grokscope.training.loggers import build_loggers, finish_wandb
    from grokscope.training.module import Diverged, GrokModule

    arrays = ArrayStore(run_dir / "arrays")
    metrics_cb = MetricsCallback(*recorder_parts(config, task, model, interventions), arrays)
    callbacks = [metrics_cb, CheckpointCallback(checkpoint, Cadence(config.run.checkpoint_every_n_epochs), arrays)]
    if config.run.snapshot_every_n_epochs is not None:  # before the checkpoint, so a resume never skips one
        callbacks.insert(1, SnapshotCallback(run_dir / "snapshots", Cadence(config.run.snapshot_every_n_epochs)))
    if config.run.progress_bar:
        callbacks.append(EpochProgressBar(metrics_cb))
    loggers = build_loggers(config.logger, run_dir, run_name, group, resolved, tags)
    module = GrokModule(model, task, config.optimizer, config.run.max_epochs, config.run.steps_per_call,
                        config.run.loss_dtype, config.run.batch_size, config.run.seeds.sampler, interventions,
                        config.run.compile)
    trainer = lightning_trainer(device, loggers, callbacks, run_dir)
    status, error = "completed", None
    try:
        trainer.fit(module, ckpt_path=resume_from, weights_only=False)  # our own checkpoint: numpy RNG state
    except Diverged as err:
        status, error = "diverged", str(err)
        for logger in loggers:
            logger.save()
        arrays.save()
    finally:
        finish_wandb(loggers)
    return write_summary(run_dir, resolved, task, metrics_cb, arrays, model, status=status, error=error,
                         run_name=run_name, epochs=module.epoch, resumed_from_epoch=resumed_epoch,
                         wall_time_s=time.time() - start, device=device)


def write_summary(run_dir: Path, resolved: dict, task, recorder, arrays: ArrayStore, model=None, **fields) -> dict:
    """``summary.json`` (``fields``, the final logged row, the grokking epochs, the resolved config and, with
    circle metrics, ``circle_survivors``: the final circles of operand ``a``'s table with their initial signal
    and rank) and the run's plots (those of the final embedding need ``model``); returns the summary."""
    summary = {**fields, "final": recorder.history[-1], "grok_epochs": recorder.grok_epochs, "config": resolved}
    if "circles/signal" in arrays.values and arrays.epochs["circles"][0] == 0:
        summary["circle_survivors"] = survivors(arrays.values["circles/signal"][0][0],
                                                arrays.values["circles/is_circle"][-1][0])
    write_json(run_dir / "summary.json", summary)
    _plots(run_dir, recorder.history, task, arrays, model)
    return summary


def recorder_parts(config: Config, task, model, interventions=()) -> tuple:
    """The metrics (with those of the interventions), the logging cadence and the metrics cadence of a
    :class:`MetricsRecorder`."""
    metric_cadence = Cadence(config.metrics.every_n_epochs,
                             log_spaced_epochs(config.metrics.log_points, config.run.max_epochs)
                             | frozenset(range(1, config.metrics.dense_epochs + 1)))
    metrics = build_metrics(config.metrics, task, model) + [m for i in interventions for m in i.metrics()]
    return metrics, Cadence(config.run.log_every_n_epochs), metric_cadence


def lightning_trainer(device: str, loggers, callbacks, run_dir: Path) -> L.Trainer:
    """A Trainer that leaves the loop to the module: one endless epoch, no validation, no own checkpoints."""
    import lightning as L

    return L.Trainer(
        accelerator=device, devices=1, min_epochs=0, max_epochs=1, logger=loggers, callbacks=callbacks,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0, default_root_dir=run_dir,
    )


def resume_checkpoint(resume: str, checkpoint: Path) -> Path | None:
    """The checkpoint to resume from: ``auto`` uses one if present, ``true`` requires one, ``false`` none."""
    if resume == "false":
        return None
    if resume == "true" and not checkpoint.exists():
        raise ConfigError("resume", resume, f"no checkpoint at {checkpoint} (use resume=auto or resume=false)")
    return checkpoint if checkpoint.exists() else None


#: plot name -> (restricted, excluded) loss keys, plotted with the train and test losses when logged.
PROGRESS_PLOTS = {
    "progress_losses": ("progress/restricted_loss", "progress/excluded_loss"),
    "rep_losses": ("rep/total_hidden_restricted_loss", "rep/total_hidden_excluded_loss"),
}


def _plots(run_dir: Path, history: list[dict], task, arrays: ArrayStore, model=None) -> None:
    import numpy as np

    plot_curves(history, task.eval_masks, run_dir / "plots" / "curves.png")
    logged = set().union(*history)
    if "rep/logit_similarity/trivial" in logged:
        plot_irrep_similarity(history, run_dir / "plots" / "rep_logit_similarity.png")
    for name, (restricted, excluded) in PROGRESS_PLOTS.items():
        if restricted in logged:
            plot_progress_losses(history, restricted, excluded, run_dir / "plots" / f"{name}.png")
    if "fourier/W_E_power" in arrays.values:
        plot_spectrum(np.asarray(arrays.epochs["fourier"]), np.stack(arrays.values["fourier/W_E_power"]),
                      run_dir / "plots" / "fourier_W_E.png")
    if "circles/signal" in arrays.values:
        signal, is_circle = np.stack(arrays.values["circles/signal"]), arrays.values["circles/is_circle"][-1][0]
        plot_circle_signals(np.asarray(arrays.epochs["circles"]), signal, is_circle,
                            run_dir / "plots" / "circle_signals.png")
        if model is not None:  # the final embedding on its circles' planes and in PCA pairs (§6.9)
            circles = ranked_circles(signal[-1, 0], is_circle)
            plot_circle_geometry(distinct_tables(model, task)[0], task.modulus, circles, run_dir / "plots")


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def _hydra_main(cfg: DictConfig) -> None:
    """One job. In a sweep a job that fails is recorded in its ``summary.json`` and the sweep goes on."""
    hc = HydraConfig.get()
    run_dir, multirun = Path(hc.runtime.output_dir), hc.mode == RunMode.MULTIRUN
    if is_completed(run_dir, OmegaConf.to_container(cfg, resolve=True)):
        print(f"skipped {run_dir}: completed with the same config", file=sys.stderr)
        return
    name = "_".join(filter(None, [cfg.task.name, cfg.model.name, hc.job.override_dirname])) or None
    try:
        summary = run(cfg, run_dir, run_name=name, group=hc.sweep.dir if multirun else None,
                      tags=tuple(hc.overrides.task) if multirun else ())
        print(outcome(run_dir, summary))
    except ConfigError as err:
        if not multirun:  # exit here, before Hydra reports the job as crashed
            report(err)
        print(f"job {hc.job.num} failed: {one_line(err)}", file=sys.stderr)
    except Exception:
        if not multirun:
            raise
        print(f"job {hc.job.num} failed:\n{traceback.format_exc()}", file=sys.stderr)


def outcome(run_dir: Path, summary: dict) -> str:
    """One line on a finished run: its dir, status, epochs, final accuracies and grokking epochs."""
    if "members" in summary:
        return f"{run_dir}: {summary['status']} after {summary['epochs']} epochs, {len(summary['members'])} members"
    accuracies = ", ".join(f"{key} {value:.3f}" for key, value in summary["final"].items() if key.endswith("/acc"))
    grokked = ", ".join(f"{split} {epoch}" for split, epoch in summary["grok_epochs"].items() if epoch is not None)
    return (f"{run_dir}: {summary['status']} after {summary['epochs']} epochs; {accuracies}"
            + (f"; accuracy >= 0.99 from epoch: {grokked}" if grokked else ""))


def one_line(err: BaseException) -> str:
    """Condense a (possibly multi-line) configuration error into one line."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Config search path", "provider=", "Set the environment"))]
    cause = err.__cause__
    if cause is not None and str(cause).strip():
        lines.append(f"({str(cause).strip().splitlines()[0]})")
    return " ".join(lines)


def report(err: BaseException) -> NoReturn:
    """How a user mistake ends: one line on stderr naming the key, exit status 2."""
    print(f"grokscope-train: error: {one_line(err)}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    """Console entry: user mistakes exit with status 2 and one line naming the key; bugs keep tracebacks."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    os.environ.setdefault("HYDRA_FULL_ERROR", "1")  # let errors reach us instead of Hydra's own report
    try:
        _hydra_main()
    except (ConfigError, HydraException, OmegaConfBaseException) as err:
        report(err)


if __name__ == "__main__":
    main()
