"""``grokscope-analyze circles``: the circle-survival analyses (circle_survival.md §5-§7) of runs trained with
``metrics.circles.enabled=true``. Tables and plots go to ``<first dir>/analysis/`` unless ``--out``.

    grokscope-analyze circles survival DIR...                    # initial signal vs survival (§6.4)
    grokscope-analyze circles gradient DIR... [--criterion alive]  # initial gradient vs survival: t-test, SVM (§6.5)
    grokscope-analyze circles collab RUN_DIR [--every N] [--plots]  # loss collaboration over snapshots (§6.6)
    grokscope-analyze circles ode RUN_DIR [--alpha 0.01] [--steps 1000]  # linear ODE of one run's signals (§6.7)
    grokscope-analyze circles ode-sweep DIR...                   # R^2 of the ODE fit vs d_embed (§6.7)
    grokscope-analyze circles perturb|construct|ablate DIR...    # what the interventions did to the circles (§5)
    grokscope-analyze circles ablate-freqs RUN_DIR               # runs A-D's kept frequencies from run O (§5)

Each analysis loads its own module when it runs (scikit-learn, the model builders): help and usage errors, and
the analyses that need less, start faster.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from grokscope.analysis.collect import write_csv
from grokscope.cli.parsing import at_least, directory, output_dir
from grokscope.config import require


def _out(args, first: Path) -> Path:
    return output_dir(args.out, Path(first) / "analysis")


def _written(*paths: Path) -> None:
    print(f"-> {', '.join(map(str, paths))}")


def survival_command(args) -> None:
    from grokscope.analysis import survival

    table = survival.survival_table(args.dirs, progress=True)
    require(not table.empty, "dirs", list(map(str, args.dirs)), "must hold runs with arrays/circles.npz (train "
            "with metrics.circles.enabled=true)")
    out = _out(args, args.dirs[0])
    csv = write_csv(table, out / "survival.csv")
    survival.plot_survival(table, out / "survival.png")
    print(f"{table['run_dir'].nunique()} runs, Pearson r (initial signal, survived) = {survival.pearson(table):.3f}")
    _written(csv, out / "survival.png")


def gradient_command(args) -> None:
    from grokscope.analysis import initial_gradient as ig

    table = ig.gradient_table(args.dirs, args.criterion, progress=True)
    t, p = ig.t_test(table)
    accuracy = ig.svm_accuracy(table)
    out = _out(args, args.dirs[0])
    csv = write_csv(table, out / "gradient.csv")
    ig.plot_gradient_histogram(table, out / "gradient_histogram.png")
    ig.plot_survival_vs_gradient(table, out / "gradient_survival.png")
    print(f"{table['run_dir'].nunique()} runs, {len(table)} frequencies, {int(table['alive'].sum())} alive "
          f"({args.criterion})")
    print(f"t-test of g_4, alive vs dead: t = {t:.3f}, p = {p:.3g}")
    print(f"linear SVM on (g_4, s_k(E_0)): test accuracy = {accuracy:.3f}")
    _written(csv, out / "gradient_histogram.png", out / "gradient_survival.png")


def collab_command(args) -> None:
    import torch

    from grokscope.analysis import loss_collaboration as lc

    circles = lc.checked_run(args.run_dir)
    out = _out(args, args.run_dir)
    table = lc.collaboration_table(args.run_dir, circles, args.every)
    csv = write_csv(table, out / "loss_collaboration.csv")
    lc.plot_loss_collaboration(table, circles, out / "loss_collaboration.png")
    print(lc.verdict(table, circles))
    _written(csv, out / "loss_collaboration.png")
    if args.plots:  # the final snapshot's embedding on its circles' planes and its PCA pairs (§6.9)
        from grokscope.figures import png_bytes
        from grokscope.metrics.circles import geometry_figures
        from grokscope.training.outputs import atomic_write_bytes

        task, model = lc.task_and_model(args.run_dir)
        snaps = lc.snapshots(args.run_dir)
        model.load_state_dict(torch.load(snaps[max(snaps)], map_location="cpu", weights_only=True))
        written = []
        for name, fig in geometry_figures(model.operand_tables(task)[0].detach(), task.modulus, circles):
            written.append(out / f"{name}.png")
            atomic_write_bytes(written[-1], png_bytes(fig))
        _written(*written)


def ode_command(args) -> None:
    from grokscope.analysis import signal_ode

    x, freqs = signal_ode.run_signals(args.run_dir, args.steps)
    out = _out(args, args.run_dir)
    fit = signal_ode.fit_linear_ode(x, args.alpha)
    signal_ode.plot_A(fit, out / "ode_A.png")
    signal_ode.plot_roll_out(x, fit, freqs, out / "ode_roll_out.png")
    signal_ode.save_fit(fit, len(x), out / "ode.npz")
    print(f"A: {fit.A.shape}, b: {fit.b.shape}, alpha = {fit.alpha}, {len(x)} steps, R^2 = {fit.r2:.4f}")
    if not fit.converged:
        print("note: the Lasso solver reached its iteration limit (sklearn's max_iter=1000, as the reference)")
    _written(out / "ode_A.png", out / "ode_roll_out.png", out / "ode.npz")


def ode_sweep_command(args) -> None:
    from grokscope.analysis import signal_ode

    table = signal_ode.ode_r2_table(args.dirs, args.steps, args.alphas, progress=True)
    require(not table.empty, "dirs", list(map(str, args.dirs)), "must hold runs with dense circle signals "
            "(arrays/circles.npz; train with metrics.circles.enabled=true metrics.dense_epochs=2 or more)")
    out = _out(args, args.dirs[0])
    csv = write_csv(table, out / "ode_r2.csv")
    signal_ode.plot_r2_vs_d(table, out / "ode_r2_vs_d.png")
    print(table.groupby(["alpha", "d_embed"])["r2"].agg(["mean", "std", "count"]).to_string())
    _written(csv, out / "ode_r2_vs_d.png")


def intervention_command(args) -> None:
    from grokscope.analysis import circle_interventions

    table, written = circle_interventions.write_analysis(args.table_name, args.dirs, _out(args, args.dirs[0]))
    print(table.drop(columns=["run_dir"], errors="ignore").to_string(index=False))
    _written(*written)


def ablate_freqs_command(args) -> None:
    from grokscope.analysis import circle_interventions

    freqs = circle_interventions.ablation_freqs(args.run_dir).values()
    print(",".join(str(f).replace(" ", "") for f in freqs))


def add_circles(commands) -> None:
    """The ``circles`` sub-command of ``grokscope-analyze`` (``commands``: its sub-parsers), with its own."""
    what = "circle-survival analyses of runs with metrics.circles.enabled=true (circle_survival.md)"
    parser = commands.add_parser("circles", help=what, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    analyses = parser.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")

    def analysis(name, func, help_text, *, one_run=False):
        sub = analyses.add_parser(name, help=help_text, description=help_text)
        if one_run:
            sub.add_argument("run_dir", type=directory, help="a run dir")
        else:
            sub.add_argument("dirs", nargs="+", type=directory, help="sweep dirs or run dirs")
        sub.add_argument("--out", type=Path, default=None, help="output dir (default: <first dir>/analysis)")
        sub.set_defaults(func=func, prog=sub.prog)
        return sub

    analysis("survival", survival_command, "initial signal vs survival: survival.csv, survival.png, Pearson r (§6.4)")
    sub = analysis("gradient", gradient_command, "initial gradient vs survival: gradient.csv, t-test, linear SVM, "
                   "plots (§6.5)")
    sub.add_argument("--criterion", choices=("alive", "circle"), default="alive",
                     help="alive: final s_k > 10; circle: final s_k > 2 mean s")
    sub = analysis("collab", collab_command, "loss collaboration of one run's circles over its snapshots: "
                   "loss_collaboration.csv, .png (§6.6)", one_run=True)
    sub.add_argument("--every", type=at_least(1), default=None, help="only snapshot epochs that are multiples of this")
    sub.add_argument("--plots", action="store_true", help="also the circle plane and PCA plots of the last snapshot")
    sub = analysis("ode", ode_command, "linear ODE fit of one run's dense signals: ode_A.png, ode_roll_out.png, "
                   "ode.npz (§6.7)", one_run=True)
    sub.add_argument("--alpha", type=at_least(0.0, float), default=0.01, help="Lasso alpha; 0: least squares")
    sub.add_argument("--steps", type=at_least(3), default=1000, help="fit the first STEPS dense epochs (>= 3)")
    sub = analysis("ode-sweep", ode_sweep_command, "R^2 of the ODE fit vs d_embed over sweeps: ode_r2.csv, "
                   "ode_r2_vs_d.png (§6.7)")
    sub.add_argument("--steps", type=at_least(3), default=1000, help="fit the first STEPS dense epochs (>= 3)")
    sub.add_argument("--alphas", type=at_least(0.0, float), nargs="+", default=[0.0, 0.01], help="Lasso alphas")
    for name, table_name, help_text in (
            ("perturb", "perturbation", "survival of the perturbed frequency vs its margin (intervention=perturb)"),
            ("construct", "construction", "survival of c1, c2 vs m = lambda_c2 / lambda_c1 (intervention=construct)"),
            ("ablate", "ablation", "final loss and circles of runs O, A, B, C, D (intervention=ablate)")):
        analysis(name, intervention_command, f"{help_text}: {table_name}.csv, .png (§5)").set_defaults(
            table_name=table_name)
    sub = analyses.add_parser("ablate-freqs", help="the kept frequencies of runs A, B, C, D from run O, as a Hydra "
                              "sweep value (§5)", description="the kept frequencies of runs A, B, C, D from run O")
    sub.add_argument("run_dir", type=directory, help="run O's dir")
    sub.set_defaults(func=ablate_freqs_command, prog=sub.prog)
