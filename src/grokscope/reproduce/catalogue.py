"""The reproductions, by name, and the one function that runs one and writes its report."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grokscope.reproduce import chughtai, circles, nanda, oocl, pizza, prieto
from grokscope.reproduce.plan import Plan
from grokscope.reproduce.report import Findings, smoke_test, write_report, write_summary
from grokscope.reproduce.runner import run_sweeps


@dataclass(frozen=True)
class Reproduction:
    """A paper's reproduction: its sweeps at a scale (``plan``), what it reads from their run dirs
    (``measure(runs, plan)``) and what the cut scales leave pending (``paper_scale``)."""

    name: str
    title: str
    paper_scale: str
    plan: Callable[[str], Plan]
    measure: Callable[[Path, Plan], Findings]


REPRODUCTIONS = {m.NAME: Reproduction(m.NAME, m.TITLE, m.PAPER_SCALE, m.plan, m.measure)
                 for m in (nanda, chughtai, pizza, circles, oocl, prieto)}


def reproduce(name: str, scale: str, runs: Path, out: Path, jobs: int = 1, train: bool = True) -> Path:
    """Run the sweeps of reproduction ``name`` at ``scale`` into ``runs`` (unless not ``train``: the report from
    the runs there), write ``out/<name>.md`` and refresh ``out/README.md``; return the report's path."""
    reproduction = REPRODUCTIONS[name]
    plan = reproduction.plan(scale)
    start = time.monotonic()
    if train:
        print(f"reproduce: {name} --scale {scale}: {sum(s.size for s in plan.sweeps)} runs in {len(plan.sweeps)} "
              f"sweeps, {plan.estimate} (finished runs are skipped, interrupted ones resumed)", flush=True)
        run_sweeps(plan, runs, jobs)
    findings = reproduction.measure(runs, plan)
    if scale == "tiny":
        findings.claims = smoke_test(findings.claims)
    if scale != "paper":
        findings.pending.append(f"the original scale ({reproduction.paper_scale}): `grokscope-reproduce {name} "
                                "--scale paper`, on a GPU")
    commands = [f"grokscope-reproduce {name} --scale {scale} --runs {runs} --out {out}"
                + (f" --jobs {jobs}" if jobs > 1 else ""),
                "# which runs:", *(sweep.shown(runs, jobs) for sweep in plan.sweeps)]
    path = write_report(name, reproduction.title, plan, findings, commands, out, time.monotonic() - start)
    write_summary(out)
    return path
