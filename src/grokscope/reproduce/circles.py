"""Ding et al. 2024, "Survival of the fittest representation" (arXiv 2405.17420): how many circles survive in
the embedding of ``experiment=circle_survival`` against the embedding dimension d, trained and frozen
(circle_survival.md §5-7, §9)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grokscope.figures import figure, png_bytes
from grokscope.metrics.phases import GROK_THRESHOLD
from grokscope.reproduce.plan import Plan, Sweep
from grokscope.reproduce.report import Claim, Findings
from grokscope.reproduce.runs import completed, grok_epoch, number
from grokscope.training.outputs import atomic_write_bytes

NAME = "circle_survival"
TITLE = "Ding et al. 2024: survival of the fittest representation"
#: what the cut scales leave for ``--scale paper`` (a GPU)
PAPER_SCALE = "the paper's 30,001 steps, d = 16-128 with 5 seeds, trained and frozen"
EXPERIMENT = "circle_survival"
FROZEN = ("intervention=freeze_embedding",)
#: the paper's run length (steps; circle_survival.md §3)
PAPER_STEPS = 30_001
#: the circle counts need the final embedding only: no snapshots, no dense early metrics
LEAN = ("snapshot_every_n_epochs=null", "metrics.dense_epochs=0")
TINY = (*LEAN, "task.p=11", "model.hidden=[16,16]", "max_epochs=60", "log_every_n_epochs=10",
        "metrics.every_n_epochs=20", "checkpoint_every_n_epochs=20")


#: the cpu scale's run length of the dimension sweeps (the d = 128 runs of ``paper_d`` run the paper's 30,001)
CPU_SWEEP_STEPS = 5001


def _sweeps(dims: tuple, seeds: tuple, overrides: tuple) -> tuple[Sweep, Sweep]:
    grid = {"model.d_embed": dims, "seed": seeds}
    return (Sweep("trained", EXPERIMENT, grid, overrides), Sweep("frozen", EXPERIMENT, grid, (*FROZEN, *overrides)))


def plan(scale: str) -> Plan:
    """``paper_d`` (below the paper scale): the paper's run at d = 128; ``trained``: d over 16-128 x seeds;
    ``frozen``: the same with the embedding frozen at its init."""
    if scale == "paper":
        return Plan(scale, _sweeps((16, 32, 48, 64, 96, 128), tuple(range(5)), LEAN))
    if scale == "cpu":
        return Plan(scale, (Sweep("paper_d", EXPERIMENT, {"model.d_embed": (128,), "seed": (0, 1)}, LEAN),
                            *_sweeps((16, 32, 64, 128), (0, 1), (*LEAN, f"max_epochs={CPU_SWEEP_STEPS}"))),
                    cuts=("the paper's setting (30,001 steps) at d = 128 with seeds 0 and 1 (the paper: 50 seeds)",
                          f"the dimension sweeps (trained and frozen): d = 16, 32, 64, 128 with seeds 0 and 1 for "
                          f"{CPU_SWEEP_STEPS:,} steps instead of 30,001 (the paper: d = 16-128 with 50 seeds, the "
                          "frozen study 5 seeds)"),
                    estimate="about 45 min on 2 cores")
    return Plan(scale, (Sweep("paper_d", EXPERIMENT, {"model.d_embed": (16,), "seed": (0,)}, TINY),
                        *_sweeps((8, 16), (0,), TINY)),
                cuts=("tiny: p = 11, MLP [16, 16], 60 steps",), estimate="about a minute")


def measure(runs: Path, scale_plan: Plan) -> Findings:
    """Per run: d, seed, the final circle count and frequencies, test accuracy; per d, trained and frozen:
    mean circles and accuracy (a figure of both against d, with the line d = p)."""
    findings = Findings()
    found = {name: sorted((_row(summary) for _, summary in completed(runs / name, findings)),
                          key=lambda r: (r["d"], r["seed"])) for name in ("paper_d", "trained", "frozen")}
    for name, rows in found.items():
        caption = "The paper's run length" if name == "paper_d" else f"{name.capitalize()} embedding, d swept"
        findings.tables.append((caption, [{k: number(v) for k, v in row.items() if k != "p"} for row in rows]))
    sweeps = {name: found[name] for name in ("trained", "frozen")}
    if any(sweeps.values()):
        path = runs / "analysis" / "circles_vs_d.png"
        _plot(sweeps, path)
        findings.figures.append(("Final circles (trained) and test accuracy (trained and frozen) against d", path))
    findings.claims += _claims(found["paper_d"] or found["trained"], sweeps)
    return findings


def _row(summary: dict) -> dict:
    survivors = summary.get("circle_survivors") or []
    config = summary["config"]
    return {"d": config["model"]["d_embed"], "seed": config["seed"], "p": config["task"]["p"],
            "circles": summary["final"]["circles/n_circles"],
            "circles at": " ".join(str(c["freq"]) for c in survivors) or "-", "test grok": grok_epoch(summary),
            "steps": summary["epochs"],
            "final test acc": summary["final"]["test/acc"]}


def _by_d(rows: list[dict], key: str) -> dict[int, float]:
    return {d: float(np.mean([r[key] for r in rows if r["d"] == d])) for d in sorted({r["d"] for r in rows})}


def _plot(found: dict[str, list[dict]], path: Path) -> None:
    fig, (ax_circles, ax_acc) = figure((11, 4), 1, 2)
    trained = found["trained"]
    if trained:
        circles = _by_d(trained, "circles")
        ax_circles.plot(list(circles), list(circles.values()), marker="o", label="mean over seeds")
        ax_circles.scatter([r["d"] for r in trained], [r["circles"] for r in trained], alpha=0.4, s=14)
    for name, rows in found.items():
        if rows:
            acc = _by_d(rows, "final test acc")
            ax_acc.plot(list(acc), list(acc.values()), marker="o", label=name)
    p = next(r["p"] for rows in found.values() for r in rows)
    for ax in (ax_circles, ax_acc):
        ax.axvline(p, color="grey", lw=0.8, ls="--", label=f"d = p = {p}")
        ax.set(xlabel="embedding dimension d", xscale="log", xticks=sorted({r["d"] for rs in found.values()
                                                                            for r in rs}))
        ax.set_xticklabels([str(t) for t in ax.get_xticks()])
        ax.grid(alpha=0.3)
        ax.legend()
    ax_circles.set(ylabel="circles in the final embedding", title="trained embedding")
    ax_acc.set(ylabel="final test accuracy", title="trained vs frozen embedding", ylim=(-0.02, 1.02))
    atomic_write_bytes(path, png_bytes(fig))


def _measured_at(rows: list[dict]) -> str:
    dims, seeds = (", ".join(str(v) for v in sorted({r[k] for r in rows})) for k in ("d", "seed"))
    steps = ", ".join(f"{v:,}" for v in sorted({r["steps"] for r in rows}))
    return f"d = {dims}, seeds {seeds}, {steps} steps"


def _claims(headline: list[dict], found: dict[str, list[dict]]) -> list[Claim]:
    """``headline``: the runs at the paper's run length (the sweep's own at the paper and tiny scales);
    ``found``: the trained and frozen dimension sweeps. The trend of the circle count with d needs the paper's
    run length (a circle still decaying under weight decay is counted early): below it, "pending"."""
    claims = []
    trained, frozen = found["trained"], found["frozen"]
    if headline:
        circles, n_freqs = _by_d(headline, "circles"), (headline[0]["p"] - 1) // 2
        shown = ", ".join(f"d {d}: {c:g}" for d, c in circles.items())
        claims.append(Claim(
            "few circles survive", f"mean circles: {shown} (of {n_freqs} frequencies); per seed: "
            + ", ".join(f"seed {r['seed']} d {r['d']}: {r['circles']:g}" for r in headline),
            "only a few circles survive training", "abstract; Fig. of circle counts",
            "yes" if max(circles.values()) <= n_freqs / 3 else "no",
            "agrees when no d averages more than a third of the (p - 1) / 2 frequencies; every frequency a "
            "circle would be no survival of the fittest, so \"no\"", measured_at=_measured_at(headline)))
    if trained:
        circles = _by_d(trained, "circles")
        counts = list(circles.values())
        rising = "partly" if counts[-1] > counts[0] else "no"
        verdict = "yes" if all(a <= b for a, b in zip(counts, counts[1:])) else rising
        claims.append(Claim(
            "circles vs d", ", ".join(f"d {d}: {c:g}" for d, c in circles.items()),
            "more circles survive with a larger embedding dimension", "circle counts vs d",
            verdict if trained[0]["steps"] >= PAPER_STEPS else "pending",
            "yes: the mean never falls as d grows; partly: it is higher at the largest d than at the smallest"
            + ("" if trained[0]["steps"] >= PAPER_STEPS else f". No verdict at {trained[0]['steps']:,} of the "
               f"paper's {PAPER_STEPS:,} steps: a circle still decaying under weight decay is counted (would be "
               f"{verdict})"), measured_at=_measured_at(trained)))
    if frozen:
        p = frozen[0]["p"]
        acc = _by_d(frozen, "final test acc")
        good = [d for d, a in acc.items() if a >= GROK_THRESHOLD]
        claims.append(Claim(
            "frozen embedding", "final test accuracy by d: " + ", ".join(f"d {d}: {a:.2f}" for d, a in acc.items()),
            "a frozen random embedding generalises only when d is at least about p", "frozen-embedding study",
            "yes" if good and all(d >= p for d in good) and all(d in good for d in acc if d >= p) else "no",
            f"agrees when exactly the d >= p = {p} reach test accuracy {GROK_THRESHOLD} (seed mean)",
            measured_at=_measured_at(frozen)))
    return claims
