"""Zhong, Liu, Tegmark, Andreas 2023, "The clock and the pizza" (NeurIPS 2023): Model A (attention rate 0) and
Model B (attention rate 1), and the attention-rate x width phase diagram (pizza.md §4-6, §8)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from grokscope.analysis.phase_diagram import CIRCULARITY, DI, GS, phase_diagrams
from grokscope.reproduce.plan import Plan, Sweep
from grokscope.reproduce.report import Claim, Findings
from grokscope.reproduce.runs import completed, grok_epoch, number

NAME = "pizza"
TITLE = "Zhong et al. 2023: the clock and the pizza"
#: what the cut scales leave for ``--scale paper`` (a GPU)
PAPER_SCALE = ("20k epochs, attention rates 0-1 in steps of 0.05, widths 32-512, three seeds, circularity >= "
               "0.995")
EXPERIMENT = "pizza_2023"
ALPHAS = tuple(round(0.05 * i, 2) for i in range(21))
TINY = ("task.p=11", "model.n_heads=2", "max_epochs=40", "log_every_n_epochs=10", "metrics.every_n_epochs=20",
        "checkpoint_every_n_epochs=20")


def plan(scale: str) -> Plan:
    """``phase``: the attention rate swept against the width; Models A and B are its cells at d_model 128 and
    attention rate 0 and 1 (``pizza_model_a`` / ``pizza_model_b`` are those settings)."""
    if scale == "paper":
        return Plan(scale, (Sweep("phase", EXPERIMENT, {"model.attention_rate": ALPHAS,
                                                         "model.d_model": (32, 64, 128, 256, 512),
                                                         "seed": (0, 1, 2)}),))
    if scale == "cpu":
        return Plan(scale, (Sweep("phase", EXPERIMENT, {"model.attention_rate": (0, 0.5, 1),
                                                         "model.d_model": (32, 64, 128), "seed": (0,)},
                                  ("max_epochs=3000",)),),
                    cuts=("3000 epochs instead of 20k",
                          "attention rates 0, 0.5, 1 and widths 32, 64, 128 with one seed (the paper's diagrams: "
                          "attention rates over [0, 1] and widths 32-512, many seeds)"))
    return Plan(scale, (Sweep("phase", EXPERIMENT, {"model.attention_rate": (0, 1), "model.d_model": (16, 32),
                                                     "seed": (0,)}, TINY),),
                cuts=("tiny: p = 11, 40 epochs",))


def measure(runs: Path, scale_plan: Plan) -> Findings:
    """Per run: attention rate, width, gradient symmetricity, distance irrelevance (both variants) and
    circularity; Models A and B; the phase diagrams of the circular runs (all runs below the paper scale, whose
    short runs rarely reach the paper's circularity 0.995)."""
    findings = Findings()
    rows = sorted((_row(summary) for _, summary in completed(runs / "phase", findings)),
                  key=lambda r: (r["d_model"], r["attention rate"], r["seed"]))
    findings.tables.append(("Runs", [{k: number(v) for k, v in row.items()} for row in rows]))
    min_circularity = 0.995 if scale_plan.scale == "paper" else 0.0
    if rows and any(row["circularity"] >= min_circularity for row in rows):
        table = pd.DataFrame([{"status": "completed", "model.attention_rate": r["attention rate"],
                               "model.d_model": r["d_model"], GS: r["gradient symmetricity"],
                               DI["correct"]: r["distance irrelevance"], CIRCULARITY: r["circularity"]}
                              for r in rows])
        for path in phase_diagrams(table, runs / "phase" / "analysis", min_circularity=min_circularity):
            findings.figures.append((f"Phase diagram ({path.stem}), runs with circularity >= {min_circularity}",
                                     path))
    findings.claims += _claims(rows)
    return findings


def _row(summary: dict) -> dict:
    model, final = summary["config"]["model"], summary["final"]
    return {"attention rate": model["attention_rate"], "d_model": model["d_model"], "seed": summary["config"]["seed"],
            "test grok": grok_epoch(summary), "gradient symmetricity": final[GS],
            "distance irrelevance": final[DI["correct"]], "DI (max wrong)": final[DI["max_wrong"]],
            "circularity": final[CIRCULARITY]}


def _cell(rows: list[dict], alpha: float, width: int) -> dict | None:
    return next((r for r in rows if r["attention rate"] == alpha and r["d_model"] == width), None)


def _claims(rows: list[dict]) -> list[Claim]:
    claims = []
    a, b = _cell(rows, 0, 128), _cell(rows, 1, 128)
    if a and b:
        shown = "GS {gradient symmetricity:.3f}, DI {distance irrelevance:.3f}"
        claims.append(Claim(
            "Model A (attention rate 0)", shown.format(**a), "pizza: gradient symmetricity near 1, low distance "
            "irrelevance", "§4", "yes" if a["gradient symmetricity"] > b["gradient symmetricity"]
            and a["distance irrelevance"] < b["distance irrelevance"] else "no",
            "judged against Model B: higher gradient symmetricity and lower distance irrelevance"))
        claims.append(Claim(
            "Model B (attention rate 1)", shown.format(**b), "clock: lower gradient symmetricity, distance "
            "irrelevance near 1", "§4", ("yes" if b["distance irrelevance"] >= 0.8 else "partly")
            if b["distance irrelevance"] > a["distance irrelevance"]
            and b["gradient symmetricity"] < a["gradient symmetricity"] else "no",
            "yes: lower gradient symmetricity and higher distance irrelevance than Model A, and distance "
            "irrelevance at least 0.8 (near 1); partly: only the first"))
    widths = sorted({r["d_model"] for r in rows})
    ends = [(w, _cell(rows, 0, w), _cell(rows, 1, w)) for w in widths]
    ends = [(w, lo, hi) for w, lo, hi in ends if lo and hi]
    if ends:
        rising = [w for w, lo, hi in ends if hi["distance irrelevance"] > lo["distance irrelevance"]]
        claims.append(Claim(
            "attention rate", "distance irrelevance at attention rate 0 -> 1: " + ", ".join(
                f"d {w}: {lo['distance irrelevance']:.2f} -> {hi['distance irrelevance']:.2f}" for w, lo, hi in ends),
            "low attention rates give pizzas, high ones clocks", "§5, phase diagrams",
            "yes" if len(rising) == len(ends) else ("partly" if rising else "no"),
            "agrees where distance irrelevance is higher at attention rate 1 than at 0, width by width"))
    middle = [(w, _cell(rows, 0.5, w)) for w in widths]
    middle = [(w, r) for w, r in middle if r]
    if len(middle) > 1:
        gs, di = ([r[key] for _, r in middle] for key in ("gradient symmetricity", "distance irrelevance"))
        agree = [all(x <= y for x, y in zip(gs, gs[1:])), all(x >= y for x, y in zip(di, di[1:]))]
        claims.append(Claim(
            "width", "at attention rate 0.5, GS / DI by width: " + ", ".join(
                f"d {w}: {r['gradient symmetricity']:.2f} / {r['distance irrelevance']:.2f}" for w, r in middle),
            "wider models stay pizza-like up to higher attention rates", "§5, width phase diagram",
            {2: "yes", 1: "partly", 0: "no"}[sum(agree)],
            "yes when, at attention rate 0.5, gradient symmetricity never falls and distance irrelevance never "
            "rises with the width; partly when one of the two holds (one seed per width below the paper scale)"))
    if rows:
        circular = [r for r in rows if r["circularity"] >= 0.995]
        claims.append(Claim(
            "circular runs", f"{len(circular)} of {len(rows)} runs have circularity >= 0.995",
            "only a minority of runs are circular at 0.995", "§5 (phase-diagram selection)", "n/a",
            "a count, not compared: the paper's runs are 20k epochs long"))
    return claims
