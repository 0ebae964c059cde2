"""``grokscope-train`` starts without the cyclic garbage collector's scans.

Start-up makes objects that live as long as the process: the modules of torch, ``torch._dynamo``, Lightning and
matplotlib, and Hydra's config (some 600,000 that the collector tracks). The collector scans the youngest every
700 allocations and, ever less often, all of them: during start-up, about a sixth of a one-epoch run's CPU time
(docs/speed.md, Start-up). :func:`paused` turns collection off while the command starts; :func:`end`, once a job
has loaded what it trains with or a sweep starts launching its jobs, moves every object made so far to the
permanent generation (``gc.freeze``), which later collections skip, and turns collection back on. Reference
counting frees what start-up drops, as always; only the reference cycles made during start-up (some tens of
thousands of small objects: Hydra's parse trees, the frames of caught exceptions) are kept.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

_paused = False


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Collection off (unless it is off already) until :func:`end`; at the latest, on leaving, back on without a
    freeze (a command that ended before any job started)."""
    global _paused
    _paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _paused:
            _paused = False
            gc.enable()


def end() -> None:
    """Start-up is over: freeze the objects made so far and turn collection back on; nothing unless
    :func:`paused` turned it off (a sweep's later jobs; a job run other than through ``grokscope-train``)."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()
