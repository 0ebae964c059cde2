"""The members of a run: one for a single run, K for ``ensemble.size=K`` (or a list of seeds, decays or lrs).

    grokscope-train ensemble.size=8                       # seeds 0..7 -> <run_dir>/members/<i>_seed=<s>/
    grokscope-train ensemble.seeds=[3,5,8]
    grokscope-train ensemble.weight_decay=[0.3,1.0,3.0]   # one seed, three weight decays (adamw)
    grokscope-train ensemble.lr=[1e-3,3e-3]               # one seed, two learning rates

Member ``i`` of an ensemble is the run ``grokscope-train seed=s_i [optimizer.weight_decay=w_i] [optimizer.lr=l_i]``
would make: its config, split, initialisation, batches, metrics and its own complete run dir (under
``members/``, or at ``ensemble.member_dirs[i]`` in a packed sweep).
"""

from __future__ import annotations

import copy
import dataclasses
import functools

from omegaconf import DictConfig, OmegaConf

from grokscope.config import Config, EnsembleConfig, require
from grokscope.run.rundir import RunDir

#: ensemble list -> the config key whose value it gives each member
MEMBER_KEYS = {"seeds": "seed", "weight_decay": "optimizer.weight_decay", "lr": "optimizer.lr"}


@dataclasses.dataclass
class MemberSpec:
    """Member ``index``: its config, the command-line overrides that make it and its run dir."""

    index: int
    name: str
    cfg: DictConfig
    overrides: list[str]
    dir: RunDir

    @functools.cached_property
    def resolved(self) -> dict:
        """The member's resolved config: what its ``.hydra/config.yaml`` records."""
        return OmegaConf.to_container(self.cfg, resolve=True)


def member_specs(cfg: DictConfig, ens: EnsembleConfig, run_dir: RunDir, overrides: list[str]) -> list[MemberSpec]:
    """A single run is its own only member. An ensemble's members: seeds ``ensemble.seeds``, else ``seed``
    for every member of a weight-decay or lr list, else ``seed + i``; every explicit ``seeds.*`` shifts with the
    member's seed (interpolated ones follow ``seed``). Values are taken as given (``[1,0.3]`` gives the member
    ``optimizer.weight_decay=1``, as that run records it). Member dirs: ``members/<i>_<member overrides>``, or
    ``ensemble.member_dirs``. A member's overrides are the ensemble's (less ``ensemble.*``) with its own values
    in place of the ones given there, and appended where they differ from the ensemble's config."""
    n = ens.n_members
    if n == 1:
        return [MemberSpec(0, "", cfg, list(overrides), run_dir)]
    given = {key: list(cfg.ensemble[key]) for key in MEMBER_KEYS if cfg.ensemble[key] is not None}
    if "seeds" not in given:
        given["seeds"] = [cfg.seed] * n if given else [cfg.seed + i for i in range(n)]
    inherited = [o for o in overrides if not o.startswith("ensemble.")]
    specs = []
    for i in range(n):
        member = copy.deepcopy(cfg)
        values = {MEMBER_KEYS[key]: given[key][i] for key in MEMBER_KEYS if key in given}
        for key in member.seeds:
            if not OmegaConf.is_interpolation(member.seeds, key):
                member.seeds[key] += values["seed"] - cfg.seed
        for key, value in values.items():
            OmegaConf.update(member, key, value)
        member.ensemble = {key: 1 if key == "size" else None for key in cfg.ensemble}
        name = f"{i}_{','.join(f'{key}={value}' for key, value in values.items())}"
        dirs = cfg.ensemble.member_dirs
        specs.append(MemberSpec(i, name, member, member_overrides(inherited, values, cfg),
                                RunDir(dirs[i]) if dirs is not None else run_dir.member(name)))
    return specs


def member_overrides(inherited: list[str], values: dict, cfg: DictConfig) -> list[str]:
    """``inherited`` with ``key=value`` for each of a member's ``values``: in place of an override of that key,
    else appended when it differs from ``cfg``'s (the overrides that make the member's own run)."""
    out = list(inherited)
    for key, value in values.items():
        override = f"{key}={value}"
        index = next((i for i, o in enumerate(out) if o.split("=", 1)[0] == key), None)
        if index is not None:
            out[index] = override
        elif value != OmegaConf.select(cfg, key):
            out.append(override)
    return out


def is_ensemble(resolved: dict) -> bool:
    """Whether a resolved config trains several members: its run dir is the ensemble's (or a pack's), and its
    members' dirs are the runs."""
    ens = resolved.get("ensemble") or {}
    return ens.get("size", 1) > 1 or any(ens.get(key) for key in EnsembleConfig.LISTS)


def check_supported(config: Config) -> None:
    """What ensembles do not do (yet), as one-line errors."""
    run = config.run
    require(not run.compile, "compile", run.compile, "not supported with ensembles: use compile=false")
    require(not config.run.ensemble.weight_decay or config.optimizer.name == "adamw", "ensemble.weight_decay",
            config.run.ensemble.weight_decay, "needs optimizer=adamw (per-member decoupled decay)")
