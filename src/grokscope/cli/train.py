"""``grokscope-train``: compose the config (Hydra), run the job (:func:`grokscope.run.execute`), report.

    grokscope-train                                   # (a+b) mod 97, MLP: groks in about a minute on a CPU
    grokscope-train experiment=nanda_2023
    grokscope-train -m seed=0,1,2 model.d_embed=32,64

Only Hydra and OmegaConf load at import: ``--help``, ``--cfg`` and tab completion answer before torch does.
A run prints its dir, a progress bar and a one-line outcome; Lightning's and wandb's own lines only with
``GROKSCOPE_VERBOSE=1``. User mistakes end with one line naming the key and exit status 2.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from grokscope.cli import startup
from grokscope.cli.checks import check_launch, sweep_dirname_override
from grokscope.cli.help import is_plain_help, render_help
from grokscope.paths import CONF_DIR

OmegaConf.register_new_resolver("job_dir", lambda name: name or "job", replace=True)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def _hydra_main(cfg: DictConfig) -> None:
    """One job. In a sweep a job that fails is recorded in its ``summary.json`` and the sweep goes on."""
    from grokscope.config import ConfigError
    from grokscope.run import Job, execute

    hc = HydraConfig.get()
    run_dir, multirun = Path(hc.runtime.output_dir), hc.mode == RunMode.MULTIRUN
    job = Job(group=sweep_group(hc.sweep.dir) if multirun else None, overrides=tuple(hc.overrides.task),
              watch_parent=any("joblib" in (OmegaConf.select(hc, f"{node}._target_", default="") or "")
                               for node in ("launcher", "launcher.inner")),  # joblib, or joblib in a packed sweep
              multirun=multirun, started=started)
    guard = None
    if job.watch_parent:  # a joblib worker: one whose sweep process died takes no further job
        from grokscope.run.preempt import OrphanGuard

        guard = OrphanGuard.get()
        guard.start_job()
    try:
        summary = execute(cfg, run_dir, job)  # prints the run dir once every check has passed
        print(outcome(run_dir, summary))
    except ConfigError as err:
        if not multirun:  # exit here, before Hydra reports the job as crashed
            remove_made_dirs(run_dir)
            report(err)
        print(f"job {hc.job.num} failed: {one_line(err)}", file=sys.stderr)
    except OSError as err:
        if multirun or err.errno not in FILE_SYSTEM_ERRNOS:
            raise
        report_unwritten(err)  # exit here, before Hydra reports the job as crashed
    except Exception:
        if not multirun:
            raise
        print(f"job {hc.job.num} failed:\n{traceback.format_exc()}", file=sys.stderr)
    finally:
        if guard is not None:
            guard.end_job()  # stopped because the sweep process died: the worker ends here


def started(run_dir: Path) -> None:
    """A job has passed every check and loaded what it trains with: its run dir is printed, and start-up is over
    (:func:`grokscope.cli.startup.end`)."""
    print(f"run dir: {run_dir}", flush=True)
    startup.end()


def remove_made_dirs(run_dir: Path) -> None:
    """Remove the dirs Hydra made for a refused run (the run dir and the parents it made, ``outputs/<date>/``)
    while they are empty; a dir that was there before is kept."""
    from grokscope.cli.sweep_report import RUN_DIR_BASE

    base = RUN_DIR_BASE[0] if RUN_DIR_BASE else run_dir.parent
    path = run_dir.absolute()
    while path != base and base in path.parents:
        try:
            path.rmdir()
        except OSError:  # not empty: it holds something of its own
            return
        path = path.parent


def sweep_group(sweep_dir: str) -> str:
    """The WandB group of a sweep's jobs: the sweep dir as given when relative (``multirun/<date>/<time>``),
    relative to the working dir when under it, else its name; never a machine's absolute path."""
    path = Path(sweep_dir)
    if not path.is_absolute():
        return path.as_posix()
    with contextlib.suppress(ValueError):
        return path.relative_to(Path.cwd()).as_posix()
    return path.name


def outcome(run_dir: Path, summary: dict) -> str:
    """One line on a finished run: its dir, status, epochs, final accuracies and grokking epochs."""
    if "members" in summary:
        return f"{run_dir}: {summary['status']} after {summary['epochs']} epochs, {len(summary['members'])} members"
    accuracies = ", ".join(f"{key} {value:.3f}" for key, value in summary["final"].items() if key.endswith("/acc"))
    grokked = ", ".join(f"{split} {epoch}" for split, epoch in summary["grok_epochs"].items() if epoch is not None)
    return (f"{run_dir}: {summary['status']} after {summary['epochs']} epochs; {accuracies}"
            + (f"; accuracy >= 0.99 from epoch: {grokked}" if grokked else ""))


#: The errors of a file system that refuses a write (full, over quota, read-only, not permitted): the user's to fix.
FILE_SYSTEM_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def unwritten_file(err: OSError) -> str:
    """The file a failed write was for: the error's own file name, else the ``path`` being written by the innermost
    frame that had one (a write to an open file does not name it), else ``?``."""
    if err.filename:
        return str(err.filename)
    frames = [frame for frame, _ in traceback.walk_tb(err.__traceback__)]
    for frame in reversed(frames):
        path = frame.f_locals.get("path")
        if isinstance(path, (str, Path)):
            return str(path)
    return "?"


def report_unwritten(err: OSError) -> NoReturn:
    """How a file system that refuses a write ends a run: one line naming the file, exit status 2."""
    report(RuntimeError(f"{unwritten_file(err)}: could not be written ({err.strerror}); make room or fix the "
                        "permissions, then run the same command again (a run resumes from its last checkpoint)"))


def one_line(err: BaseException) -> str:
    """Condense a (possibly multi-line) configuration error into one line."""
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Config search path", "provider=", "Set the environment"))]
    cause = err.__cause__
    if cause is not None and str(cause).strip():
        lines.append(f"({str(cause).strip().splitlines()[0]})")
    return " ".join(lines)


def report(err: BaseException) -> NoReturn:
    """How a user mistake ends: one line on stderr naming the key, exit status 2."""
    print(f"grokscope-train: error: {one_line(err)}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    """Console entry: user mistakes exit with status 2 and one line naming the key; a run stopped by a
    signal exits with 128 + its number after its checkpoint; bugs keep tracebacks."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from grokscope.config import ConfigError

    os.environ.setdefault("HYDRA_FULL_ERROR", "1")  # let errors reach us instead of Hydra's own report
    os.environ["GROKSCOPE_SWEEP_PID"] = str(os.getpid())  # grokscope.run.preempt.SWEEP_PID: workers watch this process
    if is_plain_help(sys.argv[1:]):
        print(render_help())
        return
    try:
        check_launch(sys.argv[1:])
        sys.argv += sweep_dirname_override(sys.argv[1:])
        with startup.paused():  # the collector's scans, until a job or a sweep starts (grokscope.cli.startup)
            _hydra_main()
    except (ConfigError, HydraException, OmegaConfBaseException) as err:
        report(err)
    except (SystemExit, KeyboardInterrupt):
        raise
    except OSError as err:  # Hydra could not make the run or sweep dir
        if err.errno not in FILE_SYSTEM_ERRNOS:
            raise
        report_unwritten(err)
    except BaseException as err:
        from grokscope.run.preempt import Preempted

        if not isinstance(err, Preempted):
            raise
        print(f"grokscope-train: {err}", file=sys.stderr)
        sys.exit(128 + err.signum)


if __name__ == "__main__":
    main()
