"""Packed sweeps: the cells of a sweep that differ only in keys an ensemble varies per member, trained as
ensembles that write each cell's run dir where its own job would (``hydra/launcher=packed``).

    grokscope-train -m hydra/launcher=packed seed='range(64)' optimizer.weight_decay=0.3,1

A cell is one job of the sweep: its overrides (``key=value`` strings, as Hydra's sweeper makes them). Cells
whose overrides are the same but for the values of :data:`PACKABLE` keys form a group (:func:`shape`); each
group is cut into packs of at most ``size`` cells, in sweep order (:func:`plan`). A pack is one job: the first
cell's overrides, plus ``ensemble.<list>=[...]`` for each key whose value differs between its cells and
``ensemble.member_dirs=[...]`` (the cells' own run dirs), its own dir under ``<sweep dir>/.packs/``
(:func:`pack_overrides`). Before it is launched, a pack is checked against its cells (:func:`mismatch`): each
member must get its cell's run dir, overrides and resolved config, byte for byte, and the config must be one
an ensemble trains; otherwise its cells run as ordinary jobs, as do cells alone in their group, cells that set
``ensemble.*`` and cells whose own config is refused (they fail as their own jobs).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from grokscope.config import ConfigError
from grokscope.run.config import validate
from grokscope.run.members import MEMBER_KEYS, check_supported, member_specs
from grokscope.run.rundir import RunDir

#: the config keys an ensemble gives each member its own value of -> the ``ensemble.<list>`` that holds them
PACKABLE = {key: name for name, key in MEMBER_KEYS.items()}
#: where a sweep's packs keep their own run dirs (a hidden folder: collect and the sweep report skip it)
PACKS_DIR = ".packs"


@dataclasses.dataclass(frozen=True)
class Cell:
    """One job of a sweep, as Hydra would run it unpacked: its overrides, its run dir (absolute), its resolved
    config and whether that config is valid."""

    overrides: tuple[str, ...]
    run_dir: str
    resolved: dict
    valid: bool


def make_cell(overrides: Sequence[str], run_dir: str, job: DictConfig) -> Cell:
    """The cell ``overrides`` whose job Hydra composes to ``job`` (without its ``hydra`` node) and runs in
    ``run_dir``: its config resolved and validated (a config that does not resolve is not valid)."""
    try:
        resolved = OmegaConf.to_container(job, resolve=True)
        validate(job)
    except (ConfigError, OmegaConfBaseException):
        return Cell(tuple(overrides), run_dir, {}, False)
    return Cell(tuple(overrides), run_dir, resolved, True)


def split(override: str) -> tuple[str, str | None]:
    """``"key=value" -> ("key", "value")``; ``("~key", None)`` for an override without a value."""
    key, sep, value = override.partition("=")
    return key, value if sep else None


def shape(overrides: Sequence[str]) -> tuple[str, ...] | None:
    """What a cell must share with the cells it packs with: its overrides, with only the key of each
    :data:`PACKABLE` override. None for a cell that sets ``ensemble.*`` itself (it cannot pack)."""
    out = []
    for override in overrides:
        key, _ = split(override)
        if key.lstrip("+~").split(".")[0] == "ensemble":
            return None
        out.append(key if key in PACKABLE else override)
    return tuple(out)


def plan(cells: Sequence[Sequence[str]], size: int, packable: Sequence[bool] | None = None) -> list[list[int]]:
    """The jobs of a sweep as lists of cell indices, ordered by their first cell: a cell alone is an ordinary
    job, several are a pack. Cells of one :func:`shape` are cut into packs of ``size`` in sweep order (the last
    may be smaller); a cell that ``packable`` marks False runs alone."""
    groups: dict[object, list[int]] = {}
    for index, overrides in enumerate(cells):
        key = shape(overrides) if packable is None or packable[index] else None
        groups.setdefault(key if key is not None else ("alone", index), []).append(index)
    jobs = [members[start:start + size] for members in groups.values() for start in range(0, len(members), size)]
    return sorted(jobs, key=lambda job: job[0])


def pack_overrides(cells: Sequence[Sequence[str]], member_dirs: Sequence[str]) -> list[str]:
    """The overrides of the pack of ``cells`` (one :func:`shape`), whose members write ``member_dirs``: the first
    cell's, the lists of the :data:`PACKABLE` values that differ between the cells, the member dirs and the
    pack's own dir (``<sweep dir>/.packs/<hash of the member dirs>``, the same whenever the sweep is re-run)."""
    first = list(cells[0])
    lists = []
    for position, override in enumerate(first):
        key, _ = split(override)
        values = [split(cell[position])[1] for cell in cells]
        if key in PACKABLE and len(set(values)) > 1:
            lists.append(f"ensemble.{PACKABLE[key]}=[{','.join(values)}]")
    name = hashlib.sha1("\n".join(member_dirs).encode()).hexdigest()[:12]
    quoted = ",".join("'" + path.replace("\\", "\\\\").replace("'", "\\'") + "'" for path in member_dirs)
    return [*first, *lists, f"ensemble.member_dirs=[{quoted}]", f"hydra.sweep.subdir={PACKS_DIR}/{name}"]


def dump(resolved: dict) -> str:
    """A resolved config as a run dir records it (``.hydra/config.yaml``)."""
    return yaml.safe_dump(resolved, sort_keys=False)


def mismatch(pack: DictConfig, overrides: Sequence[str], cells: Sequence[Cell]) -> str | None:
    """Why the pack job ``pack`` (its composed config and task overrides) would not write ``cells`` as their own
    jobs would; None when every member gets its cell's run dir, overrides and config."""
    try:
        config = validate(pack)
        check_supported(config)
    except ConfigError as err:
        return str(err)
    specs = member_specs(pack, config.run.ensemble, RunDir(PACKS_DIR), list(overrides))
    for spec, cell in zip(specs, cells):
        member = {"run dir": str(spec.dir.path), "overrides": spec.overrides, "config": dump(spec.resolved)}
        own = {"run dir": cell.run_dir, "overrides": list(cell.overrides), "config": dump(cell.resolved)}
        for what in own:
            if member[what] != own[what]:
                return f"member {spec.index}'s {what} would differ from that of {cell.run_dir}"
    return None


def packed_jobs(cells: Sequence[Cell], size: int, compose: Callable[[list[str]], tuple[DictConfig, list[str]]],
                note: Callable[[str], None] = lambda line: None) -> list[list[str]]:
    """The overrides of the jobs that run ``cells``: packs of at most ``size`` that pass :func:`mismatch`, and
    ordinary jobs. ``compose(overrides)`` gives a job's config (without ``hydra``) and its task overrides;
    ``note`` hears why a pack runs unpacked."""
    jobs = []
    for indices in plan([c.overrides for c in cells], size, [c.valid for c in cells]):
        members = [cells[i] for i in indices]
        if len(members) > 1:
            overrides = pack_overrides([c.overrides for c in members], [c.run_dir for c in members])
            why = mismatch(*compose(overrides), members)
            if why is None:
                jobs.append(overrides)
                continue
            note(f"{len(members)} cells run unpacked: {why}")
        jobs.extend(list(c.overrides) for c in members)
    return jobs
