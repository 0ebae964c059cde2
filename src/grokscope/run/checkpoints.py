"""Checkpoint sets: every member's state at one epoch, written as a set and read back verified.

Member ``e`` of a run keeps ``checkpoints/epoch=<N>.ckpt`` in its own run dir (a single run is its only
member). A set is written member by member (each file atomic) and only then are older sets pruned, keeping
the newest two complete ones; so the newest epoch at which *every* member has a file is always a complete
set, whatever moment a kill interrupts. Loading takes that epoch, checks every file (``weights_only=True``:
a crafted pickle executes nothing; the keys and the epoch it claims), and falls back to the next older
complete set when a file fails, saying so in one line.
"""

from __future__ import annotations

import pickle
import sys
import zipfile

import torch

from grokscope.run.rundir import RunDir
from grokscope.training.outputs import write_torch

#: What a member checkpoint holds (:meth:`GrokModule.member_state` plus the recorder).
KEYS = frozenset({"epoch", "model", "optimizer", "scheduler", "sampler", "rng", "diverged_at", "recorder"})
KEPT = 2


class BadCheckpoint(Exception):
    """A checkpoint file that cannot be loaded or does not hold what it should."""

    def __init__(self, path, reason: str):
        self.path = path
        super().__init__(f"{path}: {reason}")


def load_checkpoint(path, epoch: int | None = None) -> dict:
    """One checkpoint file, loaded with ``weights_only=True`` onto the CPU and checked."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BadCheckpoint(path, f"cannot be loaded ({reason[:160]})") from None
    if not isinstance(state, dict) or not state.keys() >= KEYS:
        raise BadCheckpoint(path, "is not a grokscope checkpoint")
    if epoch is not None and state["epoch"] != epoch:
        raise BadCheckpoint(path, f"holds epoch {state['epoch']}, not {epoch}")
    return state


class CheckpointSets:
    """The checkpoint sets of the members ``dirs`` (one :class:`RunDir` per member)."""

    def __init__(self, dirs: list[RunDir]):
        self.dirs = dirs

    def complete_epochs(self) -> list[int]:
        """Epochs at which every member has a checkpoint file, newest first."""
        common = set.intersection(*(set(d.checkpoint_epochs()) for d in self.dirs))
        return sorted(common, reverse=True)

    def save(self, epoch: int, states: list[dict]) -> None:
        """Write every member's state at ``epoch``, then prune all but the newest :data:`KEPT` sets."""
        for d, state in zip(self.dirs, states):
            write_torch(d.checkpoint(epoch), state)
        keep = set(self.complete_epochs()[:KEPT])
        for d in self.dirs:
            for old in set(d.checkpoint_epochs()) - keep:
                d.checkpoint(old).unlink(missing_ok=True)

    def load(self) -> list[dict] | None:
        """The newest complete set that loads and verifies (one state per member), or None if there is
        none. A failing file is renamed ``<name>.bad`` (kept, out of the way) and named on stderr in one
        line; the next older complete set is tried."""
        while epochs := self.complete_epochs():
            try:
                return [load_checkpoint(d.checkpoint(epochs[0]), epochs[0]) for d in self.dirs]
            except BadCheckpoint as err:
                err.path.rename(err.path.with_name(f"{err.path.name}.bad"))
                older = f"falling back to epoch {epochs[1]}" if len(epochs) > 1 else "no older checkpoint"
                print(f"grokscope: checkpoint {err}; kept as {err.path.name}.bad; {older}", file=sys.stderr)
        return None
