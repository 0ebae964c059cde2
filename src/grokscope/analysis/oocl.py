"""Collect an OOCL sweep (oocl.md §1): one row per run, one row per (objective, holdouts) over seeds, one plot.

    python -m grokscope.analysis.oocl multirun/2026-11-22/10-00-00 [--out docs]

Reads every ``*/summary.json`` under the sweep directory and writes ``oocl_runs.csv``, ``oocl_summary.csv``,
``oocl_summary.md`` and ``oocl_sweep.png``. A run *generalises* on a table when its final held-out accuracy
reaches :data:`~grokscope.training.callbacks.GROK_THRESHOLD`.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from grokscope.run.rundir import RunDir  # noqa: E402
from grokscope.training.callbacks import GROK_THRESHOLD  # noqa: E402

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


def summarize(runs: list[dict]) -> list[dict]:
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


def write_csv(rows: list[dict], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def markdown_table(rows: list[dict]) -> str:
    """A GitHub markdown table; floats with 3 decimals."""
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()] for row in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells]) + "\n"


def plot_sweep(runs: list[dict], path: Path) -> None:
    """Final table-1 held-out accuracy against the holdout fraction, per objective (line: mean over seeds,
    dots: seeds); right, for (1,1,1), the held-out table-1 cells split by whether their alias cell is trained."""
    fig, (ax_k, ax_alias) = plt.subplots(1, 2, figsize=(11, 4))
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
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="output directory (default: the sweep dir)")
    args = parser.parse_args(argv)
    out = args.out or args.sweep_dir
    runs = load_runs(args.sweep_dir)
    if not runs:
        raise SystemExit(f"no OOCL summary.json under {args.sweep_dir}")
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(runs)
    write_csv(runs, out / "oocl_runs.csv")
    write_csv(summary, out / "oocl_summary.csv")
    (out / "oocl_summary.md").write_text(markdown_table(summary))
    plot_sweep(runs, out / "oocl_sweep.png")
    print(markdown_table(summary))


if __name__ == "__main__":
    main()
