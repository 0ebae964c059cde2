"""Framework vs bare PyTorch: time per training epoch of the same model, data and full-batch AdamW steps.

    python scripts/bench_step.py [--epochs 500] [--repeats 3] [overrides ...]

Both sides train the model that ``grokscope.train.build`` makes from the config (same init, same split)
with the same optimizer and warm-up; the bare side is a plain loop. The framework side runs the real
Lightning Trainer with ``metrics=none``, CSV logging and evaluation only at the first and last epoch; a
second framework line uses the default logging cadence. Runs alternate (bare, framework, ...) and the
median of ``--repeats`` is reported, so both see the same machine load.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from grokscope.config import validate
from grokscope.train import CONF_DIR, build, run


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name="train", overrides=overrides)


def bare_seconds_per_epoch(overrides: list[str], epochs: int) -> float:
    """A plain loop: forward on the training rows, float64 cross-entropy, backward, AdamW, warm-up."""
    config = validate(compose(overrides))
    task, model = build(config)
    train = task.masks["train"]
    tokens, labels = task.tokens[train], task.labels[train]
    optimizer = config.optimizer.build([p for p in model.parameters() if p.requires_grad])
    scheduler = config.optimizer.warmup(optimizer)
    dtype = getattr(torch, config.run.loss_dtype)
    start = time.perf_counter()
    for _ in range(epochs):
        loss = torch.nn.functional.cross_entropy(model(tokens).to(dtype), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
    return (time.perf_counter() - start) / epochs


class _Timer(L.Callback):
    def on_train_start(self, trainer, pl_module):
        self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module):
        self.seconds = time.perf_counter() - self.start


def framework_seconds_per_epoch(overrides: list[str], epochs: int) -> float:
    """``grokscope.train.run`` with a timer around ``trainer.fit``'s training loop."""
    timer = _Timer()
    original = L.Trainer.__init__

    def with_timer(self, *args, callbacks=(), **kwargs):
        original(self, *args, callbacks=[*callbacks, timer], **kwargs)

    L.Trainer.__init__ = with_timer
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run(compose(overrides), Path(tmp))
    finally:
        L.Trainer.__init__ = original
    return timer.seconds / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=nanda_2023")
    args = parser.parse_args()
    common = [*args.overrides, f"max_epochs={args.epochs}", "logger=csv", "progress_bar=false"]
    lean = [*common, "metrics=none", f"log_every_n_epochs={args.epochs}",
            f"checkpoint_every_n_epochs={args.epochs}"]
    times: dict[str, list[float]] = {"bare": [], "framework": [], "framework+logging": []}
    for _ in range(args.repeats):
        times["bare"].append(bare_seconds_per_epoch(common, args.epochs))
        times["framework"].append(framework_seconds_per_epoch(lean, args.epochs))
        times["framework+logging"].append(framework_seconds_per_epoch([*common, "metrics=none"], args.epochs))
    median = {k: statistics.median(v) for k, v in times.items()}
    print(f"config: {' '.join(args.overrides) or '(default)'}; {args.epochs} epochs x {args.repeats} repeats; "
          f"torch threads {torch.get_num_threads()}")
    for name, seconds in median.items():
        print(f"  {name:<18} {1000 * seconds:8.3f} ms/epoch  {1 / seconds:8.1f} epochs/s  "
              f"ratio to bare {seconds / median['bare']:.3f}")


if __name__ == "__main__":
    main()
