"""Operator profiles and arithmetic rates of the pipeline's torch parts, shared by
``profile_inference.py`` and ``speed_training.py``.

:func:`count_flops` counts the floating-point operations of a call from the shapes of
its matrix products and attention (``torch.utils.flop_counter``; CPU's fused attention
kernel added, which torch 2.13 does not count), so a part's achieved rate is those
FLOPs over the part's measured time. :func:`top_operators` runs a call under
``torch.profiler`` with shapes (and optionally stacks) and returns its top operators by
self time.
"""

from typing import Any, Callable, Dict, List, Tuple

from harness import fmt, markdown_table
from measure import time_call


def _sdpa_cpu_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query, key, value)


def _sdpa_cpu_backward_flops(grad_out, query, key, value, *args, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_backward_flop_count

    return sdpa_backward_flop_count(grad_out, query, key, value)


def count_flops(func: Callable[[], Any]) -> Tuple[int, Any]:
    """The FLOPs of ``func()`` counted from the shapes of its matrix products and
    attention (forward and, if it runs one, backward), and its result."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    aten = torch.ops.aten
    extra = {
        aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops,
        aten._scaled_dot_product_flash_attention_for_cpu_backward: (
            _sdpa_cpu_backward_flops
        ),
    }
    with FlopCounterMode(display=False, custom_mapping=extra) as counter:
        result = func()
    return counter.get_total_flops(), result


def _where(stack: List[str]) -> str:
    """The innermost frame of ``stack`` outside torch (our code, transformers, thinc):
    the line that called the operator."""
    for frame in stack:
        if "/torch/" not in frame and "<built-in" not in frame:
            return frame.split("site-packages/")[-1].split("/wt/")[-1]
    return ""


def top_operators(
    func: Callable[[], Any], top: int, with_stack: bool = False
) -> List[Dict[str, Any]]:
    """The ``top`` operators of ``func()`` by self CPU time, one row per operator and
    input shapes (and calling line with ``with_stack``)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(
        activities=[ProfilerActivity.CPU], record_shapes=True, with_stack=with_stack
    ) as prof:
        func()
    events = prof.key_averages(
        group_by_input_shape=True, group_by_stack_n=8 if with_stack else 0
    )
    total = sum(e.self_cpu_time_total for e in events) or 1
    ranked = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return [
        {
            "op": e.key,
            "shapes": str(e.input_shapes),
            "where": _where(e.stack) if with_stack else "",
            "calls": e.count,
            "self_cpu_s": e.self_cpu_time_total / 1e6,
            "self_share": e.self_cpu_time_total / total,
        }
        for e in ranked
    ]


def operators_table(rows: List[Dict[str, Any]]) -> str:
    """Markdown of :func:`top_operators`' rows."""
    stack = any(r["where"] for r in rows)
    header = ["op", "input shapes", "calls", "self CPU s", "% of op self time"]
    lines = [
        [
            f"`{r['op']}`",
            r["shapes"] if len(r["shapes"]) <= 60 else r["shapes"][:57] + "...",
            r["calls"],
            fmt(r["self_cpu_s"], 3),
            fmt(100 * r["self_share"], 1),
        ]
        + ([f"`{r['where']}`"] if stack else [])
        for r in rows
    ]
    return markdown_table(header + (["called from"] if stack else []), lines)


class ShimSplit:
    """Seconds (or FLOPs) per part of a training step: the forward pass and the
    backward pass of every PyTorch shim of the named components, each wrapped on its
    instance (``begin_update`` and the ``backprop`` it returns), added into
    :attr:`totals` under "PART forward" / "PART backward"."""

    def __init__(self, nlp: Any, parts: Dict[str, str]) -> None:
        """``parts``: component name -> part name (e.g. "transformer" -> "encoder")."""
        from thinc.api import PyTorchShim

        self.totals: Dict[str, float] = {}
        self.counting = False  # FLOPs instead of seconds
        for component, part in parts.items():
            for node in nlp.get_pipe(component).model.walk():
                for shim in node.shims:
                    if isinstance(shim, PyTorchShim):
                        shim.begin_update = self._wrap(part, shim.begin_update)

    def _measure(self, key: str, func: Callable[[], Any]) -> Any:
        if self.counting:
            amount, result = count_flops(func)
        else:
            amount, result = time_call(func)
        self.totals[key] = self.totals.get(key, 0.0) + amount
        return result

    def _wrap(self, part: str, begin_update: Callable) -> Callable:
        def begin(inputs: Any) -> Any:
            output, backprop = self._measure(
                f"{part} forward", lambda: begin_update(inputs)
            )
            return output, lambda d: self._measure(
                f"{part} backward", lambda: backprop(d)
            )

        return begin

    def take(self) -> Dict[str, float]:
        """The totals since the last call, and start again."""
        totals, self.totals = self.totals, {}
        return totals
