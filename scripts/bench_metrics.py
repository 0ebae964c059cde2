"""Overhead of the metrics callback on the training time of one experiment, measured side by side in one process.

    PYTHONPATH=src python scripts/bench_metrics.py                            # experiment=chughtai_s5_mlp
    PYTHONPATH=src python scripts/bench_metrics.py experiment=nanda_2023 --epochs 20

Measures, interleaved over ``--rounds`` rounds (medians, to resist other load on the machine): one training
epoch (the full-batch step of :class:`~grokscope.training.module.GrokModule`) and one metric evaluation (what
:class:`~grokscope.training.callbacks.RunCallback` does on a metric epoch: one forward over all rows with
the hooks, the split scores and every metric), on the experiment's model and task. The callback's cost over the
full run is ``n_metric_epochs × t_metric``, with the metric epochs of the configured cadence (``every_n_epochs``
plus the log-spaced ``log_points`` over ``max_epochs``); the printed ratio divides it by ``max_epochs × t_epoch``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from hydra import compose, initialize_config_dir

from grokscope.losses import Loss
from grokscope.metrics import build_metrics, evaluate, split_scores
from grokscope.paths import CONF_DIR
from grokscope.run import build
from grokscope.run.config import validate
from grokscope.training.cadence import Cadence, log_spaced_epochs
from grokscope.training.module import GrokModule


def timed(fn, repeats: int) -> float:
    """Seconds per call of ``fn`` (mean over ``repeats`` calls)."""
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", default=["experiment=chughtai_s5_mlp"])
    parser.add_argument("--epochs", type=int, default=30, help="training epochs timed per round")
    parser.add_argument("--evals", type=int, default=3, help="metric evaluations timed per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        config = validate(compose(config_name="train", overrides=args.overrides))
    task, model = build(config)
    run = config.run
    module = GrokModule(model, task, config.optimizer, run.max_epochs, run.steps_per_call, Loss.of(run),
                        run.batch_size, run.seeds.sampler)
    module.on_fit_start()
    optimizer = config.optimizer.build([p for p in model.parameters() if p.requires_grad])
    metrics = [active.metric for active in build_metrics(config.metrics, task, model)]
    hooks = tuple(sorted({h for m in metrics for h in m.hooks}))

    def epoch() -> None:
        loss = module.training_loss()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def metric_evaluation() -> None:
        ev = evaluate(model, task, module.loss, hooks)
        split_scores(ev, task)
        for metric in metrics:
            metric(model, task, ev)

    metric_evaluation()  # warm-up: irreps from the cache, lazy inits
    t_epoch, t_metric = [], []
    for _ in range(args.rounds):
        t_epoch.append(timed(epoch, args.epochs))
        t_metric.append(timed(metric_evaluation, args.evals))
    t_epoch, t_metric = statistics.median(t_epoch), statistics.median(t_metric)

    cfg = config.metrics
    cadence = Cadence(cfg.every_n_epochs, log_spaced_epochs(cfg.log_points, run.max_epochs))
    n_metric = sum(cadence.due(e) for e in range(run.max_epochs + 1))
    train_s, metrics_s = run.max_epochs * t_epoch, n_metric * t_metric
    print(f"{' '.join(args.overrides)}: {task.name}, {type(model).__name__}, {len(task.labels)} rows, "
          f"metrics: {', '.join(type(m).__name__ for m in metrics)}")
    print(f"one training epoch      {1e3 * t_epoch:9.1f} ms")
    print(f"one metric evaluation   {1e3 * t_metric:9.1f} ms  (= {t_metric / t_epoch:.1f} epochs)")
    print(f"full run: {run.max_epochs} epochs ({train_s / 3600:.2f} h), {n_metric} metric epochs "
          f"({metrics_s / 3600:.3f} h)")
    print(f"metrics callback / training time: {metrics_s / train_s:.2%}")


if __name__ == "__main__":
    main()
