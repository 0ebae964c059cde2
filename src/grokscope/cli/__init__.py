"""Command-line entries: ``grokscope-train`` (compose, check, run, report) and its help and sweep report."""
