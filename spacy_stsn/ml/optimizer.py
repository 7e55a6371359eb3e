"""The paper's optimizer for a spaCy pipeline: torch's AdamW after one clip of the
global gradient norm.

Thinc's ``Adam.v1`` updates every parameter tensor on its own: it clips each tensor's
gradient to norm ``grad_clip`` separately (one device sync per tensor on a GPU) and runs
one Adam kernel per tensor. The paper's setup, like SpERT's code, clips the norm of
*all* gradients together (``torch.nn.utils.clip_grad_norm_``) and takes one
``torch.optim.AdamW`` step.

spaCy's training loop drives an optimizer in two phases, and :class:`TorchAdamW` uses
both:

1. ``proc.finish_update(optimizer)`` calls ``optimizer(key, weights, gradient,
   lr_scale=...)`` once per parameter tensor (thinc's shims hand over torch parameters
   as numpy/cupy views of the same memory, and thinc-native layers their own arrays).
   Here that only *collects*: a torch view of the weights is kept, the gradient is
   copied into a persistent buffer (the caller zeroes it right after) and the weights
   are returned unchanged. The STSN head's shim hands over its torch parameters
   themselves instead (:meth:`TorchAdamW.update_torch_parameters`): no conversion, no
   copy.
2. ``optimizer.step_schedules()``, called once after every step, applies the collected
   step: one ``clip_grad_norm_`` over all collected gradients (foreach, no host sync),
   one multi-tensor AdamW step (``fused`` on CPU and CUDA) with one parameter group per
   ``lr_scale`` (``lr = learn_rate * lr_scale``), then it advances the schedules as
   thinc's optimizer does.

With ``use_averages = true`` it also keeps thinc's moving average of every tensor it
steps (:mod:`spacy_stsn.ml.averaging`), updated after each step, which spaCy's loop uses
to score and save the pipeline, the transformer's weights included.

Outside spaCy's loop, call :meth:`TorchAdamW.step_schedules` (or
:meth:`TorchAdamW.step`) after each ``nlp.update(..., sgd=optimizer)``. A tensor handed
over twice before a step (an update loop that never calls ``step_schedules``) first
applies the pending step, so no gradient is lost or applied twice.
"""

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

import torch
from thinc.api import Optimizer, get_array_module, registry
from thinc.optimizers import ADAM_DEFAULTS, FloatOrSeq, KeyT
from thinc.types import FloatsXd

from .averaging import ParameterAverages


@dataclass
class _Slot:
    """One parameter tensor: a torch view of the pipeline's weights, and the buffer its
    gradient goes to."""

    param: torch.Tensor
    grad: Optional[torch.Tensor]
    # ``grad``'s memory as numpy or cupy (None: a torch parameter's own)
    grad_xp: Optional[FloatsXd]
    lr_scale: float
    address: Optional[int]


def _address(array: FloatsXd) -> int:
    """Where an array's data starts (numpy or cupy), to notice when a layer replaced its
    weights."""
    if hasattr(array, "__array_interface__"):
        return array.__array_interface__["data"][0]
    return array.data.ptr  # cupy


def _as_tensor(array: FloatsXd) -> torch.Tensor:
    """A torch tensor sharing memory with a numpy or cupy array (no copy)."""
    if hasattr(array, "__array_interface__"):
        return torch.from_numpy(array)
    return torch.from_dlpack(array)


