"""What the analysis command lines share: usage errors as one line (exit 2) and checked argument types."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from grokscope.config import require_writable_dir


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose :meth:`error` prints ``<prog>: error: <message>`` as one line on stderr (no usage
    block) and exits 2. Sub-command parsers are of the same class, so their errors name the sub-command."""

    def error(self, message: str) -> NoReturn:
        fail(self.prog, message)


def at_least(minimum: float, kind=int):
    """An argparse ``type``: ``kind(text)``, refused unless ``>= minimum`` (the message names value and bound)."""
    what = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not value >= minimum:
            raise argparse.ArgumentTypeError(f"{text}: must be {what} >= {minimum:g}")
        return value

    return parse


def comma_list(kind=int):
    """An argparse ``type``: ``"3,17,41"`` as ``[kind(item), ...]`` (refused when empty or an item is not a
    ``kind``)."""

    def parse(text: str) -> list:
        items = [item.strip() for item in text.split(",")]
        try:
            values = [kind(item) for item in items if item]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: must be a comma-separated list of {kind.__name__}") from None
        if not values:
            raise argparse.ArgumentTypeError(f"{text!r}: must name at least one value")
        return values

    return parse


def directory(text: str) -> Path:
    """An argparse ``type``: an existing directory (a run dir, a sweep dir, ``outputs/``)."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: must be an existing directory")
    return path


def fail(prog: str, err: BaseException | str) -> NoReturn:
    """How a user mistake ends every command: ``<prog>: error: <key>=<value>: <what is allowed>`` as one line on
    stderr, exit status 2."""
    print(f"{prog}: error: {' '.join(str(err).split())}", file=sys.stderr)
    sys.exit(2)


def output_dir(out: Path | None, default: Path) -> Path:
    """``out`` (``--out``), else ``default``; :class:`~grokscope.config.ConfigError` naming ``--out`` unless it is a
    directory that can be written or created."""
    out = default if out is None else out
    require_writable_dir("--out", out)
    return out
