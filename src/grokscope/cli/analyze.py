"""``grokscope-analyze``: every analysis of run dirs and sweeps, one sub-command each.

    grokscope-analyze collect multirun/my_sweep                                    # runs.csv, runs_by_setting.csv
    grokscope-analyze collect multirun/my_sweep --plot test/acc --x task.frac_train        # + lines with seed bands
    grokscope-analyze collect multirun/my_sweep --curves test/loss test/acc   # + curves over epochs per setting
    grokscope-analyze phase-diagram multirun/pizza_width        # clock-vs-pizza phase diagrams (pizza.md §5)
    grokscope-analyze oocl multirun/oocl_small_<date> --out docs  # the OOCL sweep's tables and plot (oocl.md §1)
    grokscope-analyze remetric outputs/<run>    # progress / rep metrics at every snapshot, final key set fixed
    grokscope-analyze circles survival multirun/circles_dim     # circle survival (grokscope-analyze circles --help)
    grokscope-analyze llc outputs/<run>         # the local learning coefficient at the snapshots (grokscope[slt])

``grokscope-collect`` is ``grokscope-analyze collect``. A usage error ends with one line naming the argument, its
value and what is allowed, and exit status 2. Each sub-command's ``--help`` lists its arguments.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from grokscope.analysis import collect, phase_diagram
from grokscope.cli.circles import add_circles
from grokscope.cli.parsing import OneLineParser, at_least, comma_list, directory, fail, output_dir
from grokscope.config import ConfigError

PROG = "grokscope-analyze"


def add_collect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=directory, help="run dirs, sweep dirs, outputs/ or multirun/")
    parser.add_argument("--out", type=Path, default=None, help="where to write tables and plots (default: first path)")
    parser.add_argument("--plot", metavar="METRIC", help="metric column to plot, e.g. test/acc")
    parser.add_argument("--x", help="swept key on the x axis, e.g. task.frac_train")
    parser.add_argument("--y", help="second swept key: draw a heatmap")
    parser.add_argument("--curves", nargs="+", metavar="KEY", default=[],
                        help="keys of metrics.csv to draw over epochs, e.g. test/loss: per setting the mean over "
                             "seeds and a min-max band (curves_<key>.png, curves.csv, curves_by_setting.csv)")
    parser.set_defaults(func=run_collect, prog=parser.prog)


def run_collect(args) -> None:
    runs = collect.collect(args.paths, strict=True)
    out = output_dir(args.out, args.paths[0])
    if args.plot or args.x or args.y:
        collect.check_plot(runs, args.plot, args.x, args.y)
    curves = collect.curves(runs, args.curves) if args.curves else None
    written = collect.write_tables(runs, out)
    counts = runs["status"].value_counts().to_dict()
    print(f"{len(runs)} runs ({', '.join(f'{n} {s}' for s, n in counts.items())}) -> {', '.join(map(str, written))}")
    print(collect.time_line(runs))
    if args.plot:
        path = collect.plot_path(out, args.plot, args.x, args.y)
        collect.plot(runs, args.plot, args.x, args.y, path)
        print(f"plot -> {path}")
    if curves is not None:
        print(f"curves -> {', '.join(map(str, collect.write_curves(curves, out)))}")


def add_phase_diagram(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=directory, help="sweep dirs (or run dirs) of an attention-rate sweep")
    parser.add_argument("--out", type=Path, default=None, help="where to write the PNGs (default: first path)")
    parser.add_argument("--di", choices=tuple(phase_diagram.DI), default="correct",
                        help="distance irrelevance: the paper's (correct) or the original CSVs' (max_wrong)")
    parser.add_argument("--min-circularity", type=at_least(0.0, float), default=0.995,
                        help="keep the runs at least this circular (default: 0.995, as the paper)")
    parser.set_defaults(func=run_phase_diagram, prog=parser.prog)


def run_phase_diagram(args) -> None:
    runs = collect.collect(args.paths, strict=True)
    out = output_dir(args.out, args.paths[0])
    paths = phase_diagram.phase_diagrams(runs, out, phase_diagram.DI[args.di], args.min_circularity)
    print("\n".join(f"plot -> {p}" for p in paths))


def add_oocl(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep_dir", type=directory, help="the sweep dir of OOCL runs (grokscope-reproduce oocl)")
    parser.add_argument("--out", type=Path, default=None, help="where to write tables and plot (default: sweep_dir)")
    parser.set_defaults(func=run_oocl, prog=parser.prog)


def run_oocl(args) -> None:
    from grokscope.analysis import oocl  # loads Lightning (for the grokking threshold): only when asked for

    print(oocl.write_report(args.sweep_dir, output_dir(args.out, args.sweep_dir)), end="")


def add_remetric(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=directory, help="a finished run dir with snapshots (snapshot_every_n_epochs)")
    parser.add_argument("--key-freqs", type=comma_list(int), metavar="K,...", default=None,
                        help="key frequencies for progress/ (default: the run's final key_freqs, summary.json)")
    parser.add_argument("--key-irreps", type=comma_list(str), metavar="IRREP,...", default=None,
                        help="key irreps for rep/ (default: the run's final key_irreps, summary.json)")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: RUN_DIR/remetric)")
    parser.set_defaults(func=run_remetric, prog=parser.prog)


def run_remetric(args) -> None:
    from grokscope.analysis.remetric import remetric  # loads Lightning (the run's recorder): only when asked for
    from grokscope.run.load import load_run

    out = output_dir(args.out, args.run_dir / "remetric")
    result = remetric(load_run(args.run_dir), out, args.key_freqs, args.key_irreps, progress=True)
    keys = "; ".join(f"{name}: {', '.join(map(str, keys))}" for name, keys in result.key_sets.items())
    print(f"{len(result.history)} snapshots, key sets {keys} -> {out}")


def add_llc(parser: argparse.ArgumentParser) -> None:
    from grokscope.metrics.llc_estimator import LLCConfig  # torch-free: the dataclass only

    d = LLCConfig()
    parser.add_argument("run_dir", type=directory, help="a finished run dir with snapshots (snapshot_every_n_epochs)")
    parser.add_argument("--snapshots", type=at_least(1), default=20,
                        help="at most this many snapshots, evenly spaced, first and last included (default: 20)")
    parser.add_argument("--lr", type=at_least(0.0, float), default=d.lr, help=f"SGLD step size (default: {d.lr})")
    parser.add_argument("--localization", type=at_least(0.0, float), default=d.localization,
                        help=f"gamma, the pull towards the snapshot's weights (default: {d.localization})")
    parser.add_argument("--nbeta", type=at_least(0.0, float), default=None,
                        help="inverse temperature n*beta (default: b / log b for minibatches of b rows)")
    parser.add_argument("--batch-size", type=at_least(2), default=d.batch_size,
                        help=f"rows per SGLD step (default: {d.batch_size})")
    parser.add_argument("--chains", type=at_least(1), default=d.chains, help=f"SGLD chains (default: {d.chains})")
    parser.add_argument("--draws", type=at_least(1), default=d.draws, help=f"draws per chain (default: {d.draws})")
    parser.add_argument("--burnin", type=at_least(0), default=d.burnin,
                        help=f"steps per chain before the draws (default: {d.burnin})")
    parser.add_argument("--out", type=Path, default=None, help="where to write llc.csv and llc.png (default: RUN_DIR)")
    parser.set_defaults(func=run_llc, prog=parser.prog)


def run_llc(args) -> None:
    from grokscope.metrics.llc_estimator import LLCConfig, MissingExtra
    from grokscope.run.load import load_run

    cfg = LLCConfig(lr=args.lr, localization=args.localization, nbeta=args.nbeta, batch_size=args.batch_size,
                    chains=args.chains, draws=args.draws, burnin=args.burnin)
    out = output_dir(args.out, args.run_dir)
    try:
        from grokscope.analysis.llc_snapshots import llc_over_snapshots

        result = llc_over_snapshots(load_run(args.run_dir), out, cfg, args.snapshots)
    except MissingExtra as err:
        fail(args.prog, err)
    shown = ", ".join(f"{epoch}: {e.mean:.1f}" for epoch, e in zip(result.epochs, result.estimates))
    print(f"LLC at {len(result.epochs)} snapshots ({shown}) -> {out / 'llc.csv'}, {out / 'llc.png'}")


#: ``name -> (what it does, how its arguments are added)``: the sub-commands besides ``circles``.
COMMANDS = {
    "collect": ("one table of the runs (runs.csv), mean/std/n per setting over seeds (runs_by_setting.csv), "
                "with --plot a metric against swept keys, and with --curves metrics over epochs per setting",
                add_collect),
    "phase-diagram": ("clock-vs-pizza phase diagrams of an attention-rate sweep (Zhong et al. 2023)",
                      add_phase_diagram),
    "oocl": ("tables (CSV, markdown) and plot of an out-of-context-learning sweep", add_oocl),
    "remetric": ("progress measures and rep metrics at every snapshot of a run with the final model's key "
                 "frequencies / irreps (or given ones), and the papers' plots with the phase boundaries", add_remetric),
    "llc": ("the local learning coefficient (SGLD, devinterp; the slt extra) at a run's snapshots, beside its "
            "losses", add_llc),
}


def parser() -> OneLineParser:
    """The ``grokscope-analyze`` parser: one sub-command per analysis, ``circles`` with sub-commands of its own."""
    main_parser = OneLineParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = main_parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (what, add) in COMMANDS.items():
        add(commands.add_parser(name, help=what, description=what))
    add_circles(commands)
    return main_parser


def run(parser_: argparse.ArgumentParser, argv: list[str] | None) -> None:
    """Parse ``argv`` and run the chosen command; a usage error or :class:`ConfigError` ends in one line naming the
    argument and the (sub-)command."""
    args, unknown = parser_.parse_known_args(argv)
    if unknown:
        fail(args.prog, f"unrecognized arguments: {' '.join(unknown)}")
    try:
        args.func(args)
    except ConfigError as err:
        fail(args.prog, err)


def main(argv: list[str] | None = None) -> None:
    """Console entry ``grokscope-analyze``."""
    run(parser(), argv)


def collect_main(argv: list[str] | None = None) -> None:
    """Console entry ``grokscope-collect``: ``grokscope-analyze collect`` under its own name."""
    what, add = COMMANDS["collect"]
    collect_parser = OneLineParser(prog="grokscope-collect", description=what)
    add(collect_parser)
    run(collect_parser, argv)


if __name__ == "__main__":
    main()