class TorchAdamW(Optimizer):
    """A thinc :class:`~thinc.api.Optimizer` whose updates are exactly
    ``torch.optim.AdamW`` after ``torch.nn.utils.clip_grad_norm_`` over all parameters,
    applied once per step in :meth:`step_schedules`.

    ``L2`` is AdamW's decoupled weight decay, ``grad_clip`` the maximum global gradient
    norm (0: no clipping); ``learn_rate``, ``beta1``, ``beta2``, ``eps``, ``L2`` and
    ``grad_clip`` may be schedules, as for thinc's optimizers. ``use_averages`` keeps
    :class:`~spacy_stsn.ml.averaging.ParameterAverages` in ``self.averages``.
    """

    def __init__(
        self,
        learn_rate: FloatOrSeq,
        *,
        L2: FloatOrSeq,
        beta1: FloatOrSeq,
        beta2: FloatOrSeq,
        eps: FloatOrSeq,
        grad_clip: FloatOrSeq,
        use_averages: bool = False,
    ):
        super().__init__(
            learn_rate,
            L2=L2,
            beta1=beta1,
            beta2=beta2,
            eps=eps,
            grad_clip=grad_clip,
            use_averages=False,
            use_radam=False,
            L2_is_weight_decay=True,
        )
        self._slots: Dict[KeyT, _Slot] = {}
        self._pending: Dict[KeyT, _Slot] = {}
        self._torch: Optional[torch.optim.AdamW] = None
        self._groups: Dict[float, dict] = {}
        if use_averages:
            self.averages = ParameterAverages()

    def __call__(
        self, key: KeyT, weights: FloatsXd, gradient: FloatsXd, *, lr_scale: float = 1.0
    ) -> Tuple[FloatsXd, FloatsXd]:
        """Collect one parameter's gradient for the next :meth:`step`; the weights come
        back unchanged (the step updates them in place) and the gradient zeroed, as
        thinc's optimizers leave it."""
        if len(gradient) < 1:
            return weights, gradient
        # a second gradient for this tensor: the first step was never applied
        if key in self._pending:
            self.step()
        slot = self._slots.get(key)
        if (
            slot is None
            or slot.address != _address(weights)
            or slot.lr_scale != lr_scale
            or tuple(slot.param.shape) != tuple(weights.shape)
        ):
            slot = self._new_slot(key, weights, lr_scale)
        # numpy/cupy rather than torch: on CPU a single-threaded memcpy/memset, no
        # OpenMP region per tensor
        slot.grad_xp[...] = gradient.reshape(slot.grad_xp.shape)
        gradient.fill(0)
        self._pending[key] = slot
        self.nr_update[key] += 1
        return weights, gradient

    def update_torch_parameters(
        self,
        shim_id: int,
        parameters: Iterable[Tuple[str, torch.nn.Parameter]],
        *,
        lr_scale: float = 1.0,
    ) -> None:
        """The path for a shim that hands over its torch parameters themselves (the STSN
        head's ``ScaledPyTorchShim``): no numpy/cupy conversion and no copy: the
        optimizer takes each gradient tensor and leaves ``param.grad`` None, so the next
        backward pass writes a fresh one (nothing to zero).

        shim_id (int): the shim's id.
        parameters (Iterable[Tuple[str, torch.nn.Parameter]]): its named parameters.
        lr_scale (float): the multiple of the learning rate for these parameters.
        """
        for name, param in parameters:
            if param.grad is None:
                continue
            key = (shim_id, name)
            if key in self._pending:
                self.step()
            slot = self._slots.get(key)
            if slot is None or slot.param is not param or slot.lr_scale != lr_scale:
                slot = self._register(
                    key,
                    _Slot(
                        param=param,
                        grad=None,
                        grad_xp=None,
                        lr_scale=lr_scale,
                        address=None,
                    ),
                )
            slot.grad, param.grad = param.grad, None
            self._pending[key] = slot
            self.nr_update[key] += 1

    def step(self) -> None:
        """Apply the collected gradients: one global-norm clip, one AdamW step. Nothing
        to do if none."""
        if not self._pending:
            return
        if self.averages is not None:
            self.averages.refuse_while_applied()
        stepped = self._pending
        slots = list(stepped.values())
        self._pending = {}
        # a torch parameter may hold a newer gradient (a backward pass ran before this
        # step): it is kept
        newer = [slot.param.grad for slot in slots]
        for slot in slots:
            slot.param.grad = slot.grad
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(
                [slot.param for slot in slots], self.grad_clip
            )
        adamw = self._torch_optimizer()
        for group in adamw.param_groups:
            group.update(
                lr=self.learn_rate * group["lr_scale"],
                betas=(self.b1, self.b2),
                eps=self.eps,
                weight_decay=self.L2,
            )
        adamw.step()
        if self.averages is not None:
            self.averages.update(
                (key, slot.param, self.nr_update[key]) for key, slot in stepped.items()
            )
        for slot, grad in zip(slots, newer):
            slot.param.grad = grad
            if slot.grad_xp is None:
                slot.grad = (
                    None  # the parameter's own gradient tensor: not kept past its step
                )

    def step_schedules(self) -> None:
        """spaCy's loop calls this once after every ``finish_update`` round: apply the
        step, with the schedules' current values, then advance the schedules."""
        self.step()
        super().step_schedules()

    # -- state
    # ----------------------------------------------------------------------------------
    def _new_slot(self, key: KeyT, weights: FloatsXd, lr_scale: float) -> _Slot:
        """A slot for a tensor seen for the first time, or whose memory, shape or
        lr_scale changed (a layer may replace its weights, e.g. when loaded): the AdamW
        state moves over when the shape is the same."""
        grad_xp = get_array_module(weights).zeros_like(weights)
        return self._register(
            key,
            _Slot(
                param=_as_tensor(weights),
                grad=_as_tensor(grad_xp),
                grad_xp=grad_xp,
                lr_scale=lr_scale,
                address=_address(weights),
            ),
        )

    def _register(self, key: KeyT, slot: _Slot) -> _Slot:
        """Put a new slot in the AdamW parameter groups, in place of the key's old one
        if any."""
        old = self._slots.get(key)
        if old is not None and self._torch is not None:
            group = self._groups[old.lr_scale]["params"]
            # by identity: == on tensors is elementwise
            group[:] = [p for p in group if p is not old.param]
            state = self._torch.state.pop(old.param, None)
            if state is not None and old.param.shape == slot.param.shape:
                self._torch.state[slot.param] = state
        if self._torch is not None:
            self._add_to_group(slot.param, slot.lr_scale)
        self._slots[key] = slot
        return slot

    def _add_to_group(self, param: torch.Tensor, lr_scale: float) -> None:
        if lr_scale in self._groups:
            self._groups[lr_scale]["params"].append(param)
        else:
            self._torch.add_param_group({"params": [param], "lr_scale": lr_scale})
            self._groups[lr_scale] = self._torch.param_groups[-1]

    def _torch_optimizer(self) -> torch.optim.AdamW:
        """torch's AdamW over every parameter seen so far (built at the first step,
        extended as new tensors arrive); ``fused`` where the devices support it, else
        torch's default (``foreach`` on CUDA)."""
        if self._torch is None:
            by_scale: Dict[float, List[torch.Tensor]] = {}
            for slot in self._slots.values():
                by_scale.setdefault(slot.lr_scale, []).append(slot.param)
            devices = {slot.param.device.type for slot in self._slots.values()}
            fused = devices <= {"cpu", "cuda"} or None
            groups = [
                {"params": params, "lr_scale": scale}
                for scale, params in by_scale.items()
            ]
            self._torch = torch.optim.AdamW(
                groups,
                lr=self.learn_rate,
                betas=(self.b1, self.b2),
                eps=self.eps,
                weight_decay=self.L2,
                fused=fused,
            )
            self._groups = {
                group["lr_scale"]: group for group in self._torch.param_groups
            }
        return self._torch


