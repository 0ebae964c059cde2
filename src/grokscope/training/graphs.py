"""Whole-step CUDA graphs: one training epoch (forward, backward, clipping, decay, optimizer step) captured once
and replayed, so a step of a small model costs one graph launch instead of its ~60-100 kernel launches.

A replay runs the captured kernels on the same memory with the arguments they were captured with (PyTorch,
"CUDA Graphs: whole-network capture"). It therefore computes what the eager epoch computes while every input
the host gave the kernels stays the same; :func:`blockers` lists where that does not hold, and there training
stays eager (``cuda_graph=true`` means "capture where it is exact"):

- the lr must be constant: the graph is used from the end of the warm-up on (``constant_from``); Adam's step
  count, and with it the bias corrections, advance on the device (fused, capturable AdamW): the device-side
  epoch counter of the graph;
- each epoch must use the same rows: full batch (sampled batches draw from their own generators);
- a step must be device work only: no ``after_step`` interventions (they may read values on the host), no
  ``torch.compile`` (its own graphs);
- the trained parameters must be those the graph was captured with: an intervention that freezes a parameter
  at a later epoch makes the next call capture again.

The host's side of an epoch (the epoch count, the scheduler's bookkeeping, the loss-is-finite check, metrics,
logging, checkpoints) runs between calls, at graph boundaries, as it does in eager mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

#: eager epochs on a side stream before a capture: the optimizer's state exists and cuBLAS and the caching
#: allocator have warmed up before anything is recorded (PyTorch's whole-network-capture recipe)
WARMUP_EPOCHS = 3


def blockers(device: torch.device, batch_size: int | None, compile: bool, after_step: bool) -> list[str]:
    """Why training on ``device`` with these settings cannot be replayed exactly from a graph (none: it can)."""
    reasons = []
    if device.type != "cuda":
        reasons.append(f"device is {device.type}, not cuda")
    if batch_size is not None:
        reasons.append("batch_size is set (each epoch draws new rows)")
    if compile:
        reasons.append("compile=true")
    if after_step:
        reasons.append("an intervention acts after every step")
    return reasons


class EpochGraph:
    """Runs ``epoch`` (one training epoch: device work only, reading and writing the same tensors every time)
    ``n`` times per :meth:`run`: the first call warms up eagerly and captures, later calls replay."""

    def __init__(self, epoch: Callable[[], None], params: Sequence[torch.Tensor]):
        self.epoch, self.params = epoch, list(params)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.captured_for: tuple[bool, ...] | None = None

    def trained(self) -> tuple[bool, ...]:
        return tuple(p.requires_grad for p in self.params)

    def run(self, n: int) -> None:
        """``n`` epochs: replays, after :data:`WARMUP_EPOCHS` eager ones and a capture when there is no graph yet
        for the parameters that train now."""
        if self.graph is None or self.captured_for != self.trained():
            warm = min(n, WARMUP_EPOCHS)
            self.warm_up(warm)
            n -= warm
            if n == 0:
                return
            self.capture()
        for _ in range(n):
            self.replay()

    def warm_up(self, n: int) -> None:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(n):
                self.epoch()
        torch.cuda.current_stream().wait_stream(side)

    def capture(self) -> None:
        """Records one epoch (nothing runs: the recorded epoch runs at each replay)."""
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.epoch()
        self.captured_for = self.trained()

    def replay(self) -> None:
        self.graph.replay()
