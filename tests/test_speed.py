"""The fast paths: torch.compile'd training forward, CUDA graphs, and the GPU path (``-m gpu``; skipped without
CUDA)."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from grokscope.losses import Loss
from grokscope.run import build
from grokscope.run.config import validate
from grokscope.training import module as module_lib
from grokscope.training.graphs import EpochGraph, blockers
from grokscope.training.module import GrokModule
from grokscope.training.optim import load_state
from tests.helpers.config import make_config
from tests.helpers.runs import train

# No attention biases: the gradient of b_K is zero up to rounding, and Adam's first step turns that into +-lr.
SMALL_TRANSFORMER = ("experiment=tiny_transformer",)


def one_step(overrides: tuple[str, ...], compile: bool, device: str = "cpu"):
    """Logits of the training forward and the parameters after one AdamW step."""
    config = validate(make_config(*overrides, "optimizer.warmup_steps=0"))
    task, model = build(config)
    module = GrokModule(copy.deepcopy(model), task, config.optimizer, 1, 1, Loss(), None, 0,
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


def train_losses(run_dir: Path) -> torch.Tensor:
    """The ``train/loss`` column of a run's ``metrics.csv`` (one row per logged epoch)."""
    with open(run_dir / "metrics.csv") as f:
        return torch.tensor([float(row["train/loss"]) for row in csv.DictReader(f) if row.get("train/loss")])


def test_a_step_is_captured_only_where_a_replay_is_exact():
    """The graph is refused, naming why, off CUDA, for sampled batches, with torch.compile and with after-step
    interventions; a full-batch CUDA run without them is captured."""
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert blockers(cuda, None, False, False) == []
    assert blockers(cpu, None, False, False) == ["device is cpu, not cuda"]
    assert blockers(cuda, 16, True, True) == ["batch_size is set (each epoch draws new rows)", "compile=true",
                                              "an intervention acts after every step"]


def test_a_cpu_run_says_it_trained_eagerly_and_why(tmp_path):
    summary = train(tmp_path, "task.p=23", "max_epochs=20", "progress_bar=false")
    assert summary["cuda_graph"] == "eager: device is cpu, not cuda"


def test_optimizer_state_of_a_captured_gpu_run_resumes_in_a_cpu_optimizer():
    """A checkpoint of the fused, capturable AdamW (step count on the device) loads into the CPU's foreach AdamW
    with the CPU's implementation: its next step equals the step of the optimizer it was saved from."""
    torch.manual_seed(0)
    param = torch.nn.Parameter(torch.randn(5))
    saved = torch.optim.AdamW([param], lr=1e-2, foreach=True)
    for _ in range(3):
        param.grad = torch.randn(5)
        saved.step()
    state = copy.deepcopy(saved.state_dict())
    for group in state["param_groups"]:
        group.update(fused=True, capturable=True, foreach=None)  # as the CUDA run's optimizer records it
    twin = torch.nn.Parameter(param.detach().clone())
    resumed = torch.optim.AdamW([twin], lr=1e-2, foreach=True)
    load_state(resumed, state)
    assert resumed.param_groups[0]["capturable"] is False and resumed.param_groups[0]["foreach"] is True
    param.grad = twin.grad = torch.randn(5)
    saved.step()
    resumed.step()
    torch.testing.assert_close(twin, param, rtol=0, atol=0)


class EagerGraph(EpochGraph):
    """An :class:`EpochGraph` whose "graph" calls the epoch (no CUDA here): the host side of the graph path
    (warm-up, capture, replays, recapture, scheduler and epoch count) runs on the CPU. ``log`` records it."""

    log: list = []

    def warm_up(self, n: int) -> None:
        self.log.append(("eager", n))
        for _ in range(n):
            self.epoch()

    def capture(self) -> None:
        self.log.append("capture")
        self.graph, self.captured_for = SimpleNamespace(replay=self.epoch), self.trained()


def test_the_graph_path_keeps_the_eager_bookkeeping_and_recaptures_after_a_freeze(tmp_path, monkeypatch):
    """With the capture replaced by the epoch itself, a run on the graph path logs exactly the eager run's losses:
    eager through the lr warm-up, then per call three warm-up epochs and a capture once, replays after, and a
    capture again when the embedding freezes at epoch 100."""
    monkeypatch.setattr(module_lib, "EpochGraph", EagerGraph)
    monkeypatch.setattr(GrokModule, "graphed", property(lambda self: self.cuda_graph))
    monkeypatch.setattr(EagerGraph, "log", [])
    base = ("task.p=23", "max_epochs=200", "log_every_n_epochs=10", "steps_per_call=50", "optimizer.warmup_steps=10",
            "intervention=freeze_embedding", "intervention.freeze_embedding.from_epoch=100")
    graphed = train(tmp_path / "graph", *base, "cuda_graph=true")
    train(tmp_path / "eager", *base, "cuda_graph=false")
    assert graphed["cuda_graph"] == "replayed"
    assert EagerGraph.log == [("eager", 3), "capture", ("eager", 3), "capture"]
    torch.testing.assert_close(train_losses(tmp_path / "graph"), train_losses(tmp_path / "eager"), rtol=0, atol=0)


@pytest.mark.gpu
@pytest.mark.parametrize("extra", [
    (),
    ("optimizer.grad_clip=1.0", "ensemble.weight_decay=[0.3,1.0]"),
    ("intervention=freeze_embedding", "intervention.freeze_embedding.from_epoch=100"),  # a capture again
    ("optimizer.orthogonal=true", "ensemble.size=2", "loss.kind=stablemax"),  # ⊥Grad per member, StableMax
], ids=["single", "ensemble", "freeze", "orthogonal"])
def test_captured_epochs_give_the_eager_losses(tmp_path, extra):
    """Epochs replayed from a CUDA graph (after a 10-epoch lr warm-up) log the losses of eager epochs."""
    base = (*SMALL_TRANSFORMER, "device=cuda", "max_epochs=200", "log_every_n_epochs=10", "steps_per_call=50",
            "optimizer.warmup_steps=10", "progress_bar=false", *extra)
    runs = {}
    for mode in ("true", "false"):
        summary = train(tmp_path / mode, *base, f"cuda_graph={mode}")
        runs[mode] = Path(summary["members"][1]) if "members" in summary else tmp_path / mode
    assert json.loads((runs["true"] / "summary.json").read_text())["cuda_graph"] == "replayed"
    assert json.loads((runs["false"] / "summary.json").read_text())["cuda_graph"] == "eager: cuda_graph=false"
    graphed, eager = train_losses(runs["true"]), train_losses(runs["false"])
    assert len(graphed) == 20
    torch.testing.assert_close(graphed, eager, rtol=1e-5, atol=1e-7)