@registry.optimizers("spacy_stsn.AdamW.v1")
def make_torch_adamw(
    learn_rate: FloatOrSeq = ADAM_DEFAULTS["learn_rate"],
    *,
    L2: FloatOrSeq = ADAM_DEFAULTS["L2"],
    beta1: FloatOrSeq = ADAM_DEFAULTS["beta1"],
    beta2: FloatOrSeq = ADAM_DEFAULTS["beta2"],
    eps: FloatOrSeq = ADAM_DEFAULTS["eps"],
    grad_clip: FloatOrSeq = ADAM_DEFAULTS["grad_clip"],
    L2_is_weight_decay: bool = True,
    use_averages: bool = False,
) -> TorchAdamW:
    """``[training.optimizer]`` with ``@optimizers = "spacy_stsn.AdamW.v1"``: the
    settings of thinc's ``Adam.v1``, with the paper's meaning: ``torch.optim.AdamW``
    (``L2`` = decoupled weight decay) after clipping the global gradient norm to
    ``grad_clip``.

    learn_rate (FloatOrSeq): the learning rate, or a schedule.
    L2 (FloatOrSeq): the weight decay.
    beta1 (FloatOrSeq): Adam's first-moment decay.
    beta2 (FloatOrSeq): Adam's second-moment decay.
    eps (FloatOrSeq): Adam's epsilon.
    grad_clip (FloatOrSeq): the most the global gradient norm may be; 0: no clipping.
    L2_is_weight_decay (bool): must be true: ``L2`` is decoupled weight decay (thinc's
        ``Adam.v1`` adds L2 to the gradient).
    use_averages (bool): score and save the moving average of the weights (thinc's),
        applied to the transformer's too through the ``stsn`` component.
    RETURNS (TorchAdamW): the optimizer.
    """
    if not L2_is_weight_decay:
        raise ValueError(
            "spacy_stsn.AdamW.v1 is AdamW: its L2 is decoupled weight decay, so "
            "L2_is_weight_decay must be true (use thinc's Adam.v1 for L2 added to the gradient)"
        )
    return TorchAdamW(
        learn_rate,
        L2=L2,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        grad_clip=grad_clip,
        use_averages=use_averages,
    )
