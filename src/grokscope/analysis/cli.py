"""What the analysis command lines share: usage errors as one line (exit 2) and checked numeric arguments."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose :meth:`error` prints ``<name>: error: <message>`` as one line on stderr (no usage
    block) and exits 2; ``name`` defaults to ``prog``. Sub-command parsers are of the same class."""

    def __init__(self, *args, name: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.name = name or self.prog

    def error(self, message: str) -> NoReturn:
        fail(self.name, message)


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


def fail(name: str, err: BaseException | str) -> NoReturn:
    """How a user mistake ends every command: ``<name>: error: <key>=<value>: <what is allowed>`` as one line on
    stderr, exit status 2."""
    print(f"{name}: error: {' '.join(str(err).split())}", file=sys.stderr)
    sys.exit(2)
