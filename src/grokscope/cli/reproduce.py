"""``grokscope-reproduce NAME``: run a paper's sweeps and write its report (README "Reproductions").

    grokscope-reproduce nanda_2023                      # --scale cpu: the cut that fits a laptop CPU
    grokscope-reproduce chughtai --scale paper --jobs 4 # the paper's settings and grids (a GPU)
    grokscope-reproduce all --report-only               # re-write every report from the runs already there

Runs go to ``--runs`` (default ``reproductions/<name>-<scale>``); running the command again skips the finished
runs and resumes interrupted ones. The report is ``--out/<name>.md`` (default ``docs/reproductions``) and
``--out/README.md`` the summary over every report there. A usage error is one line naming the argument, exit 2.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from grokscope.cli.parsing import OneLineParser, at_least, fail, output_dir
from grokscope.config import ConfigError, require, require_writable_dir
from grokscope.reproduce.plan import NAMES, SCALES

PROG = "grokscope-reproduce"


def parser() -> OneLineParser:
    parse = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parse.add_argument("name", choices=(*NAMES, "all"), help="the reproduction, or all of them")
    parse.add_argument("--scale", choices=SCALES, default="cpu",
                       help="paper: the papers' settings (a GPU); cpu: the cuts each report names (default); "
                            "tiny: seconds, for tests")
    parse.add_argument("--runs", type=Path, default=None,
                       help="where the runs go (default: reproductions/<name>-<scale>; with all, a sub-dir per name)")
    parse.add_argument("--out", type=Path, default=Path("docs/reproductions"),
                       help="where the reports go (default: docs/reproductions)")
    parse.add_argument("--jobs", type=at_least(1), default=1,
                       help="processes per sweep (joblib launcher, one torch thread each; default 1)")
    parse.add_argument("--report-only", action="store_true",
                       help="write the reports from the runs there; train nothing")
    return parse


def check_runs(runs: Path, name: str, scale: str, report_only: bool) -> None:
    """``--runs`` must be a directory that can be written (the runs, and what the report reads from them, go
    there); with ``--report-only`` it must hold finished runs already."""
    if report_only:
        require(runs.is_dir() and next(runs.rglob("finished.json"), None) is not None, "--runs", str(runs),
                f"holds no finished runs of {name}: run `{PROG} {name} --scale {scale} --runs {runs}` first "
                "(without --report-only), or name the directory that holds them")
    require_writable_dir("--runs", runs)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    from grokscope.reproduce.catalogue import reproduce  # torch and the analyses load once the arguments parse

    names = list(NAMES) if args.name == "all" else [args.name]
    try:
        out = output_dir(args.out, args.out)
        for name in names:
            runs = Path("reproductions") / f"{name}-{args.scale}" if args.runs is None else (
                args.runs / name if args.name == "all" else args.runs)
            check_runs(runs, name, args.scale, args.report_only)
            path = reproduce(name, args.scale, runs, out, args.jobs, train=not args.report_only)
            print(f"report -> {path}")
    except ConfigError as err:
        fail(PROG, err)
    except subprocess.CalledProcessError as err:
        fail(PROG, f"a sweep failed (exit {err.returncode}): {' '.join(err.cmd[2:])}")


if __name__ == "__main__":
    main()
