"""What a dashboard picture costs: each built-in family's media at the default run's sizes (p = 97, 512 hidden
neurons; S5's irreps), drawn on one :class:`~grokscope.figures.MediaCanvas` as a WandB sink draws them (the first
picture of a key makes its figure, later ones update it), then handed to ``wandb.Image``.

    python scripts/bench_media.py [--repeats 10]

Prints, per picture, the milliseconds of CPU time of its first draw and the median of the later ones (the target:
about 50 ms a picture), and the same for ``wandb.Image`` of the drawn array.
"""

from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import numpy as np

from grokscope.figures import MediaCanvas
from grokscope.groups.basis import group_basis
from grokscope.groups.families import symmetric
from grokscope.metrics.circles import FAMILY as CIRCLES
from grokscope.metrics.fourier import FAMILY as FOURIER
from grokscope.metrics.pizza import FAMILY as PIZZA
from grokscope.metrics.progress import FAMILY as PROGRESS
from grokscope.metrics.rep_theory import FAMILY as REP

P, D_HIDDEN = 97, 512


def pictures(rng):
    k = (P - 1) // 2
    modular = SimpleNamespace(modulus=P, group=None)
    group = symmetric(5)
    n_irreps = len(group_basis(group).names)
    inputs = [
        (FOURIER, {"fourier/W_E_power": rng.random((2, k + 1))}, modular),
        (CIRCLES, {"circles/signal": rng.random((2, k + 1)), "circles/is_circle": rng.random((2, k)) > 0.9}, modular),
        (PROGRESS, {"progress/neuron_freq": rng.integers(0, k + 1, D_HIDDEN),
                    "progress/key_freqs": rng.random(k) > 0.9}, modular),
        (PIZZA, {"pizza/correct_logits": rng.random((P, P)), "pizza/max_wrong_logits": rng.random((P, P))}, modular),
        (REP, {"rep/logit_similarity": rng.random(n_irreps), "rep/key_irreps": rng.random(n_irreps) > 0.7},
         SimpleNamespace(modulus=None, group=group)),
    ]
    return [(key, picture) for family, values, task in inputs for key, picture in family.media(values, task)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    import wandb

    rng = np.random.default_rng(0)
    canvas = MediaCanvas()
    print(f"{'picture':36s} {'first ms':>9s} {'later ms':>9s} {'wandb.Image ms':>15s}")
    for key, picture in pictures(rng):
        times = []
        for epoch in range(args.repeats + 1):
            start = time.process_time()
            rgb = canvas.draw(key, picture, f"modular_add_97_mlp_seed0 · epoch {epoch}")
            times.append(time.process_time() - start)
        start = time.process_time()
        for _ in range(args.repeats):
            wandb.Image(rgb, caption=picture.caption)
        image = (time.process_time() - start) / args.repeats
        print(f"{key:36s} {1e3 * times[0]:9.1f} {1e3 * float(np.median(times[1:])):9.1f} {1e3 * image:15.1f}")


if __name__ == "__main__":
    main()
