"""What the circle-survival interventions do to the circles (circle_survival.md §5, §7), read from the run dirs
that ``scripts/sweep_circles.sh perturb|construct|ablate`` writes (each run's ``arrays/circles.npz``, summary and
config): survival of the perturbed frequency against its margin (``intervention=perturb``), survival of the two
constructed circles against their amplitude ratio (``intervention=construct``), and the final loss and circles of
the ablation runs O, A, B, C, D (``intervention=ablate``), each as a table and a plot.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from grokscope.analysis.collect import find_run_dirs, run_config, write_csv
from grokscope.analysis.survival import final_circles, survival_table
from grokscope.config import require
from grokscope.figures import figure, png_bytes
from grokscope.run.rundir import RunDir
from grokscope.training.outputs import atomic_write_bytes, load_arrays


def _summary(run_dir: Path) -> dict:
    return RunDir(run_dir).summary() or {}


def _completed_table(paths) -> pd.DataFrame:
    """:func:`~grokscope.analysis.survival.survival_table` of the completed runs with circles under ``paths``."""
    table = survival_table(paths)
    require(not table.empty, "dirs", list(map(str, paths)), "must hold runs with arrays/circles.npz (train with "
            "metrics.circles.enabled=true)")
    done = {d for d in table["run_dir"].unique() if _summary(Path(d)).get("status") == "completed"}
    table = table[table["run_dir"].isin(done)]
    require(not table.empty, "dirs", list(map(str, paths)), "must hold completed runs")
    return table


def _interventions(config: dict) -> dict:
    return config.get("intervention") or {}


# --- perturbation (§5 "Perturbation", §8 bug 4) ---------------------------------------------------------------

@cache
def _reference_signal(config_json: str) -> tuple[float, ...]:
    from omegaconf import OmegaConf

    from grokscope.groups.spectral import fourier_signal
    from grokscope.run import build
    from grokscope.run.config import validate

    task, model = build(validate(OmegaConf.create(json.loads(config_json))))
    return tuple(fourier_signal(model.operand_tables(task)[0].detach(), task.modulus).tolist())


def reference_signal(config: dict) -> np.ndarray:
    """``s_0..s_K`` of operand ``a``'s initial embedding of ``config`` without its interventions: the
    unperturbed reference embedding (circle_survival.md §8 bug 4; rebuilt from ``seeds.embedding``)."""
    return np.array(_reference_signal(json.dumps({**config, "intervention": {}}, sort_keys=True)))


def perturbation_runs(paths) -> pd.DataFrame:
    """One row per run of ``intervention=perturb``: ``run_dir, embedding_seed, alpha, freq`` (the perturbed
    ``k0``, chosen on the reference embedding; the strongest one if several are perturbed), ``margin = alpha
    s_k0 - mean_k s_k`` (reference signals, mean over all ``p`` values of ``k``, DC included) and ``survived``
    (``k0`` a circle at the end)."""
    table = _completed_table(paths)
    rows = []
    for run_dir, part in table.groupby("run_dir"):
        config = run_config(Path(run_dir))
        perturb = _interventions(config).get("perturb")
        if perturb is None:
            continue
        ref, p = reference_signal(config), config["task"]["p"]
        freqs = perturb.get("freqs") or list(np.argsort(-ref[1:], kind="stable")[: perturb["strongest"]] + 1)
        k0, alpha = int(freqs[0]), float(perturb["alpha"])
        mean = (ref[0] + 2 * ref[1:].sum()) / p
        rows.append({"run_dir": run_dir, "embedding_seed": config["seeds"]["embedding"], "alpha": alpha, "freq": k0,
                     "margin": alpha * ref[k0] - mean, "survived": bool(part.set_index("freq").at[k0, "survived"])})
    require(bool(rows), "dirs", list(map(str, paths)), "must hold completed intervention=perturb runs")
    return pd.DataFrame(rows)


def perturbation_curve(paths) -> pd.DataFrame:
    """Survival rate of the perturbed frequency per ``(embedding_seed, alpha)``: ``embedding_seed, alpha, freq,
    margin, rate, n`` (circle_survival.md §5: rate vs ``alpha s_k0^init - mean s^init``)."""
    runs = perturbation_runs(paths)
    return (runs.groupby(["embedding_seed", "alpha"])
            .agg(freq=("freq", "first"), margin=("margin", "first"), rate=("survived", "mean"),
                 n=("survived", "size")).reset_index())


# --- manual construction (§5 "Manual construction", §8 bug 5) -------------------------------------------------

def construction_runs(paths) -> pd.DataFrame:
    """One row per run of ``intervention=construct`` with two amplitudes: ``run_dir, m`` (``= amplitudes[1] /
    amplitudes[0]``), ``c1, c2`` (the frequencies of the largest and second-largest initial signal, which are the
    constructed ones since every other ``s_k`` is ``tiny``; at ``m = 1`` which is which is arbitrary) and
    ``c1_survived, c2_survived``."""
    table = _completed_table(paths)
    rows = []
    for run_dir, part in table.groupby("run_dir"):
        construct = _interventions(run_config(Path(run_dir))).get("construct")
        if construct is None or len(construct["amplitudes"]) != 2:
            continue
        c1, c2 = (part.set_index("initial_rank").loc[[1, 2]].itertuples())
        rows.append({"run_dir": run_dir, "m": construct["amplitudes"][1] / construct["amplitudes"][0],
                     "c1": c1.freq, "c2": c2.freq, "c1_survived": c1.survived, "c2_survived": c2.survived})
    require(bool(rows), "dirs", list(map(str, paths)), "must hold completed intervention=construct runs with two "
            "amplitudes")
    return pd.DataFrame(rows)


def construction_curve(paths) -> pd.DataFrame:
    """Survival rates of ``c1`` and ``c2`` per ``m``: ``m, rate_c1, rate_c2, n`` (circle_survival.md §5)."""
    runs = construction_runs(paths)
    return (runs.groupby("m").agg(rate_c1=("c1_survived", "mean"), rate_c2=("c2_survived", "mean"),
                                  n=("c1_survived", "size")).reset_index())


# --- ablation (§5 "Ablation") ----------------------------------------------------------------------------------

def ablation_freqs(o_dir: Path) -> dict[str, list[int]]:
    """The kept frequencies of runs A-D from the reference run O (circle_survival.md §5): A = O's strongest final
    circle, B = its two strongest, C = ``[1]``, D = ``[1, 2]``. With fewer circles than needed, the strongest
    final signals fill in (named on stderr)."""
    require((Path(o_dir) / "arrays" / "circles.npz").exists(), "run_dir", str(o_dir), "must hold "
            "arrays/circles.npz (run O must log metrics.circles.enabled=true)")
    circles = final_circles(o_dir)
    if len(circles) < 2:
        signal = load_arrays(Path(o_dir) / "arrays" / "circles.npz")["signal"][-1, 0, 1:]
        strongest = [int(k) + 1 for k in np.argsort(-signal, kind="stable")]
        print(f"ablation: run O has {len(circles)} circle(s); A/B use its strongest final signals",
              file=sys.stderr)
        circles = circles + [k for k in strongest if k not in circles]
    return {"A": circles[:1], "B": circles[:2], "C": [1], "D": [1, 2]}


def ablation_table(paths) -> pd.DataFrame:
    """One row per run: ``run`` (O = no ablation; A-D by their kept frequencies, derived from O), ``keep``,
    ``dc``, final ``train/loss, test/loss, train/acc, test/acc``, ``n_circles`` and ``circles``."""
    rows = []
    for run_dir in find_run_dirs(paths):
        summary = _summary(run_dir)
        if summary.get("status") != "completed" or not (run_dir / "arrays" / "circles.npz").exists():
            continue
        ablate = _interventions(run_config(run_dir)).get("ablate")
        final = summary.get("final", {})
        circles = final_circles(run_dir)
        rows.append({"run_dir": str(run_dir), "keep": None if ablate is None else list(ablate["freqs"] or []),
                     "dc": None if ablate is None else ablate["dc"],
                     **{k: final.get(k) for k in ("train/loss", "test/loss", "train/acc", "test/acc")},
                     "n_circles": len(circles), "circles": circles})
    table = pd.DataFrame(rows)
    one_o = not table.empty and table["keep"].isna().sum() == 1
    require(one_o, "dirs", list(map(str, paths)), "must hold exactly one completed run O (no ablation) with "
            "arrays/circles.npz")
    names = ablation_freqs(Path(table.loc[table["keep"].isna(), "run_dir"].iloc[0]))
    table["run"] = [("O" if keep is None else "/".join(n for n, f in names.items() if f == keep) or f"keep {keep}")
                    for keep in table["keep"]]
    return table.sort_values("run", kind="stable").reset_index(drop=True)[["run", *table.columns[:-1]]]


# --- plots ----------------------------------------------------------------------------------------------------

def plot_perturbation(curve: pd.DataFrame, path: Path) -> None:
    """Survival rate of the perturbed frequency against its margin, one line per reference embedding."""
    fig, ax = figure((6, 4))
    for seed, part in curve.groupby("embedding_seed"):
        ax.plot(part["margin"], part["rate"], marker="o", label=f"embedding seed {seed}, k0 = {part['freq'].iloc[0]}")
    ax.set(xlabel="alpha s_k0(init) - mean_k s_k(init)", ylabel="survival rate of k0",
           title=f"perturbation ({int(curve['n'].sum())} runs)")
    ax.legend(fontsize="small")
    atomic_write_bytes(path, png_bytes(fig))


def plot_construction(curve: pd.DataFrame, path: Path) -> None:
    """Survival rates of ``c1`` and ``c2`` against ``m`` (log axis)."""
    fig, ax = figure((6, 4))
    for col, label in (("rate_c1", "c1 (amplitude 80)"), ("rate_c2", "c2 (amplitude 80 m)")):
        ax.plot(curve["m"], curve[col], marker="o", label=label)
    ax.set(xscale="log", xlabel="m = lambda_c2 / lambda_c1", ylabel="survival rate",
           title=f"manual construction ({int(curve['n'].sum())} runs)")
    ax.legend()
    atomic_write_bytes(path, png_bytes(fig))


def plot_ablation(table: pd.DataFrame, path: Path) -> None:
    """Final test loss (log axis) and number of final circles of each run O, A-D."""
    fig, (loss, circles) = figure((9, 3.5), 1, 2)
    loss.bar(table["run"], table["test/loss"])
    loss.set(yscale="log", ylabel="final test loss", title="ablation at init")
    circles.bar(table["run"], table["n_circles"])
    circles.set(ylabel="final number of circles")
    atomic_write_bytes(path, png_bytes(fig))


#: ``name -> (table of the runs under some dirs, its plot)``: each writes ``<name>.csv`` and ``<name>.png``.
ANALYSES = {"perturbation": (perturbation_curve, plot_perturbation),
            "construction": (construction_curve, plot_construction),
            "ablation": (ablation_table, plot_ablation)}


def write_analysis(name: str, paths, out: Path) -> tuple[pd.DataFrame, list[Path]]:
    """The table of :data:`ANALYSES` ``name`` of the runs under ``paths``, written with its plot into ``out``:
    ``(table, [<name>.csv, <name>.png])``."""
    analyse, plot = ANALYSES[name]
    table = analyse(paths)
    written = [write_csv(table, out / f"{name}.csv"), out / f"{name}.png"]
    plot(table, written[1])
    return table, written
