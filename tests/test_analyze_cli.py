"""``grokscope-analyze``: its sub-commands and their help, one-line usage errors with exit status 2 in every one,
and analysis code that never switches the user's matplotlib backend."""

from __future__ import annotations

import argparse
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import grokscope.analysis
from grokscope.cli.analyze import main, parser

SRC = Path(__file__).resolve().parents[1] / "src"

#: Every command, and the positional argument a missing directory is refused for.
COMMANDS = {("collect",): "paths", ("phase-diagram",): "paths", ("oocl",): "sweep_dir", ("remetric",): "run_dir",
            ("llc",): "run_dir", ("circles", "survival"): "dirs", ("circles", "gradient"): "dirs",
            ("circles", "collab"): "run_dir",
            ("circles", "ode"): "run_dir", ("circles", "ode-sweep"): "dirs", ("circles", "perturb"): "dirs",
            ("circles", "construct"): "dirs", ("circles", "ablate"): "dirs", ("circles", "ablate-freqs"): "run_dir"}


def leaf_commands(node: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """``(command path, parser)`` of every command that takes no further sub-command."""
    subcommands = [a for a in node._actions if isinstance(a, argparse._SubParsersAction)]
    if not subcommands:
        yield path, node
    for action in subcommands:
        for name, sub in action.choices.items():
            yield from leaf_commands(sub, (*path, name))


def python(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_commands_are_those_listed():
    assert {path for path, _ in leaf_commands(parser())} == set(COMMANDS)


@pytest.mark.parametrize(("command", "argument"), COMMANDS.items(), ids=[" ".join(c) for c in COMMANDS])
def test_a_usage_error_is_one_line_naming_the_argument_and_exits_2(tmp_path, capsys, command, argument):
    missing = tmp_path / "missing"
    with pytest.raises(SystemExit) as exit_:
        main([*command, str(missing)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err == (f"grokscope-analyze {' '.join(command)}: error: argument {argument}: '{missing}': must be an "
                   "existing directory\n")
    with pytest.raises(SystemExit) as exit_:
        main([*command, str(tmp_path), "--bogus", "1"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err == (f"grokscope-analyze {' '.join(command)}: error: unrecognized "
                                             "arguments: --bogus 1\n")
    assert list(tmp_path.iterdir()) == []


def test_the_command_line_exits_2_without_a_command_or_with_an_unknown_one(capsys):
    for args, message in (((), "grokscope-analyze: error: the following arguments are required: COMMAND"),
                          (("circles",), "circles: error: the following arguments are required: ANALYSIS"),
                          (("circles", "bogus"), "circles: error: argument ANALYSIS: invalid choice: 'bogus'")):
        with pytest.raises(SystemExit) as exit_:
            main(list(args))
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and err.count("\n") == 1 and message in err, err
    proc = python("-m", "grokscope.cli.analyze", "circles", "bogus")  # the console entry's own exit status
    assert proc.returncode == 2 and proc.stdout == "" and proc.stderr.count("\n") == 1, proc.stderr


def test_help_lists_the_commands_and_each_commands_arguments(capsys):
    for command in ((), ("circles",), *COMMANDS):
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--help"])
        out = capsys.readouterr().out
        assert exit_.value.code == 0 and out.startswith(f"usage: {' '.join(['grokscope-analyze', *command])} ")
        depth = len(command)
        listed = {path[depth] for path in COMMANDS if path[:depth] == command and len(path) > depth}
        assert all(f"\n    {name}" in out for name in listed), out
        if command in COMMANDS:
            assert f"\n  {COMMANDS[command]} " in out, out


def test_importing_and_plotting_keep_the_users_matplotlib_backend(tmp_path):
    """The backend a notebook chose is the backend it has after importing every analysis module and the command,
    and after an analysis has drawn and written a figure."""
    modules = [m.name for m in pkgutil.iter_modules(grokscope.analysis.__path__, "grokscope.analysis.")]
    code = "\n".join([
        "import matplotlib",
        "matplotlib.use('svg')",
        *(f"import {name}" for name in [*modules, "grokscope.cli.analyze", "grokscope.run.lifecycle",
                                          "grokscope.run.finalise", "grokscope.metrics.families"]),
        "import pandas as pd",
        "from pathlib import Path",
        "from grokscope.analysis.survival import plot_survival",
        "table = pd.DataFrame({'run_dir': ['a'] * 4, 'initial_signal': [1.0, 2.0, 3.0, 4.0],",
        "                      'survived': [False, False, True, True]})",
        f"plot_survival(table, Path({str(tmp_path / 'survival.png')!r}))",
        "print(matplotlib.get_backend())",
    ])
    proc = python("-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["svg"]
    assert (tmp_path / "survival.png").read_bytes().startswith(b"\x89PNG")
