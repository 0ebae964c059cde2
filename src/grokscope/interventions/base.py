"""The interface every intervention implements; the training module calls it at named moments."""

from __future__ import annotations


class Intervention:
    """Acts on a model only through ``W_E``/``W_U``/named parameters, and only on the model each hook is handed
    (an ensemble hands each member's weights in turn): it keeps no parameter from one call to the next. The
    moments:

    - :meth:`at_init`: once, after the model and its embedding are initialised (before training);
    - :meth:`at_epoch`: at the start of every block of training epochs; the module stops at each epoch of
      ``epochs`` so that it sees them all (resuming from a checkpoint sees the current epoch again);
    - ``after_step(model)``: after every optimizer step, on the device and without host sync; ``None`` (the
      default) keeps the module's step loop free of it;
    - :meth:`metrics`: extra metrics logged on the metrics cadence.
    """

    epochs: frozenset[int] = frozenset()
    after_step = None

    def at_init(self, model, task) -> None:  # noqa: B027 - optional hook
        pass

    def at_epoch(self, model, epoch: int) -> None:  # noqa: B027 - optional hook
        pass

    def metrics(self) -> list:
        return []
