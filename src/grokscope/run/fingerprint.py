"""Whether a run dir may be continued with a config: the resolved configs must agree in every key that
shapes the results.

The run-length and housekeeping keys may change between attempts: ``max_epochs`` (a longer run continues
the same trajectory; a finished run is extended), ``checkpoint_every_n_epochs``, ``steps_per_call`` (epochs
per Lightning step: speed only), ``device``, ``cuda_graph`` (exact where it is used), ``progress_bar``,
``plots``, ``resume``, ``name``, ``logger`` (where rows are sent, not what they are) and ``stop`` (when the run
ends, as ``max_epochs``). Anything else, e.g. ``task.p`` or ``optimizer.lr``, would continue the old weights under
a new label and is refused.

A run dir recorded before a key existed resumes under the key's default: a key the recorded config lacks reads
as the value the code gives it when absent (:data:`ABSENT`, else null), and a metric family the recorded config
lacks reads as not asked for (any ``enabled`` but ``true``: it runs where it applies from then on).
"""

from __future__ import annotations

import hashlib
import json

#: top-level keys (or groups) a run dir may be resumed with different values of.
RUN_LENGTH_KEYS = ("max_epochs", "checkpoint_every_n_epochs", "steps_per_call", "device", "cuda_graph",
                   "progress_bar", "plots", "resume", "name", "logger", "stop")

#: keys added after run dirs were recorded, with the value a recorded config without them reads as
#: (the schemas' defaults; grokscope.config.described)
ABSENT = {"loss.kind": "cross_entropy", "optimizer.orthogonal": False}


def flatten(tree: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}} -> {"a.b": 1}`` (lists stay values)."""
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def differing_keys(recorded: dict, wanted: dict) -> list[str]:
    """The dotted keys whose values differ between two resolved configs, run-length keys excepted. A key one
    config lacks reads as its :data:`ABSENT` value, else null (a key that a later version added with a null
    default, ``ensemble.lr``, leaves the run dirs of earlier versions resumable; the same key set to another value
    is a difference); a metric family one config lacks reads as not asked for (module docstring)."""
    a, b = flatten(recorded), flatten(wanted)
    free = tuple(f"{k}." for k in RUN_LENGTH_KEYS)
    new_families = (*_absent_families(a, b), *_absent_families(b, a))
    return sorted(k for k in a.keys() | b.keys()
                  if a.get(k, ABSENT.get(k)) != b.get(k, ABSENT.get(k)) and k not in RUN_LENGTH_KEYS
                  and not k.startswith(free) and not k.startswith(new_families))


def _absent_families(lacking: dict, having: dict) -> tuple[str, ...]:
    """``metrics.<family>.`` of the metric families ``having`` holds, not asked for (``enabled`` other than true),
    that ``lacking`` has no key of."""
    families = {key.split(".")[1] for key in having if key.startswith("metrics.") and key.endswith(".enabled")}
    return tuple(f"metrics.{name}." for name in families
                 if str(having[f"metrics.{name}.enabled"]).lower() != "true"
                 and not any(key.startswith(f"metrics.{name}.") for key in lacking))


#: top-level keys (or groups) that do not change what a run learns, besides the seeds: the runs of one setting
#: may differ in them (``ensemble``: members of a stack are runs of their own settings).
SETTING_FREE_KEYS = (*RUN_LENGTH_KEYS, "ensemble")


def is_seed_key(key: str) -> bool:
    """``seed`` and every ``seeds.*`` key: what a setting is averaged over."""
    return key == "seed" or key.startswith("seeds.")


def setting_id(resolved: dict) -> str:
    """A short hash of the resolved config without its seeds and :data:`SETTING_FREE_KEYS`: the seeds of one
    setting share it (a dashboard groups them into bands; ``grokscope-collect`` averages over them)."""
    kept = {key: value for key, value in flatten(resolved).items()
            if not is_seed_key(key) and key.split(".")[0] not in SETTING_FREE_KEYS}
    return hashlib.sha1(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:12]
