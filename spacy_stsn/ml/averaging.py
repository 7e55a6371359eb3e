"""Parameter averaging for ``spacy_stsn.AdamW.v1`` (``use_averages = true``): thinc's
exponential moving average of the weights, kept as torch tensors and applied in place.

spaCy evaluates and saves a pipeline inside ``nlp.use_params(optimizer.averages)``.
Thinc's own averages never reach weights that torch holds: its optimizers key them by
``(id, name)``, while ``PyTorchShim.use_params`` looks for ``pytorch_{id}_{name}`` keys
and loads them strictly, so a spacy-transformers encoder would be scored and saved
unaveraged. Here every tensor the optimizer steps (thinc arrays, the transformer's and
the STSN head's torch parameters alike) has its average beside it, updated with one
multi-tensor ``lerp`` per step, and :meth:`ParameterAverages.applied` swaps the averages
in and out in place. The ``stsn`` component enters it from its ``use_params``, so a
pipeline with an ``stsn`` component uses the averages for all the weights the optimizer
trains; thinc's key lookups find nothing in this object and change nothing.
"""

from contextlib import contextmanager
from typing import Dict, Hashable, Iterable, Iterator, List, Tuple

import torch


def decay_at(t: int, max_decay: float) -> float:
    """Thinc's averaging decay after ``t`` updates (``Ops.update_averages``): short
    memory early in training, growing to ``max_decay``.

    t (int): the updates so far.
    max_decay (float): the decay it grows to.
    RETURNS (float): the decay.
    """
    return min((1.0 + t) / (10.0 + t), max_decay)


class ParameterAverages:
    """Moving averages of parameter tensors, keyed as the optimizer keys them.

    Thinc starts an average at zero; here it starts at the weights after their first
    step, which is what zero's share (the product of the decays, below 1e-9 after 100
    steps) tends to anyway. Truthy once it holds an average, as spaCy's loop tests
    ``if optimizer.averages``.
    """

    def __init__(self, max_decay: float = 0.9999):
        self.max_decay = max_decay
        self._averages: Dict[Hashable, torch.Tensor] = {}
        self._params: Dict[Hashable, torch.Tensor] = {}
        self._depth = 0
        self._swapped: List[torch.Tensor] = []
        self._backup: List[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self._averages)

    def __bool__(self) -> bool:
        return bool(self._averages)

    def __contains__(self, key: object) -> bool:
        """Thinc's ``Model.use_params`` asks for ``(id, name)`` keys: none is here, so
        it sets nothing (:meth:`applied` does it in place)."""
        return False

    def items(self) -> Iterator[Tuple[Hashable, torch.Tensor]]:
        """Thinc's ``PyTorchShim.use_params`` looks for a state dict here: none."""
        return iter(())

    def average(self, key: Hashable) -> torch.Tensor:
        """The average of the tensor stepped under ``key``.

        key (Hashable): the tensor's key.
        RETURNS (torch.Tensor): its average.
        """
        return self._averages[key]

    def refuse_while_applied(self) -> None:
        """A training step inside ``nlp.use_params(optimizer.averages)`` would step the
        averages and be undone when the block ends: refused before it starts."""
        if self._depth:
            raise RuntimeError(
                "parameter averages are applied: no training step inside "
                "nlp.use_params(optimizer.averages)"
            )

    @torch.no_grad()
    def update(self, stepped: Iterable[Tuple[Hashable, torch.Tensor, int]]) -> None:
        """Move the averages towards the weights just stepped: ``(key, weights, t)``
        with ``t`` the tensor's update count. One ``_foreach_lerp_`` per distinct
        decay (all tensors share one in spaCy's loop); a new key, or a tensor whose
        shape changed, starts from its weights.

        stepped (Iterable[Tuple[Hashable, torch.Tensor, int]]): the tensors stepped.
        """
        self.refuse_while_applied()
        by_decay: Dict[float, Tuple[List[torch.Tensor], List[torch.Tensor]]] = {}
        for key, param, t in stepped:
            self._params[key] = param
            average = self._averages.get(key)
            if average is None or average.shape != param.shape:
                self._averages[key] = param.detach().clone()
                continue
            averages, params = by_decay.setdefault(
                decay_at(t, self.max_decay), ([], [])
            )
            averages.append(average)
            params.append(param.detach())
        for decay, (averages, params) in by_decay.items():
            torch._foreach_lerp_(averages, params, 1.0 - decay)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Within the block the weights are their averages; after it, what they were.
        Re-entrant: spaCy enters every component's ``use_params`` in turn, and only the
        outermost entry swaps."""
        if self._depth == 0 and self._averages:
            self._swap_in()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._backup:
                self._swap_out()

    @torch.no_grad()
    def _swap_in(self) -> None:
        # the tensors swapped, kept so the swap back needs no second lookup
        self._swapped = [self._params[key] for key in self._averages]
        self._backup = [param.detach().clone() for param in self._swapped]
        torch._foreach_copy_(self._swapped, list(self._averages.values()))

    @torch.no_grad()
    def _swap_out(self) -> None:
        torch._foreach_copy_(self._swapped, self._backup)
        self._swapped, self._backup = [], []
