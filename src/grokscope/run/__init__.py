"""The run layer: a run directory (:class:`RunDir`) and the one lifecycle of runs and ensembles."""

from grokscope.run.build import build, build_with_interventions, recorder_parts, resolve_device
from grokscope.run.lifecycle import Job, execute
from grokscope.run.preempt import Preempted
from grokscope.run.rundir import RunDir

__all__ = ["Job", "Preempted", "RunDir", "build", "build_with_interventions", "execute", "recorder_parts",
           "resolve_device"]
