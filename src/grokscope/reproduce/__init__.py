"""Reproductions of the papers' headline results: ``grokscope-reproduce NAME`` runs a paper's sweeps
(:mod:`.plan`, one module per paper) and writes its report from the run dirs (:mod:`.report`)."""
