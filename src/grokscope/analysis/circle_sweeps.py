"""Outcomes of the circle-survival intervention sweeps (circle_survival.md §5, §7), from the run dirs that
``scripts/sweep_circles.sh perturb|construct|ablate`` writes (each run's ``arrays/circles.npz``, summary, config):

    python -m grokscope.analysis.circle_sweeps perturb DIR      # survival of the perturbed frequency vs its margin
    python -m grokscope.analysis.circle_sweeps construct DIR    # survival of c1 and c2 vs m = lambda_c2 / lambda_c1
    python -m grokscope.analysis.circle_sweeps ablate DIR       # final loss/acc and circles of runs O, A, B, C, D
    python -m grokscope.analysis.circle_sweeps ablate-freqs O_DIR   # A, B, C, D's kept frequencies (a Hydra sweep)

Each writes ``<name>.csv`` and ``<name>.png`` into DIR (or ``--out``); bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from grokscope.analysis.cli import OneLineParser
from grokscope.analysis.collect import find_run_dirs, run_config
from grokscope.analysis.plots import _save, plt
from grokscope.analysis.survival import final_circles, survival_table
from grokscope.run.rundir import RunDir
from grokscope.training.outputs import load_arrays


class SweepInputError(ValueError):
    """Input that the analysis cannot use (no runs, runs of another kind); one line for the CLI."""


def _summary(run_dir: Path) -> dict:
    return RunDir(run_dir).summary() or {}


def _completed_table(paths) -> pd.DataFrame:
    """:func:`~grokscope.analysis.survival.survival_table` of the completed runs with circles under ``paths``."""
    table = survival_table(paths)
    if table.empty:
        raise SweepInputError(f"no runs with arrays/circles.npz under {' '.join(map(str, paths))}")
    done = {d for d in table["run_dir"].unique() if _summary(Path(d)).get("status") == "completed"}
    table = table[table["run_dir"].isin(done)]
    if table.empty:
        raise SweepInputError(f"no completed runs under {' '.join(map(str, paths))}")
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
    if not rows:
        raise SweepInputError(f"no completed intervention=perturb runs under {' '.join(map(str, paths))}")
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
    if not rows:
        raise SweepInputError(f"no completed intervention=construct runs with two amplitudes under "
                              f"{' '.join(map(str, paths))}")
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
    if not (Path(o_dir) / "arrays" / "circles.npz").exists():
        raise SweepInputError(f"{o_dir}: no arrays/circles.npz (run O must log metrics.circles.enabled=true)")
    circles = final_circles(o_dir)
    if len(circles) < 2:
        signal = load_arrays(Path(o_dir) / "arrays" / "circles.npz")["signal"][-1, 0, 1:]
        strongest = [int(k) + 1 for k in np.argsort(-signal, kind="stable")]
        print(f"circle_sweeps: run O has {len(circles)} circle(s); A/B use its strongest final signals",
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
    if table.empty or table["keep"].notna().sum() == len(table) or table["keep"].isna().sum() > 1:
        raise SweepInputError(f"need exactly one completed run O (no ablation) with circles under "
                              f"{' '.join(map(str, paths))}")
    names = ablation_freqs(Path(table.loc[table["keep"].isna(), "run_dir"].iloc[0]))
    table["run"] = [("O" if keep is None else "/".join(n for n, f in names.items() if f == keep) or f"keep {keep}")
                    for keep in table["keep"]]
    return table.sort_values("run", kind="stable").reset_index(drop=True)[["run", *table.columns[:-1]]]


# --- plots and CLI ---------------------------------------------------------------------------------------------

def plot_perturbation(curve: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for seed, part in curve.groupby("embedding_seed"):
        ax.plot(part["margin"], part["rate"], marker="o", label=f"embedding seed {seed}, k0 = {part['freq'].iloc[0]}")
    ax.set(xlabel="alpha s_k0(init) - mean_k s_k(init)", ylabel="survival rate of k0",
           title=f"perturbation ({int(curve['n'].sum())} runs)")
    ax.legend(fontsize="small")
    _save(fig, path)


def plot_construction(curve: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 4))
    for col, label in (("rate_c1", "c1 (amplitude 80)"), ("rate_c2", "c2 (amplitude 80 m)")):
        ax.plot(curve["m"], curve[col], marker="o", label=label)
    ax.set(xscale="log", xlabel="m = lambda_c2 / lambda_c1", ylabel="survival rate",
           title=f"manual construction ({int(curve['n'].sum())} runs)")
    ax.legend()
    _save(fig, path)


def plot_ablation(table: pd.DataFrame, path: Path) -> None:
    fig, (loss, circles) = plt.subplots(1, 2, figsize=(9, 3.5))
    loss.bar(table["run"], table["test/loss"])
    loss.set(yscale="log", ylabel="final test loss", title="ablation at init")
    circles.bar(table["run"], table["n_circles"])
    circles.set(ylabel="final number of circles")
    _save(fig, path)


ANALYSES = {"perturb": (perturbation_curve, plot_perturbation, "perturbation"),
            "construct": (construction_curve, plot_construction, "construction"),
            "ablate": (ablation_table, plot_ablation, "ablation")}


def main(argv=None) -> None:
    parser = OneLineParser(prog="python -m grokscope.analysis.circle_sweeps", name="circle_sweeps", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("analysis", choices=[*ANALYSES, "ablate-freqs"])
    parser.add_argument("dir", type=Path, help="sweep dir (ablate-freqs: run O's dir)")
    parser.add_argument("--out", type=Path, default=None, help="where to write the table and plot (default: dir)")
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        parser.error(f"{args.dir} is not a directory")
    if not any(args.dir.rglob(".hydra/config.yaml")):
        parser.error(f"no run dirs under {args.dir}")
    try:
        if args.analysis == "ablate-freqs":
            print(",".join(str(f).replace(" ", "") for f in ablation_freqs(args.dir).values()))
            return
        analyse, plot, name = ANALYSES[args.analysis]
        table = analyse([args.dir])
    except (SweepInputError, KeyError, FileNotFoundError) as err:
        parser.error(str(err))
    out = args.out or args.dir
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"{name}.csv", index=False)
    plot(table, out / f"{name}.png")
    print(table.drop(columns=["run_dir"], errors="ignore").to_string(index=False))
    print(f"-> {out / f'{name}.csv'}, {out / f'{name}.png'}")


if __name__ == "__main__":
    main()
