"""``grokscope-circles-analyze``: the circle-survival analyses of runs with ``metrics.circles.enabled=true``
(circle_survival.md §6.4, §6.5, §6.7). Outputs go to ``<first dir>/analysis/`` unless ``--out``.

    grokscope-circles-analyze ode RUN_DIR [--alpha 0.01] [--steps 1000]    # A heat-map, roll-out, ode.npz
    grokscope-circles-analyze ode-sweep SWEEP_DIR...                       # ode_r2.csv, ode_r2_vs_d.png
    grokscope-circles-analyze gradient SWEEP_DIR... [--criterion alive]    # gradient.csv, t-test, SVM, plots
    grokscope-circles-analyze survival SWEEP_DIR...                        # survival.csv, Pearson r, plot
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from grokscope.analysis import initial_gradient as ig
from grokscope.analysis import signal_ode, survival
from grokscope.analysis.cli import OneLineParser, at_least
from grokscope.training.outputs import load_arrays

PROG = "grokscope-circles-analyze"


def _out(args, first: Path) -> Path:
    out = args.out or first / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _no_runs(paths, what: str = "circle signals") -> ValueError:
    return ValueError(f"no runs with {what} (arrays/circles.npz) under {' '.join(map(str, paths))}")


def ode(args) -> None:
    run_dir = args.run_dir
    if not (run_dir / "arrays" / "circles.npz").exists():
        raise ValueError(f"no {run_dir / 'arrays' / 'circles.npz'} (train with metrics.circles.enabled=true)")
    arrays = load_arrays(run_dir / "arrays" / "circles.npz")
    x = survival.dense_signal(arrays)[: args.steps]  # [n, K]
    if len(x) < 3:
        raise ValueError(f"{run_dir} has {len(x) - 1} dense epochs; the ODE fit needs metrics.dense_epochs >= 2")
    fit = signal_ode.fit_linear_ode(x, args.alpha)
    out = _out(args, run_dir)
    circles = list(np.flatnonzero(arrays["is_circle"][-1, 0]) + 1)
    others = [int(k) for k in np.argsort(-x[0]) + 1 if k not in circles][: max(1, 4 - len(circles))]
    signal_ode.plot_A(fit, out / "ode_A.png")
    signal_ode.plot_roll_out(x, fit, circles + others, out / "ode_roll_out.png")
    np.savez(out / "ode.npz", A=fit.A, b=fit.b, r2=fit.r2, alpha=fit.alpha, n_steps=len(x))
    print(f"A: {fit.A.shape}, b: {fit.b.shape}, alpha = {fit.alpha}, {len(x)} steps, R^2 = {fit.r2:.4f}")
    if not fit.converged:
        print("note: the Lasso solver reached its iteration limit (sklearn's max_iter=1000, as the reference)")
    print(f"-> {out / 'ode_A.png'}, {out / 'ode_roll_out.png'}, {out / 'ode.npz'}")


def ode_sweep(args) -> None:
    table = signal_ode.ode_r2_table(args.dirs, args.steps, args.alphas, progress=True)
    if table.empty:
        raise _no_runs(args.dirs, "dense circle signals (metrics.dense_epochs >= 2)")
    out = _out(args, Path(args.dirs[0]))
    table.to_csv(out / "ode_r2.csv", index=False)
    signal_ode.plot_r2_vs_d(table, out / "ode_r2_vs_d.png")
    print(table.groupby(["alpha", "d_embed"])["r2"].agg(["mean", "std", "count"]).to_string())
    print(f"-> {out / 'ode_r2.csv'}, {out / 'ode_r2_vs_d.png'}")


def gradient(args) -> None:
    table = ig.gradient_table(args.dirs, args.criterion, progress=True)
    out = _out(args, Path(args.dirs[0]))
    table.to_csv(out / "gradient.csv", index=False)
    ig.plot_gradient_histogram(table, out / "gradient_histogram.png")
    ig.plot_survival_vs_gradient(table, out / "gradient_survival.png")
    t, p = ig.t_test(table)
    accuracy = ig.svm_accuracy(table)
    print(f"{table['run_dir'].nunique()} runs, {len(table)} frequencies, {int(table['alive'].sum())} alive "
          f"({args.criterion})")
    print(f"t-test of g_4, alive vs dead: t = {t:.3f}, p = {p:.3g}")
    print(f"linear SVM on (g_4, s_k(E_0)): test accuracy = {accuracy:.3f}")
    print(f"-> {out / 'gradient.csv'}, {out / 'gradient_histogram.png'}, {out / 'gradient_survival.png'}")


def survival_cmd(args) -> None:
    table = survival.survival_table(args.dirs, progress=True)
    if table.empty:
        raise _no_runs(args.dirs)
    out = _out(args, Path(args.dirs[0]))
    table.to_csv(out / "survival.csv", index=False)
    survival.plot_survival(table, out / "survival.png")
    print(f"{table['run_dir'].nunique()} runs, Pearson r (initial signal, survived) = {survival.pearson(table):.3f}")
    print(f"-> {out / 'survival.csv'}, {out / 'survival.png'}")


def parser() -> argparse.ArgumentParser:
    main_parser = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = main_parser.add_subparsers(dest="command", required=True)

    def command(name, func, help_text, *, sweep=True):
        sub = commands.add_parser(name, help=help_text)
        if sweep:
            sub.add_argument("dirs", nargs="+", type=Path, help="sweep dirs or run dirs")
        sub.add_argument("--out", type=Path, default=None, help="output dir (default: <first dir>/analysis)")
        sub.set_defaults(func=func)
        return sub

    sub = command("ode", ode, "linear ODE fit of one run's dense signals (§6.7)", sweep=False)
    sub.add_argument("run_dir", type=Path)
    sub.add_argument("--alpha", type=at_least(0.0, float), default=0.01, help="Lasso alpha; 0: least squares")
    sub.add_argument("--steps", type=at_least(3), default=1000, help="fit the first STEPS dense epochs (>= 3)")
    sub = command("ode-sweep", ode_sweep, "R^2 of the ODE fit vs d_embed over sweeps (§6.7)")
    sub.add_argument("--steps", type=at_least(3), default=1000)
    sub.add_argument("--alphas", type=at_least(0.0, float), nargs="+", default=[0.0, 0.01])
    sub = command("gradient", gradient, "initial gradient vs survival (§6.5)")
    sub.add_argument("--criterion", choices=("alive", "circle"), default="alive",
                     help="alive: final s_k > 10; circle: final s_k > 2 mean s")
    command("survival", survival_cmd, "initial signal vs survival (§6.4)")
    return main_parser


def main(argv=None) -> None:
    main_parser = parser()
    args = main_parser.parse_args(argv)
    try:
        args.func(args)
    except (ValueError, FileNotFoundError) as err:
        main_parser.error(str(err))


if __name__ == "__main__":
    main()
