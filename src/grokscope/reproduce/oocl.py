"""The out-of-context alias task of ancri/mechinterp (oocl.md): does training on the alias table and the
linkages, (k1, k2, k3) = (1, 1, 1), generalise where table 1 alone, (1, 0, 0), does not?"""

from __future__ import annotations

from pathlib import Path

from grokscope.analysis.oocl import aggregate, load_runs, write_report
from grokscope.reproduce.plan import Plan, Sweep
from grokscope.reproduce.report import Claim, Findings
from grokscope.reproduce.runs import completed

NAME = "oocl"
TITLE = "Out-of-context learning: the alias-table weighting comparison"
#: what the cut scales leave for ``--scale paper`` (a GPU: 50k steps over a table of two million rows)
PAPER_SCALE = "p = 997, 50k steps of 256 rows, h1 = h2 = 0.6, (1,0,0) (1,1,0) (1,1,1)"
WEIGHTS = ("k100", "k110", "k111")


def plan(scale: str) -> Plan:
    """``weights``: the three objectives x holdout fractions x seeds (``+oocl_weights``)."""
    if scale == "paper":
        return Plan(scale, (Sweep("weights", "oocl", {"+oocl_weights": WEIGHTS, "seed": (0,)}),))
    if scale == "cpu":
        return Plan(scale, (Sweep("weights", "oocl_small", {"+oocl_weights": WEIGHTS,
                                                            "task.holdout1": (0.6, 0.7, 0.8), "seed": (0,)}),),
                    cuts=("experiment=oocl_small: p = 23 instead of 997, d_model 64, full batch, lr 3e-3 with "
                          "weight decay 1.0, 3000 steps (the repository: p = 997, d_model 128 with heads of "
                          "d_head 128, batches of 256, lr 1.4e-3, weight decay 0.1, 50k steps)",
                          "holdouts 0.6, 0.7, 0.8 (h1 = h2) and seed 0 (the repository's final sweep: "
                          "h1 = h2 = 0.6, one model per objective)"),
                    estimate="about 10 min on 2 cores")
    return Plan(scale, (Sweep("weights", "tiny_oocl", {"+oocl_weights": ("k100", "k111"), "seed": (0,)}),),
                cuts=("tiny: experiment=tiny_oocl (p = 7, 150 steps)",), estimate="about a minute")


def measure(runs: Path, scale_plan: Plan) -> Findings:
    """Final held-out accuracy of table 1 by objective and holdout over seeds (:mod:`grokscope.analysis.oocl`),
    its plot, and the answer to the question above."""
    findings = Findings()
    completed(runs / "weights", findings)
    rows = aggregate(load_runs(runs / "weights")) if (runs / "weights").is_dir() else []
    findings.tables.append(("Table 1, held-out cells: final accuracy by objective and holdout", rows))
    if rows:
        out = runs / "weights" / "analysis"
        write_report(runs / "weights", out)
        findings.figures.append(("Final held-out accuracy of table 1 by objective and holdout", out / "oocl_sweep.png"))
        findings.claims += _claims(rows)
    return findings


def _claims(rows: list[dict]) -> list[Claim]:
    def generalised(row):
        done, total = map(int, row["generalised"].split("/"))
        return done == total

    by = {(row["holdout1"], row["k"]): row for row in rows}
    separating = [h for (h, k), row in by.items() if k == "(1,1,1)" and generalised(row)
                  and (h, "(1,0,0)") in by and not generalised(by[(h, "(1,0,0)")])]
    shown = "; ".join(f"h {row['holdout1']:g} k {row['k']}: {row['holdout1_acc_mean']:.2f}" for row in rows)
    return [Claim("table-1 held-out accuracy", shown, "not stated (a repository without a paper)", "not stated",
                  "n/a"),
            Claim("does the alias table help?", "holdouts where (1,1,1) generalises and (1,0,0) does not: "
                  + (", ".join(f"{h:g}" for h in separating) or "none"),
                  "the question the repository's final sweep asks (h1 = h2 = 0.6); no answer stated", "not stated",
                  "n/a")]
