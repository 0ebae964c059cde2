"""``grokscope-collect``: one tidy table (and plots) from the run dirs of runs and sweeps.

    grokscope-collect multirun/2026-11-22/10-00-00                  # -> runs.csv, runs_by_setting.csv
    grokscope-collect multirun/... --plot test/acc --x task.frac_train          # lines with seed bands
    grokscope-collect multirun/... --plot test/acc --x task.frac_train --y optimizer.weight_decay  # heatmap

In a notebook: ``from grokscope.analysis.collect import collect, aggregate``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml


def is_seed_key(key: str) -> bool:
    """``seed`` and every ``seeds.*`` key: what a setting is averaged over."""
    return key == "seed" or key.startswith("seeds.")


def find_run_dirs(paths) -> list[Path]:
    """Every directory under ``paths`` that Hydra ran a job in (it holds ``.hydra/config.yaml``); a path
    with none is named on stderr and skipped."""
    found: set[Path] = set()
    for path in map(Path, paths):
        dirs = {p.parent.parent for p in path.rglob(".hydra/config.yaml")}
        if not dirs:
            print(f"grokscope-collect: no run dirs under {path}", file=sys.stderr)
        found |= dirs
    return sorted(found)


def flatten(tree: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}} -> {"a.b": 1}``; lists become strings so that they can be compared and grouped."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value) if isinstance(value, list) else value
    return out


def run_config(run_dir: Path, summary: dict | None = None) -> dict:
    """The config of a run: the resolved one in ``summary`` (``summary.json``), else ``.hydra/config.yaml``
    (``FileNotFoundError`` if neither)."""
    return (summary or {}).get("config") or yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())


def _run_row(run_dir: Path) -> dict | None:
    summary_path = run_dir / "summary.json"
    try:
        summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        print(f"grokscope-collect: skipping {summary_path}: unreadable ({err})", file=sys.stderr)
        return None
    if "members" in summary:  # an ensemble's own dir: its members are the runs
        return None
    config = run_config(run_dir, summary)
    overrides_path = run_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_path.read_text()) if overrides_path.exists() else []
    row = {"run_dir": str(run_dir), "status": summary.get("status", "unfinished"),
           "epochs": summary.get("epochs"), "overrides": ",".join(overrides or [])}
    row.update({f"config.{k}": v for k, v in flatten(config).items()})
    row.update({f"grok_epoch/{k}": v for k, v in (summary.get("grok_epochs") or {}).items()})
    row.update({k: v for k, v in (summary.get("final") or {}).items() if k != "epoch"})
    return row


def collect(paths) -> pd.DataFrame:
    """One row per run: run dir, status, the config values that vary between runs (``config.*``), the
    grokking epochs and the final metrics."""
    runs = pd.DataFrame([row for d in find_run_dirs(paths) if (row := _run_row(d)) is not None])
    if runs.empty:
        return runs
    config_cols = [c for c in runs.columns if c.startswith("config.")]
    varying = [c for c in config_cols if runs[c].astype(str).nunique() > 1]
    runs = runs.drop(columns=[c for c in config_cols if c not in varying])
    return runs.rename(columns={c: c.removeprefix("config.") for c in varying})


def setting_keys(runs: pd.DataFrame) -> list[str]:
    """The varying config keys of a collected table, seeds excluded."""
    fixed = {"run_dir", "status", "epochs", "overrides"}
    metrics = {c for c in runs.columns if "/" in c}
    return [c for c in runs.columns if c not in fixed | metrics and not is_seed_key(c)]


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and n over seeds of every numeric metric, per setting of the other varying keys
    (completed runs only)."""
    done = runs[runs["status"] == "completed"]
    metrics = [c for c in done.columns if "/" in c and pd.api.types.is_numeric_dtype(done[c])]
    keys = setting_keys(runs)
    if not keys:
        done = done.assign(setting="all")
        keys = ["setting"]
    table = done.groupby(keys, dropna=False)[metrics].agg(["mean", "std", "count"])
    table.columns = [f"{m}:{stat.replace('count', 'n')}" for m, stat in table.columns]
    return table.reset_index()


def plot(runs: pd.DataFrame, metric: str, x: str, y: str | None, path: Path) -> None:
    """``metric`` against ``x`` (mean line with a ±1 std band over seeds; one line per other setting),
    or a heatmap of the mean over ``x`` and ``y``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = runs[runs["status"] == "completed"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if y is None:
        others = [k for k in setting_keys(runs) if k != x]
        for label, part in done.groupby(others, dropna=False) if others else [("", done)]:
            stats = part.groupby(x)[metric].agg(["mean", "std"]).fillna(0.0).sort_index()
            ax.plot(stats.index, stats["mean"], marker="o", label=str(label) if others else None)
            ax.fill_between(stats.index, stats["mean"] - stats["std"], stats["mean"] + stats["std"], alpha=0.2)
        ax.set(xlabel=x, ylabel=metric)
        if others:
            ax.legend(title=", ".join(others), fontsize="small")
    else:
        grid = done.pivot_table(index=y, columns=x, values=metric, aggfunc="mean").sort_index()
        mesh = ax.imshow(grid.to_numpy(), origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(grid.shape[1]), [str(v) for v in grid.columns])
        ax.set_yticks(range(grid.shape[0]), [str(v) for v in grid.index])
        ax.set(xlabel=x, ylabel=y)
        fig.colorbar(mesh, ax=ax, label=f"mean {metric}")
    ax.set_title(f"{metric} ({len(done)} runs)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="run dirs, sweep dirs, outputs/ or multirun/")
    parser.add_argument("--out", type=Path, default=None, help="where to write tables and plots (default: first path)")
    parser.add_argument("--plot", metavar="METRIC", help="metric column to plot, e.g. test/acc")
    parser.add_argument("--x", help="swept key on the x axis, e.g. task.frac_train")
    parser.add_argument("--y", help="second swept key: draw a heatmap")
    args = parser.parse_args(argv)
    runs = collect(args.paths)
    if runs.empty:
        parser.exit(1, f"grokscope-collect: error: no run dirs under {' '.join(args.paths)}\n")
    out = args.out or Path(args.paths[0])
    out.mkdir(parents=True, exist_ok=True)
    runs.to_csv(out / "runs.csv", index=False)
    aggregate(runs).to_csv(out / "runs_by_setting.csv", index=False)
    counts = runs["status"].value_counts().to_dict()
    print(f"{len(runs)} runs ({', '.join(f'{n} {s}' for s, n in counts.items())}) -> {out / 'runs.csv'}, "
          f"{out / 'runs_by_setting.csv'}")
    if args.plot:
        for key in filter(None, (args.plot, args.x, args.y)):
            if key not in runs.columns:
                parser.exit(2, f"grokscope-collect: error: {key!r} is not a column; columns: "
                               f"{', '.join(runs.columns)}\n")
        if args.x is None:
            parser.exit(2, "grokscope-collect: error: --plot needs --x (a swept key)\n")
        path = out / f"{args.plot.replace('/', '_')}_vs_{args.x}{'_' + args.y if args.y else ''}.png"
        plot(runs, args.plot, args.x, args.y, path)
        print(f"plot -> {path}")


if __name__ == "__main__":
    main()
