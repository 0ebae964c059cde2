"""Ding et al. 2024, "Survival of the fittest representation" (arXiv 2405.17420): how many circles survive in
the embedding of ``experiment=circle_survival`` against the embedding dimension d, trained and frozen
(circle_survival.md §5-7, §9)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grokscope.figures import figure, png_bytes
from grokscope.reproduce.plan import Plan, Sweep
from grokscope.reproduce.report import Claim, Findings
from grokscope.reproduce.runs import completed, grok_epoch, number
from grokscope.training.callbacks import GROK_THRESHOLD
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


def _sweeps(dims: tuple, seeds: tuple, overrides: tuple) -> tuple[Sweep, Sweep]:
    grid = {"model.d_embed": dims, "seed": seeds}
    return (Sweep("trained", EXPERIMENT, grid, overrides), Sweep("frozen", EXPERIMENT, grid, (*FROZEN, *overrides)))


def plan(scale: str) -> Plan:
    """``trained``: d over 16-128 x seeds; ``frozen``: the same with the embedding frozen at its init."""
    if scale == "paper":
        return Plan(scale, _sweeps((16, 32, 48, 64, 96, 128), tuple(range(5)), LEAN))
    if scale == "cpu":
        return Plan(scale, _sweeps((16, 32, 64, 128), (0, 1), (*LEAN, "max_epochs=5001")),
                    cuts=("5001 steps instead of 30,001", "d = 16, 32, 64, 128 with seeds 0 and 1 (the paper: "
                          "d = 16-128 with 50 seeds, the frozen study 5 seeds)"))
    return Plan(scale, _sweeps((8, 16), (0,), TINY), cuts=("tiny: p = 11, MLP [16, 16], 60 steps",))


def measure(runs: Path, scale_plan: Plan) -> Findings:
    """Per run: d, seed, the final circle count and frequencies, test accuracy; per d, trained and frozen:
    mean circles and accuracy (a figure of both against d, with the line d = p)."""
    findings = Findings()
    found = {name: sorted((_row(summary) for _, summary in completed(runs / name, findings)),
                          key=lambda r: (r["d"], r["seed"])) for name in ("trained", "frozen")}
    for name, rows in found.items():
        findings.tables.append((f"{name.capitalize()} embedding",
                                [{k: number(v) for k, v in row.items() if k != "p"}
                                 for row in rows]))
    if any(found.values()):
        path = runs / "analysis" / "circles_vs_d.png"
        _plot(found, path)
        findings.figures.append(("Final circles (trained) and test accuracy (trained and frozen) against d", path))
    findings.claims += _claims(found)
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


def _claims(found: dict[str, list[dict]]) -> list[Claim]:
    claims = []
    trained, frozen = found["trained"], found["frozen"]
    if trained:
        circles, n_freqs = _by_d(trained, "circles"), (trained[0]["p"] - 1) // 2
        shown = ", ".join(f"d {d}: {c:g}" for d, c in circles.items())
        claims.append(Claim(
            "few circles survive", f"mean circles per d: {shown} (of {n_freqs} frequencies)",
            "only a few circles survive training", "abstract; Fig. of circle counts",
            "yes" if max(circles.values()) <= n_freqs / 3 else "no",
            "agrees when no d averages more than a third of the (p - 1) / 2 frequencies"))
        counts = list(circles.values())
        rising = "partly" if counts[-1] > counts[0] else "no"
        claims.append(Claim(
            "circles vs d", shown, "more circles survive with a larger embedding dimension", "circle counts vs d",
            "yes" if all(a <= b for a, b in zip(counts, counts[1:])) else rising,
            "yes: the mean never falls as d grows; partly: it is higher at the largest d than at the smallest"
            + ("" if trained[0]["steps"] >= PAPER_STEPS else f". Two seeds per d and {trained[0]['steps']} of the "
               f"paper's {PAPER_STEPS} steps: a circle still decaying under weight decay may be counted, and "
               "one seed moves a mean by half a circle")))
    if frozen:
        p = frozen[0]["p"]
        acc = _by_d(frozen, "final test acc")
        good = [d for d, a in acc.items() if a >= GROK_THRESHOLD]
        claims.append(Claim(
            "frozen embedding", "final test accuracy by d: " + ", ".join(f"d {d}: {a:.2f}" for d, a in acc.items()),
            "a frozen random embedding generalises only when d is at least about p", "frozen-embedding study",
            "yes" if good and all(d >= p for d in good) and all(d in good for d in acc if d >= p) else "no",
            f"agrees when exactly the d >= p = {p} reach test accuracy {GROK_THRESHOLD} (seed mean)"))
    return claims
