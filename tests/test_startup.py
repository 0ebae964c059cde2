"""Start-up: a run's Lightning loads without torchmetrics' metrics; code that uses torchmetrics gets all of it."""

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
