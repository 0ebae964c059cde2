"""The rows a training step uses: every loss term's rows and weight, full batch or sampled per term."""

from __future__ import annotations

import numpy as np
import torch

from grokscope.tasks.base import Task


def term_seed(sampler_seed: int, term_index: int) -> int:
    """Seed of the batch generator of loss term ``term_index``: independent streams per term and seed."""
    return int(np.random.SeedSequence([sampler_seed, term_index]).generate_state(1)[0])


class TermBatches:
    """One run's trained loss terms (weight > 0) on ``task``: ``rows[t]`` (indices into the table) and
    ``weights[t]``, and each step's batch.

    ``batch_size`` None: every row of every term each step (gathered once, :attr:`full`). Otherwise
    ``batch_size`` rows per term, uniform with replacement, drawn on the task's device by one generator per
    term seeded from ``sampler_seed`` and the term's index (oocl.md §5: one batch per term per step).
    """

    def __init__(self, task: Task, batch_size: int | None, sampler_seed: int):
        trained = [(i, term) for i, term in enumerate(task.loss_terms) if term.weight > 0]
        self.task, self.batch_size = task, batch_size
        self.rows = [task.masks[term.mask].nonzero().squeeze(1) for _, term in trained]
        self.weights = [term.weight for _, term in trained]
        self.generators = [] if batch_size is None else [
            torch.Generator(device=task.tokens.device).manual_seed(term_seed(sampler_seed, i)) for i, _ in trained]
        if batch_size is None:
            rows = torch.cat(self.rows)
            self.full = (task.tokens[rows], task.labels[rows])

    @property
    def sizes(self) -> list[int]:
        """Rows per term in one step's batch."""
        return [len(r) for r in self.rows] if self.batch_size is None else [self.batch_size] * len(self.rows)

    def sample_rows(self) -> list[torch.Tensor]:
        """``batch_size`` rows of each term, uniform with replacement, drawn by the term's generator."""
        return [rows[torch.randint(len(rows), (self.batch_size,), generator=g, device=rows.device)]
                for rows, g in zip(self.rows, self.generators)]

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This step's ``tokens [n, n_ctx]`` and ``labels [n]``, term after term (no host sync)."""
        if self.batch_size is None:
            return self.full
        rows = torch.cat(self.sample_rows())
        return self.task.tokens[rows], self.task.labels[rows]

    def state(self) -> list[torch.Tensor]:
        return [g.get_state() for g in self.generators]

    def load_state(self, states: list[torch.Tensor]) -> None:
        for generator, state in zip(self.generators, states):
            generator.set_state(state)
