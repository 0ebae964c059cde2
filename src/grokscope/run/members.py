"""The members of a run: one for a single run, K for ``ensemble.size=K`` (or a list of seeds or decays).

    grokscope-train ensemble.size=8                       # seeds 0..7 -> <run_dir>/members/<i>_seed=<s>/
    grokscope-train ensemble.seeds=[3,5,8]
    grokscope-train ensemble.weight_decay=[0.3,1.0,3.0]   # one seed, three weight decays (adamw)

Member ``i`` of an ensemble is the run ``grokscope-train seed=s_i [optimizer.weight_decay=w_i]`` would make:
its config, split, initialisation, batches, metrics and its own complete run dir.
"""

from __future__ import annotations

import copy
import dataclasses

from omegaconf import DictConfig, OmegaConf

from grokscope.config import Config, EnsembleConfig, require
from grokscope.run.rundir import RunDir


@dataclasses.dataclass
class MemberSpec:
    """Member ``index``: its config, the command-line overrides that make it and its run dir."""

    index: int
    name: str
    cfg: DictConfig
    overrides: list[str]
    dir: RunDir


def member_specs(cfg: DictConfig, ens: EnsembleConfig, run_dir: RunDir, overrides: list[str]) -> list[MemberSpec]:
    """A single run is its own only member. An ensemble's members: seeds ``ensemble.seeds``, else ``seed``
    for every member of a weight-decay list, else ``seed + i``; every explicit ``seeds.*`` shifts with the
    member's seed (interpolated ones follow ``seed``). Member dirs: ``members/<i>_<member overrides>``."""
    n = ens.n_members
    if n == 1:
        return [MemberSpec(0, "", cfg, list(overrides), run_dir)]
    seeds = ens.seeds or ([cfg.seed] * n if ens.weight_decay else [cfg.seed + i for i in range(n)])
    decays = ens.weight_decay or [None] * n
    inherited = [o for o in overrides if not o.startswith("ensemble.")]
    specs = []
    for i, (seed, wd) in enumerate(zip(seeds, decays)):
        member = copy.deepcopy(cfg)
        for key in member.seeds:
            if not OmegaConf.is_interpolation(member.seeds, key):
                member.seeds[key] += seed - cfg.seed
        member.seed = seed
        own = [f"seed={seed}"]
        if wd is not None:
            member.optimizer.weight_decay = wd
            own.append(f"optimizer.weight_decay={wd}")
        member.ensemble = {"size": 1, "seeds": None, "weight_decay": None}
        name = f"{i}_{','.join(own)}"
        specs.append(MemberSpec(i, name, member, [*inherited, *own], run_dir.member(name)))
    return specs


def check_supported(config: Config) -> None:
    """What ensembles do not do (yet), as one-line errors."""
    run = config.run
    require(not run.compile, "compile", run.compile, "not supported with ensembles: use compile=false")
    require(not config.run.ensemble.weight_decay or config.optimizer.name == "adamw", "ensemble.weight_decay",
            config.run.ensemble.weight_decay, "needs optimizer=adamw (per-member decoupled decay)")
