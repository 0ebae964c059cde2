"""Start-up: a run's Lightning loads without torchmetrics' metrics; code that uses torchmetrics gets all of it;
``grokscope-train`` starts without the garbage collector's scans and freezes what start-up made."""

import subprocess
import sys

SCRIPT = """
import sys
import grokscope.training.callbacks  # imports Lightning
import torchmetrics
assert "torchmetrics.functional" not in sys.modules, "torchmetrics' __init__ ran"
assert "transformers" not in sys.modules and "scipy" not in sys.modules
from torchmetrics.metric import Metric
assert torchmetrics.Metric is Metric and torchmetrics.__version__
from torchmetrics import Accuracy  # the whole package, on demand
from torchmetrics.functional import r2_score
assert torchmetrics.functional.r2_score is r2_score and Accuracy.__name__ == "Accuracy"
import logging
assert len(logging.getLogger("torchmetrics").handlers) == 1
print("ok")
"""


def test_lightning_loads_without_torchmetrics_metrics_and_torchmetrics_stays_whole():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"


COLLECTION = """
import gc
from omegaconf import OmegaConf
from grokscope.cli import startup
from grokscope.cli.sweep_report import SweepReport

def frozen(obj):
    return not any(o is obj for o in gc.get_objects())  # gc.freeze moved it out of the generations

before = []
startup.end()  # not paused: nothing
assert gc.isenabled() and not frozen(before)
with startup.paused():
    assert not gc.isenabled()
assert gc.isenabled() and not frozen(before)  # left before any job started: back on, nothing frozen
with startup.paused():
    SweepReport().on_multirun_start(OmegaConf.create())  # a sweep starts launching its jobs
    assert gc.isenabled() and frozen(before)
    later = []
    startup.end()  # a job of the sweep starts: nothing more
    assert not frozen(later)
gc.disable()
with startup.paused():  # collection was off already: it stays off
    startup.end()
assert not gc.isenabled() and not frozen(later)
print("ok")
"""

RUN = """
import gc, sys
from grokscope.cli import train

def started(run_dir, started=train.started):
    assert not gc.isenabled() and "lightning" in sys.modules  # start-up, collection paused
    started(run_dir)
    assert gc.isenabled() and gc.get_freeze_count() > 100_000  # Lightning, torch, ... frozen

train.started = started
sys.argv = ["grokscope-train", "experiment=tiny_modular", "task.p=11", "model.d_embed=8", "model.hidden=[16]",
            "max_epochs=1", "plots=false", "logger=csv", "progress_bar=false", "hydra.run.dir=run"]
train.main()
assert gc.isenabled()
print("ok")
"""


def test_collection_pauses_until_a_job_or_a_sweep_starts():
    proc = subprocess.run([sys.executable, "-c", COLLECTION], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"


def test_a_run_starts_with_collection_paused_and_freezes_its_start_up(tmp_path):
    proc = subprocess.run([sys.executable, "-c", RUN], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "ok"
    assert (tmp_path / "run" / "summary.json").exists()
