"""Pre-emption: SIGTERM, SIGUSR1 or SIGUSR2 (Slurm, submitit) ask a run to checkpoint at the next epoch
boundary and stop, so that a requeued job loses nothing; a joblib worker whose sweep process died stops
the same way instead of working on."""

from __future__ import annotations

import os
import signal
import threading

SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


class Preempted(BaseException):
    """The run stopped at a checkpoint because it was asked to; the same command resumes it. A
    ``BaseException``: nothing on the way up may record it as a failure."""

    def __init__(self, signum: int, epoch: int):
        self.signum, self.epoch = signum, epoch
        super().__init__(f"stopped by {signal.Signals(signum).name} at epoch {epoch}; the same command resumes it")


class StopSignals:
    """While entered, the signals of :data:`SIGNALS` only set :attr:`signum` (read by :meth:`requested` at
    epoch boundaries). ``watch_parent``: the death of the parent process counts as SIGTERM (checked each
    second). On exit the previous handlers come back; :meth:`forward` hands a caught signal to the previous
    handler when it was a Python one (submitit's requeue)."""

    def __init__(self, watch_parent: bool = False):
        self.watch_parent = watch_parent
        self.signum: int | None = None
        self._previous: dict[int, object] = {}
        self._done = threading.Event()

    def requested(self) -> bool:
        return self.signum is not None

    def _catch(self, signum, frame) -> None:
        self.signum = signum

    def install(self) -> None:
        """Catch the signals (again: Lightning's ``fit`` puts its own SIGTERM handler, which exits 0)."""
        if threading.current_thread() is threading.main_thread():
            previous = {s: signal.signal(s, self._catch) for s in SIGNALS}
            self._previous = self._previous or previous

    def __enter__(self) -> StopSignals:
        self.install()
        if self.watch_parent:
            parent = os.getppid()
            threading.Thread(target=self._watch, args=(parent,), daemon=True).start()
        return self

    def _watch(self, parent: int) -> None:
        while not self._done.wait(1.0):
            if os.getppid() != parent:
                self.signum = signal.SIGTERM
                return

    def __exit__(self, *exc) -> None:
        self._done.set()
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def forward(self) -> None:
        """Call the previous Python handler of the caught signal, if there was one."""
        handler = self._previous.get(self.signum)
        if callable(handler):
            handler(self.signum, None)
