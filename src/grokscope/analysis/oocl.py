"""An OOCL sweep (oocl.md §1): one row per run, one row per (objective, holdouts) over seeds, one plot.

Reads every ``*/summary.json`` under the sweep directory; :func:`write_report` writes ``oocl_runs.csv``,
``oocl_summary.csv``, ``oocl_summary.md`` and ``oocl_sweep.png``. A run *generalises* on a table when its final
held-out accuracy reaches :data:`~grokscope.metrics.phases.GROK_THRESHOLD`.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from grokscope.analysis.tables import csv_bytes, markdown_table
from grokscope.config import require
from grokscope.figures import figure, png_bytes
from grokscope.run.rundir import RunDir
from grokscope.training.callbacks import GROK_THRESHOLD
from grokscope.training.outputs import atomic_write_bytes

#: Final metrics copied from each run's summary.
FINAL_KEYS = ("train1/acc", "holdout1/acc", "holdout1/loss", "holdout2/acc", "holdout1_alias_seen/acc",
              "holdout1_alias_unseen/acc")


def load_runs(sweep_dir: Path) -> list[dict]:
    """One row per completed OOCL run under ``sweep_dir``: settings, seed, epochs and the final metrics."""
    runs = []
    for path in sorted(sweep_dir.glob("**/summary.json")):
        summary = RunDir(path.parent).summary()
        if summary is None or summary.get("status") != "completed" or "final" not in summary:
            continue  # unreadable, failed, unfinished, or an ensemble's own dir (its members are the runs)
        task = summary["config"]["task"]
        if task["name"] != "oocl":
            continue
        runs.append({
            "run": path.parent.name, "op": task["op"], "p": task["p"], "holdout1": task["holdout1"],
            "holdout2": task["holdout2"], "k": f"({task['k1']:g},{task['k2']:g},{task['k3']:g})",
            "seed": summary["config"]["seed"], "epochs": summary["epochs"],
            **{key: summary["final"][key] for key in FINAL_KEYS},
            "grok_epoch1": summary["grok_epochs"]["holdout1"],
        })
    return sorted(runs, key=lambda r: (r["holdout1"], r["holdout2"], r["k"], r["seed"]))


def aggregate(runs: list[dict]) -> list[dict]:
    """Per (op, p, objective, holdouts): seeds, mean/min/max final table-1 held-out accuracy, and how many
    seeds generalise on table 1."""
    groups = defaultdict(list)
    for run in runs:
        groups[(run["op"], run["p"], run["k"], run["holdout1"], run["holdout2"])].append(run)
    rows = []
    for (op, p, k, h1, h2), members in sorted(groups.items(), key=lambda kv: (kv[0][3], kv[0][4], kv[0][2])):
        acc = np.array([m["holdout1/acc"] for m in members])
        rows.append({
            "op": op, "p": p, "holdout1": h1, "holdout2": h2, "k": k,
            "seeds": " ".join(str(m["seed"]) for m in sorted(members, key=lambda m: m["seed"])),
            "holdout1_acc_mean": acc.mean(), "holdout1_acc_min": acc.min(), "holdout1_acc_max": acc.max(),
            "alias_seen_acc_mean": np.mean([m["holdout1_alias_seen/acc"] for m in members]),
            "alias_unseen_acc_mean": np.mean([m["holdout1_alias_unseen/acc"] for m in members]),
            "generalised": f"{int((acc >= GROK_THRESHOLD).sum())}/{len(acc)}",
        })
    return rows


def plot_sweep(runs: list[dict], path: Path) -> None:
    """Final table-1 held-out accuracy against the holdout fraction, per objective (line: mean over seeds,
    dots: seeds); right, for (1,1,1), the held-out table-1 cells split by whether their alias cell is trained."""
    fig, (ax_k, ax_alias) = figure((11, 4), 1, 2)
    for k in sorted({r["k"] for r in runs}):
        mine = [r for r in runs if r["k"] == k]
        hs = sorted({r["holdout1"] for r in mine})
        means = [np.mean([r["holdout1/acc"] for r in mine if r["holdout1"] == h]) for h in hs]
        (line,) = ax_k.plot(hs, means, marker="o", label=f"k = {k}")
        ax_k.scatter([r["holdout1"] for r in mine], [r["holdout1/acc"] for r in mine], color=line.get_color(),
                     alpha=0.4, s=14)
    linked = [r for r in runs if r["k"] == "(1,1,1)"]
    for key, label in (("holdout1_alias_seen/acc", "alias cell trained"),
                       ("holdout1_alias_unseen/acc", "alias cell held out")):
        hs = sorted({r["holdout1"] for r in linked})
        ax_alias.plot(hs, [np.mean([r[key] for r in linked if r["holdout1"] == h]) for h in hs], marker="o",
                      label=label)
    ax_k.set(title="table 1, held-out cells", ylabel="final accuracy")
    ax_alias.set(title="k = (1,1,1): held-out table-1 cells")
    for ax in (ax_k, ax_alias):
        ax.set(xlabel="held-out fraction (h1 = h2)", ylim=(-0.02, 1.02))
        ax.axhline(GROK_THRESHOLD, color="grey", lw=0.8, ls="--")
        ax.grid(alpha=0.3)
        ax.legend()
    atomic_write_bytes(path, png_bytes(fig))


def write_report(sweep_dir: Path, out: Path) -> str:
    """Write ``oocl_runs.csv``, ``oocl_summary.csv``, ``oocl_summary.md`` and ``oocl_sweep.png`` of the OOCL runs
    under ``sweep_dir`` into ``out``; return the markdown table. :class:`~grokscope.config.ConfigError` naming
    ``sweep_dir`` when it holds no completed OOCL run."""
    runs = load_runs(sweep_dir)
    require(bool(runs), "sweep_dir", str(sweep_dir), "must hold completed runs of task=oocl (their summary.json)")
    by_setting = aggregate(runs)
    table = markdown_table(by_setting)
    atomic_write_bytes(out / "oocl_runs.csv", csv_bytes(runs))
    atomic_write_bytes(out / "oocl_summary.csv", csv_bytes(by_setting))
    atomic_write_bytes(out / "oocl_summary.md", table.encode())
    plot_sweep(runs, out / "oocl_sweep.png")
    return table
