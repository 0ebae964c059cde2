"""Who a run is on a dashboard: one scheme for the name, group, job type and tags of a single run, a sweep's job,
an ensemble's member and a packed sweep's member (a sweep's job trained inside a pack).

    name      <task>_<model>[_<varied>]_seed<seed>
    group     the launch: the sweep dir (relative) for a sweep's jobs and packed members, the ensemble's run dir
              for its members, none for a single run; logger.wandb.group overrides it
    job_type  train | sweep-job | ensemble-member
    tags      task:<task>, model:<model>[, experiment:<preset>], then logger.wandb.tags

``<task>`` is the task's name (``modular_add_97``), or the task's own suggestion for the whole prefix
``<task>_<model>`` (the out-of-context task's ``oocl_...``), or ``name=...``; ``<varied>`` is what sets the run
apart from the others of its launch, seed aside, as ``key=value`` joined by commas: a sweep job's swept keys (its
dir's name), an ensemble member's own weight decay or lr (and the swept keys of the sweep job it belongs to);
nothing for a single run. The seed comes last, always. The runs of one setting share ``setting_id`` in the config
(:func:`~grokscope.run.fingerprint.setting_id`): a dashboard groups by it for seed bands.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

#: a launch kind -> the WandB job type of its runs
JOB_TYPES = {"run": "train", "sweep": "sweep-job", "ensemble": "ensemble-member"}


@dataclass(frozen=True)
class Identity:
    """A run's WandB ``name``, ``group`` (None: none), ``job_type`` and ``tags``; ``overrides``: the command-line
    overrides that make it (in the WandB config, not in the tags)."""

    name: str
    group: str | None
    job_type: str
    tags: tuple[str, ...]
    overrides: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"name": self.name, "group": self.group, "job_type": self.job_type, "tags": list(self.tags),
                "overrides": list(self.overrides)}


def run_name(prefix: str, seed: int, varied: list[str]) -> str:
    """``<prefix>[_<varied, joined by commas>]_seed<seed>``."""
    return "_".join([prefix, *([",".join(varied)] if varied else []), f"seed{seed}"])


def identity(kind: str, *, task: str, model: str, seed: int, prefix: str | None = None, varied: list[str] = (),
             group: str | None = None, overrides: list[str] = ()) -> Identity:
    """The identity of a run of launch ``kind`` (``run``, ``sweep`` or ``ensemble``): see the module docstring.
    ``varied``: ``key=value`` items, those of ``seed`` left out here."""
    varied = [item for item in varied if item.split("=", 1)[0] != "seed"]
    experiment = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == "experiment"]
    tags = (f"task:{task}", f"model:{model}", *(f"experiment:{e}" for e in experiment[-1:]))
    return Identity(run_name(prefix or f"{task}_{model}", seed, varied), group, JOB_TYPES[kind], tags,
                    tuple(overrides))


def split_items(dirname: str) -> list[str]:
    """The ``key=value`` items of a sweep job's dir name (Hydra's ``override_dirname``, items joined by commas;
    a comma inside brackets or quotes belongs to its value): ``a=1,b=[2,3]`` -> ``["a=1", "b=[2,3]"]``."""
    items, depth, quote, start = [], 0, None, 0
    for i, char in enumerate(dirname):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[({":
            depth += 1
        elif char in "])}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(dirname[start:i])
            start = i + 1
    items.append(dirname[start:])
    return [item for item in items if item]


def launch_group(path: Path) -> str:
    """A launch dir as a WandB group: relative to the working dir when under it, else its name; never a
    machine's absolute path."""
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    with contextlib.suppress(ValueError):
        return path.absolute().relative_to(Path.cwd()).as_posix()
    return path.name
