"""Weights cast to the autocast dtype once, not at every inference call.

Under ``torch.autocast`` every matrix product casts its float32 weight to the autocast
dtype (bfloat16 on CPU, see :mod:`spacy_stsn.ml.precision`) and autocast forgets the
copy when its region closes. A pipeline opens one region per ``predict`` call, so every
call re-casts every weight: for the transformer and the STSN head at one short sentence
that is as much memory traffic as their arithmetic (the profile: benchmarks/README.md,
"The head's profile, and the fix: weights cast once").

Here the cast copy of a weight is kept with the weight and reused until the weight
may have changed: another storage, an in-place update that bumps the tensor's version
counter (loading weights, parameter averages), any ``torch.optim`` step (a global step
hook: the fused AdamW of :mod:`spacy_stsn.ml.optimizer` updates in place without bumping
versions) and any training pass (:func:`invalidate`, called by
:mod:`spacy_stsn.ml.precision` before each ``begin_update``: thinc's own optimizers
replace ``param.data`` after it). Only inference uses the copies: where gradients are
recorded (training), autocast casts as it always did. The numbers are autocast's own:
the same cast of the same weight, once.
"""

import functools
from typing import Optional

import torch
from torch import Tensor, nn
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.utils.weak import WeakIdKeyDictionary

# weight -> ((generation, data pointer, version, dtype), cast copy)
_CASTS = WeakIdKeyDictionary()
_GENERATION = [0]


def invalidate(*_: object) -> None:
    """Make every cast copy stale, to be cast again at its next use (weights may
    change): before training passes and after every ``torch.optim`` step."""
    _GENERATION[0] += 1


register_optimizer_step_post_hook(invalidate)


def inference_autocast_dtype(device_type: str) -> Optional[torch.dtype]:
    """The dtype autocast casts matrix products to on ``device_type`` when this is an
    inference pass under autocast (no gradient recorded); None otherwise."""
    if torch.is_grad_enabled() or not torch.is_autocast_enabled(device_type):
        return None
    return torch.get_autocast_dtype(device_type)


def cast_weight(weight: Optional[Tensor]) -> Optional[Tensor]:
    """``weight`` as an inference pass under autocast multiplies it: its copy in the
    autocast dtype, made once per version of the weight; ``weight`` itself outside such
    a pass (training, float32) or when it has that dtype already.

    weight (Optional[Tensor]): a floating parameter (None: no bias). RETURNS
    (Optional[Tensor]): what to multiply with.
    """
    # what autocast leaves alone: no tensor, integers, float64
    if (
        weight is None
        or not weight.is_floating_point()
        or weight.dtype == torch.float64
    ):
        return weight
    dtype = inference_autocast_dtype(weight.device.type)
    if dtype is None or weight.dtype == dtype:
        return weight
    key = (_GENERATION[0], weight.data_ptr(), weight._version, dtype)
    entry = _CASTS.get(weight)
    if entry is None or entry[0] != key:
        # an ordinary tensor, usable in later passes inside or outside inference mode
        with torch.inference_mode(False), torch.no_grad():
            entry = (key, weight.detach().to(dtype))
        _CASTS[weight] = entry
    return entry[1]


def linear(layer: nn.Linear, x: Tensor) -> Tensor:
    """``layer(x)`` with the layer's weights from :func:`cast_weight`."""
    return nn.functional.linear(x, cast_weight(layer.weight), cast_weight(layer.bias))


def cast_once(module: nn.Module) -> nn.Module:
    """Make every ``nn.Linear`` of ``module`` take its weights from
    :func:`cast_weight` (an instance ``forward``, the same function as
    ``nn.Linear.forward`` outside inference under autocast); done once per module.
    Layers with a ``forward`` of their own class (quantised, LoRA ...) are left
    alone."""
    if vars(module).get("_stsn_cast_once"):
        return module
    for layer in module.modules():
        if isinstance(layer, nn.Linear) and type(layer).forward is nn.Linear.forward:
            layer.forward = functools.partial(linear, layer)
    module._stsn_cast_once = True
    return module
