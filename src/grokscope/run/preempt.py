"""Pre-emption: SIGTERM, SIGUSR1 or SIGUSR2 (Slurm, submitit) ask a run to checkpoint at the next epoch
boundary and stop, so that a requeued job loses nothing; a joblib worker whose sweep process died stops
the same way instead of working on, and then ends without taking another job (:class:`OrphanGuard`)."""

from __future__ import annotations

import os
import signal
import threading
import time

SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
#: env var holding the pid of the sweep process (``grokscope-train`` sets it; its joblib workers inherit it)
SWEEP_PID = "GROKSCOPE_SWEEP_PID"
#: how often a worker looks for its sweep process, in seconds
WATCH_SECONDS = 1.0


def sweep_pid() -> int | None:
    pid = os.environ.get(SWEEP_PID, "")
    return int(pid) if pid.isdigit() else None


def orphaned() -> bool:
    """Whether this process is a worker of a sweep process that died (it is no longer this process's parent)."""
    pid = sweep_pid()
    return pid is not None and pid != os.getpid() and os.getppid() != pid


class OrphanGuard:
    """In a joblib worker: a worker whose sweep process died takes no further job. :meth:`start_job` ends the
    process (exit 128 + SIGTERM) instead of starting one; between jobs a daemon thread ends it within
    :data:`WATCH_SECONDS`; during a job :class:`StopSignals` (``watch_parent``) stops the run at a checkpoint, and
    :meth:`end_job` then ends the process. One guard per process (:meth:`get`)."""

    _instance: OrphanGuard | None = None

    def __init__(self):
        self.busy = False
        self._lock = threading.Lock()
        threading.Thread(target=self._watch, daemon=True).start()

    @classmethod
    def get(cls) -> OrphanGuard:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def _watch(self) -> None:
        while True:
            time.sleep(WATCH_SECONDS)
            with self._lock:
                if not self.busy and orphaned():
                    os._exit(128 + signal.SIGTERM)

    def start_job(self) -> None:
        with self._lock:
            if orphaned():
                os._exit(128 + signal.SIGTERM)
            self.busy = True

    def end_job(self) -> None:
        with self._lock:
            self.busy = False
            if orphaned():
                os._exit(128 + signal.SIGTERM)


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
        if self.watch_parent:  # the sweep process when known: a job started after it died stops at once
            pid = sweep_pid()
            parent = pid if pid is not None and pid != os.getpid() else os.getppid()
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
