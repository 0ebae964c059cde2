"""One tidy table (and plots) from the run dirs of runs and sweeps (``grokscope-analyze collect``).

In a notebook: ``from grokscope.analysis.collect import collect, aggregate, curves, curve_bands``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd

from grokscope.config import ConfigError, require
from grokscope.figures import figure, png_bytes
from grokscope.run.fingerprint import SETTING_FREE_KEYS, is_seed_key, setting_id
from grokscope.run.fingerprint import flatten as flat_keys
from grokscope.run.members import is_ensemble
from grokscope.run.rundir import RunDir
from grokscope.training.outputs import atomic_write_bytes

#: How the notes of :func:`collect` on stderr begin.
NAME = "collect"


def find_run_dirs(paths, quiet: bool = False) -> list[Path]:
    """Every directory under ``paths`` that Hydra ran a job in (it holds ``.hydra/config.yaml``); a path
    with none is named on stderr (unless ``quiet``) and skipped."""
    found, empty = _find_run_dirs(paths)
    for path in empty if not quiet else ():
        print(f"{NAME}: no run dirs under {path}", file=sys.stderr)
    return found


def _find_run_dirs(paths) -> tuple[list[Path], list[Path]]:
    """The run dirs under ``paths`` and the paths that hold none."""
    found: set[Path] = set()
    empty = []
    for path in map(Path, paths):
        dirs = {p.parent.parent for p in path.rglob(".hydra/config.yaml")}
        if not dirs:
            empty.append(path)
        found |= dirs
    return sorted(found), empty


def flatten(tree: dict) -> dict:
    """``{"a": {"b": 1}} -> {"a.b": 1}``; lists become strings so that they can be compared and grouped."""
    return {k: str(v) if isinstance(v, list) else v for k, v in flat_keys(tree).items()}


def read_summary(run_dir: Path) -> dict:
    """A run's ``summary.json`` (``{}`` before the run has written one); :class:`ConfigError` naming the file
    when it does not parse or holds something else."""
    return RunDir(run_dir).summary(strict=True) or {}


def run_config(run_dir: Path, summary: dict | None = None) -> dict:
    """The resolved config of a run: ``summary.json``'s ``config`` if there, else ``.hydra/config.yaml``. The
    recorded ``.hydra/config.yaml`` is read either way: one that does not parse raises :class:`ConfigError`
    naming it (the run dir cannot be trusted, as it cannot be resumed)."""
    summary = read_summary(run_dir) if summary is None else summary
    recorded = RunDir(run_dir).config(strict=True)
    return summary.get("config") or recorded or {}


def _run_row(run_dir: Path) -> dict | None:
    summary = read_summary(run_dir)
    config = run_config(run_dir, summary)
    if "members" in summary or is_ensemble(config):  # an ensemble's (or a pack's) own dir: its members are the runs
        return None
    row = {"run_dir": str(run_dir), "status": summary.get("status", "unfinished"),
           "epochs": summary.get("epochs"), "stopped": (summary.get("stopped") or {}).get("by"),
           "wall_time_s": summary.get("wall_time_s"), "overrides": ",".join(RunDir(run_dir).overrides()),
           "setting_id": setting_id(config),
           "_seeds": json.dumps({k: v for k, v in flatten(config).items() if is_seed_key(k)}, sort_keys=True)}
    row.update({f"config.{k}": v for k, v in flatten(config).items()})
    row.update({f"grok_epoch/{k}": v for k, v in (summary.get("grok_epochs") or {}).items()})
    row.update({f"phase/{k}": v for k, v in (summary.get("phases") or {}).items() if k != "reasons"})
    row.update({k: v for k, v in (summary.get("final") or {}).items() if k != "epoch"})
    return row


def time_line(runs: pd.DataFrame) -> str:
    """The runs' training time: epochs and wall seconds summed (an ensemble's members each count their process's
    whole time), and how many ended by their stop rule."""
    stopped = int((runs["stopped"] == "stop rule").sum()) if "stopped" in runs else 0
    epochs = int(runs["epochs"].fillna(0).sum())
    seconds = float(runs["wall_time_s"].fillna(0).sum()) if "wall_time_s" in runs else 0.0
    return f"training time: {epochs:,} epochs, {seconds:.1f} s summed over the runs; {stopped} ended by their stop rule"


def collect(paths, strict: bool = False) -> pd.DataFrame:
    """One row per run: run dir, status, the config values that vary between runs (``config.*``), the
    grokking epochs and the final metrics. Paths without run dirs and runs whose files do not parse are named
    on stderr and skipped; with ``strict`` (the command lines), finding no readable run raises
    :class:`ConfigError` (the first run's error, else one naming the paths) instead."""
    run_dirs, empty = _find_run_dirs(paths)
    rows, skipped = _rows(run_dirs)
    if strict and not rows:
        raise skipped[0] if skipped else ConfigError("paths", list(map(str, paths)),
                                                     "must hold run dirs (dirs with .hydra/config.yaml)")
    rows, repeats = _unique(rows)
    for message in ([f"no run dirs under {path}" for path in empty] + [f"skipping {err}" for err in skipped]
                    + [f"{row['run_dir']} repeats the setting and seeds of {kept} (counted once, as {kept})"
                       for row, kept in repeats]):
        print(f"{NAME}: {message}", file=sys.stderr)
    return _table(rows)


def _unique(rows: list[dict]) -> tuple[list[dict], list[tuple[dict, str]]]:
    """One row per setting and seeds (an ensemble member and a sweep job of the same setting and seed are one
    run: averaging both would count the seed twice): the completed row that ran the most epochs is kept. Returns
    the kept rows (in path order) and ``(repeated row, kept run dir)`` pairs."""
    best: dict[tuple[str, str], dict] = {}
    for row in rows:
        key = (row["setting_id"], row["_seeds"])
        rank = (row["status"] == "completed", row["epochs"] or 0)
        if key not in best or rank > (best[key]["status"] == "completed", best[key]["epochs"] or 0):
            best[key] = row
    kept = [row for row in rows if best[(row["setting_id"], row["_seeds"])] is row]
    repeats = [(row, best[(row["setting_id"], row["_seeds"])]["run_dir"]) for row in rows
               if best[(row["setting_id"], row["_seeds"])] is not row]
    return [{k: v for k, v in row.items() if k != "_seeds"} for row in kept], repeats


def _rows(run_dirs: list[Path]) -> tuple[list[dict], list[ConfigError]]:
    """The rows of the runs, and the errors of those whose files do not parse."""
    rows, skipped = [], []
    for run_dir in run_dirs:
        try:
            row = _run_row(run_dir)
        except ConfigError as err:
            skipped.append(err)
            continue
        if row is not None:
            rows.append(row)
    return rows, skipped


def _table(rows: list[dict]) -> pd.DataFrame:
    """The collected table: the config columns that vary, renamed without their ``config.`` prefix."""
    runs = pd.DataFrame(rows)
    if runs.empty:
        return runs
    config_cols = [c for c in runs.columns if c.startswith("config.")]
    varying = [c for c in config_cols if runs[c].astype(str).nunique() > 1]
    runs = runs.drop(columns=[c for c in config_cols if c not in varying])
    return runs.rename(columns={c: c.removeprefix("config.") for c in varying})


def setting_keys(runs: pd.DataFrame) -> list[str]:
    """The varying config keys of a collected table, seeds excluded."""
    fixed = {"run_dir", "status", "epochs", "stopped", "wall_time_s", "overrides", "setting_id"}
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
    return table.copy().reset_index()  # copy: one block per dtype (agg leaves one per column)


def check_plot(runs: pd.DataFrame, metric: str, x: str | None, y: str | None) -> None:
    """:class:`ConfigError` naming the flag unless ``metric`` and ``x`` are given and they and ``y`` (if given) are
    columns of ``runs``."""
    require(metric is not None, "--plot", metric, "--x and --y need --plot (a metric column)")
    require(x is not None, "--x", x, "--plot needs --x (a swept key)")
    for flag, key in (("--plot", metric), ("--x", x), ("--y", y)):
        require(key is None or key in runs.columns, flag, key, f"must be a column: {', '.join(runs.columns)}")
    done = runs[runs["status"] == "completed"]
    require(pd.to_numeric(done[metric], errors="coerce").notna().any(), "--plot", metric,
            "must have a value in at least one completed run (it is missing or NaN in every one: nothing to draw)")


def write_csv(table: pd.DataFrame, path: Path) -> Path:
    """``table`` as CSV without its index, written atomically; returns ``path``."""
    atomic_write_bytes(path, table.to_csv(index=False).encode())
    return path


def write_tables(runs: pd.DataFrame, out: Path) -> list[Path]:
    """``runs.csv`` (one row per run) and ``runs_by_setting.csv`` (:func:`aggregate`) in ``out``."""
    return [write_csv(runs, out / "runs.csv"), write_csv(aggregate(runs), out / "runs_by_setting.csv")]


def plot_path(out: Path, metric: str, x: str, y: str | None) -> Path:
    """Where :func:`plot` of ``metric`` against ``x`` (and ``y``) goes: ``<metric>_vs_<x>[_<y>].png``."""
    return out / f"{metric.replace('/', '_')}_vs_{x}{'_' + y if y else ''}.png"


def plot(runs: pd.DataFrame, metric: str, x: str, y: str | None, path: Path) -> None:
    """``metric`` against ``x`` (mean line with a ±1 std band over seeds; one line per other setting),
    or a heatmap of the mean over ``x`` and ``y``. Missing values (a run that never grokked) are left out: a
    setting none of whose runs has one draws no point."""
    done = runs[runs["status"] == "completed"]
    done = done.assign(**{metric: pd.to_numeric(done[metric], errors="coerce")})  # None in an object column -> NaN
    fig, ax = figure((7, 4.5))
    if y is None:
        others = [k for k in setting_keys(runs) if k != x]
        for label, part in done.groupby(others, dropna=False) if others else [("", done)]:
            stats = part.groupby(x)[metric].agg(["mean", "std"]).sort_index()
            stats["std"] = stats["std"].fillna(0.0)  # one seed: no band
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
    atomic_write_bytes(path, png_bytes(fig))


#: The columns of :func:`curves` besides the setting keys, in order.
CURVE_COLUMNS = ["setting_id", "seed", "run_dir", "epoch", "key", "value"]
#: What :func:`curve_bands` gives per setting, key and epoch (``n``: the seeds averaged).
BAND_STATS = ["mean", "std", "min", "max", "n"]


def curve_setting_keys(runs: pd.DataFrame) -> list[str]:
    """The keys that label a setting's curve: :func:`setting_keys` without the run-length and housekeeping keys
    that :func:`~grokscope.run.fingerprint.setting_id` ignores (a run extended to more epochs, or logged
    elsewhere, is the same setting)."""
    return [k for k in setting_keys(runs) if k.split(".")[0] not in SETTING_FREE_KEYS]


def read_history(run_dir) -> pd.DataFrame:
    """A run's ``metrics.csv`` (one row per logged epoch); empty before the run has logged anything;
    :class:`ConfigError` naming the file when it does not parse."""
    path = RunDir(run_dir).metrics_csv
    if not path.exists():
        return pd.DataFrame(columns=["epoch"])
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ConfigError(str(path), None, f"must be a CSV with an epoch column ({type(err).__name__})") from None


def check_logged(histories, keys) -> None:
    """:class:`ConfigError` naming ``--curves`` and the first of ``keys`` that none of ``histories`` logged,
    with a few keys that were."""
    logged = sorted(set().union(*(h.columns for h in histories)) - {"epoch"})
    for key in keys:
        require(key in logged, "--curves", key,
                f"no completed run logged it; logged keys include {', '.join(logged[:8]) or 'none'}")


def curves(runs, keys) -> pd.DataFrame:
    """``keys`` (scalar columns of ``metrics.csv``) over epochs, one row per completed run, key and logged
    epoch (long format): the setting keys that vary (:func:`curve_setting_keys`), ``setting_id`` (runs of one
    setting share it; they differ in their seeds only), ``seed``, ``run_dir``, ``epoch``, ``key``, ``value``.
    ``runs`` is the table of :func:`collect` or the paths to collect; :class:`ConfigError` naming ``--curves``
    when a key was logged by no completed run."""
    runs = runs if isinstance(runs, pd.DataFrame) else collect(runs, strict=True)
    done = runs[runs["status"] == "completed"]
    histories = [read_history(run_dir) for run_dir in done["run_dir"]]
    check_logged(histories, keys)
    labels = curve_setting_keys(runs)
    parts = [_run_curves(row, history, keys, labels) for (_, row), history in zip(done.iterrows(), histories)]
    return pd.concat(parts, ignore_index=True)[labels + CURVE_COLUMNS]


def _run_curves(row: pd.Series, history: pd.DataFrame, keys, labels: list[str]) -> pd.DataFrame:
    """The long-format rows of one run: the epochs at which it logged each of ``keys``."""
    present = [k for k in keys if k in history.columns]
    long = history.melt(id_vars="epoch", value_vars=present, var_name="key").dropna(subset=["value"])
    config = run_config(Path(row["run_dir"]))
    return long.assign(setting_id=setting_id(config), seed=config.get("seed"), run_dir=row["run_dir"],
                       **{k: row[k] for k in labels})


def curve_bands(long: pd.DataFrame) -> pd.DataFrame:
    """Per setting, key and epoch: ``mean``, ``std``, ``min``, ``max`` and ``n`` of :func:`curves`' values over
    the setting's seeds. The seeds are aligned on the epochs all of them logged the key at: a seed that ran
    longer (an extended run) is cut to the shared epochs, nothing is interpolated."""
    labels = [c for c in long.columns if c not in CURVE_COLUMNS]
    group = ["setting_id", "key"]
    seeds = long.groupby(group)["run_dir"].transform("nunique")
    seeds_at_epoch = long.groupby([*group, "epoch"])["run_dir"].transform("nunique")
    shared = long[seeds_at_epoch == seeds]
    bands = shared.groupby([*group, "epoch"])["value"].agg(["mean", "std", "min", "max", "count"])
    bands = bands.set_axis(BAND_STATS, axis=1).reset_index()
    names = long.drop_duplicates("setting_id")[[*labels, "setting_id"]]
    return names.merge(bands, on="setting_id")


def curves_path(out: Path, key: str) -> Path:
    """Where :func:`plot_curves` of ``key`` goes: ``curves_<key>.png``, the key made file-safe
    (``test/loss`` -> ``curves_test_loss.png``)."""
    return out / f"curves_{re.sub(r'[^A-Za-z0-9_.-]+', '_', key)}.png"


def setting_label(setting: pd.DataFrame, labels: list[str]) -> str:
    """``k=v, ...`` of the setting keys of one setting's rows (its ``setting_id`` when no key varies), and
    how many seeds its curve averages."""
    first = setting.iloc[0]
    name = ", ".join(f"{k}={first[k]}" for k in labels) or f"setting {first['setting_id']}"
    return f"{name} ({setting['n'].max()} seeds)"


def plot_curves(bands: pd.DataFrame, key: str, path: Path) -> None:
    """``key`` of :func:`curve_bands` against ``epoch + 1`` on a log axis (log values too for a positive loss):
    per setting, the mean over seeds as a line and a band from the seeds' min to their max."""
    rows = bands[bands["key"] == key]
    labels = [c for c in bands.columns if c not in CURVE_COLUMNS + BAND_STATS]
    fig, ax = figure((8, 4.5))
    for _, setting in rows.groupby("setting_id", sort=False):
        epochs = setting["epoch"] + 1
        (line,) = ax.plot(epochs, setting["mean"], label=setting_label(setting, labels))
        ax.fill_between(epochs, setting["min"], setting["max"], color=line.get_color(), alpha=0.2)
    positive_loss = "loss" in key and (rows["min"] > 0).all()
    ax.set(xscale="log", yscale="log" if positive_loss else "linear", xlabel="epoch + 1", ylabel=key,
           title=f"{key}: mean over seeds, band min–max")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    atomic_write_bytes(path, png_bytes(fig))


def write_curves(long: pd.DataFrame, out: Path) -> list[Path]:
    """``curves.csv`` (:func:`curves`), ``curves_by_setting.csv`` (:func:`curve_bands`) and one
    ``curves_<key>.png`` per key (:func:`plot_curves`) in ``out``."""
    bands = curve_bands(long)
    written = [write_csv(long, out / "curves.csv"), write_csv(bands, out / "curves_by_setting.csv")]
    for key in long["key"].unique():
        plot_curves(bands, key, curves_path(out, key))
        written.append(curves_path(out, key))
    return written
