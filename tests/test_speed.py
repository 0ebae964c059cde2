"""The fast paths: torch.compile'd training forward, and the GPU path (``-m gpu``; skipped without CUDA)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from grokscope.run import build
from grokscope.run.config import validate
from grokscope.training.module import GrokModule
from tests.helpers.config import make_config
from tests.helpers.runs import train

# No attention biases: the gradient of b_K is zero up to rounding, and Adam's first step turns that into +-lr.
SMALL_TRANSFORMER = ("experiment=tiny_transformer",)


def one_step(overrides: tuple[str, ...], compile: bool, device: str = "cpu"):
    """Logits of the training forward and the parameters after one AdamW step."""
    config = validate(make_config(*overrides, "optimizer.warmup_steps=0"))
    task, model = build(config)
    module = GrokModule(copy.deepcopy(model), task, config.optimizer, 1, 1, "float64", None, 0,
                        compile=compile).to(device)
    module.on_fit_start()  # the task and its term batches on the module's device
    optimizer = config.optimizer.build(list(module.model.parameters()), fused=device == "cuda")
    logits = module.train_forward(module.task.tokens, last_only=True)
    loss = module.training_loss()
    loss.backward()
    optimizer.step()
    return logits.detach().cpu(), [p.detach().cpu() for p in module.model.parameters()]


def assert_compiled_equals_eager(device: str) -> None:
    eager, compiled = one_step(SMALL_TRANSFORMER, False, device), one_step(SMALL_TRANSFORMER, True, device)
    torch.testing.assert_close(compiled[0], eager[0], rtol=1e-5, atol=1e-5)
    for a, b in zip(compiled[1], eager[1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_compiled_training_forward_equals_eager_on_cpu():
    assert_compiled_equals_eager("cpu")


@pytest.mark.gpu
def test_compiled_training_forward_equals_eager_on_cuda():
    assert_compiled_equals_eager("cuda")


@pytest.mark.gpu
def test_short_cuda_run_learns(tmp_path):
    summary = train(tmp_path, *SMALL_TRANSFORMER, "device=cuda", "max_epochs=300", "optimizer.lr=1e-2")
    assert summary["device"] == "cuda" and summary["status"] == "completed"
    assert summary["final"]["train/acc"] > 0.9


@pytest.mark.gpu
def test_cuda_ensemble_member_equals_single_run(tmp_path):
    base = (*SMALL_TRANSFORMER, "device=cuda", "max_epochs=100")
    ensemble = train(tmp_path / "ensemble", *base, "ensemble.size=2")
    single = train(tmp_path / "single", *base, "seed=1")
    member = json.loads((Path(ensemble["members"][1]) / "summary.json").read_text())
    assert member["final"]["train/loss"] == pytest.approx(single["final"]["train/loss"], rel=1e-4)
