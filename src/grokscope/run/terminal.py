"""What a run shows at the terminal: its dir, a progress bar and a one-line outcome; Lightning's and wandb's
own lines only when ``GROKSCOPE_VERBOSE=1``."""

from __future__ import annotations

import os

#: env var: ``1`` lets Lightning's and wandb's own lines through to the terminal.
VERBOSE = "GROKSCOPE_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE, "") not in ("", "0")
