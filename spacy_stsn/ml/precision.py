"""One compute precision for the whole pipeline: bfloat16 autocast through the
transformer and the STSN head.

Current servers multiply bfloat16 natively (Intel AMX, AVX512-BF16 on Intel and AMD,
CUDA devices from Ampere on), and thinc's ``PyTorchShim`` only ever autocasts on CUDA,
in float16. The setting lives in one pipeline callback, so ``spacy train``, ``spacy
evaluate``, ``spacy.load`` and a packaged pipeline all honour it:

    [nlp.after_pipeline_creation] @callbacks = "spacy_stsn.precision.v1" precision =
    "auto"

It reaches every PyTorch model of the pipeline (any spacy-transformers model, the STSN
head) through its thinc shim: each pass (``begin_update`` in training, ``predict`` at
inference) runs under ``torch.autocast(dtype=torch.bfloat16)`` on the device the module
lives on, and its floating outputs are cast back to float32. So weights, gradients and
optimizer state stay float32 (the saved pipeline is the same whatever the precision, and
loads in the other one), the losses are computed in float32 on those outputs, and numpy
never sees a bfloat16 array (it has no such type). Backward runs outside autocast, as
torch requires; bfloat16 has float32's range, so no gradient scaler is needed.
"""

import functools
from typing import Any, Callable, Dict, FrozenSet, Optional

import torch
from spacy.language import Language
from spacy.util import registry
from thinc.api import Model, PyTorchShim

from ..nn.cast_cache import cast_once, invalidate
from .concurrency import make_shim_thread_safe
from .runtime import release_free_memory
from .upstream import listeners

PRECISIONS = ("float32", "bfloat16", "auto")
# CPU flags of native bfloat16 arithmetic: Intel AMX and AVX512-BF16 (x86, /proc/cpuinfo
# "flags"), Arm's BF16 extension (aarch64, "Features")
NATIVE_BF16_CPU_FLAGS = frozenset({"amx_bf16", "avx512_bf16", "bf16"})


def check_precision(precision: str) -> str:
    """``precision`` if it is one of ``PRECISIONS``, else a ``ValueError`` naming them.

    precision (str): the precision asked for.
    RETURNS (str): ``precision``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    return precision


@functools.lru_cache(maxsize=1)
def cpu_flags() -> FrozenSet[str]:
    """This CPU's feature flags as Linux reports them; empty where /proc/cpuinfo does
    not exist."""
    try:
        with open("/proc/cpuinfo", encoding="utf8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def native_bfloat16(
    device: torch.device, flags: Optional[FrozenSet[str]] = None
) -> bool:
    """Whether ``device`` multiplies bfloat16 natively.

    device (torch.device): the device.
    flags (Optional[FrozenSet[str]]): the CPU's flags; None: read from the machine.
    RETURNS (bool): whether it does.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(NATIVE_BF16_CPU_FLAGS & (cpu_flags() if flags is None else flags))
    return False


def resolve(
    precision: str, device: torch.device, flags: Optional[FrozenSet[str]] = None
) -> Optional[torch.dtype]:
    """The autocast dtype of ``precision`` on ``device``: None (float32) or
    ``torch.bfloat16``; ``auto`` is bfloat16 where the device executes it natively,
    float32 elsewhere (emulated bfloat16 is slower).

    precision (str): "float32", "bfloat16" or "auto".
    device (torch.device): the device.
    flags (Optional[FrozenSet[str]]): the CPU's flags; None: read from the machine.
    RETURNS (Optional[torch.dtype]): the dtype.
    """
    check_precision(precision)
    if precision == "bfloat16" or (
        precision == "auto" and native_bfloat16(device, flags)
    ):
        return torch.bfloat16
    return None


def to_float32(value: Any) -> Any:
    """``value`` with every floating tensor in it (tuples, named tuples, lists, dicts,
    Hugging Face ``ModelOutput``s) cast to float32; other values unchanged.

    value (Any): the value.
    RETURNS (Any): the value cast.
    """
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
        return type(value)(*(to_float32(v) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(to_float32(v) for v in value)
    if isinstance(value, dict):
        # in place: a ModelOutput keeps its attributes in step
        for key in list(value.keys()):
            value[key] = to_float32(value[key])
    return value


def set_shim_precision(shim: PyTorchShim, precision: str, inference: str) -> None:
    """Run ``shim``'s module in ``precision`` when training and in ``inference`` when
    predicting.

    The shim's ``predict`` and ``begin_update`` are wrapped once (on the instance); the
    precisions and the module are read at each call (spacy-transformers replaces the
    module when it loads weights).

    shim (PyTorchShim): the shim.
    precision (str): the precision in training.
    inference (str): the precision at inference.
    """
    # this wrapper calls the thread-safe predict (spacy_stsn.ml.concurrency)
    make_shim_thread_safe(shim)
    shim._stsn_precision = {
        "begin_update": check_precision(precision),
        "predict": check_precision(inference),
    }
    if "_stsn_wrapped" in vars(shim):
        return
    for name in ("begin_update", "predict"):
        setattr(shim, name, functools.partial(_call, shim, name, getattr(shim, name)))
    shim._stsn_wrapped = True


def _call(shim: PyTorchShim, name: str, method: Callable, inputs: Any) -> Any:
    """``shim.<name>(inputs)`` under autocast to the precision's dtype, with float32
    outputs."""
    if name == "begin_update":
        invalidate()  # the weights change after a training pass (cast_cache)
    module = shim._model
    params = next(module.parameters(), None) if module is not None else None
    dtype = (
        None if params is None else resolve(shim._stsn_precision[name], params.device)
    )
    if dtype is None:
        return method(inputs)
    device_type = params.device.type
    if name == "predict":
        # every inference call would cast every weight again (autocast forgets its
        # copies when the region closes): the casts are kept with the weights instead
        cast_once(module)
    # thinc's shim opens an autocast("cuda", enabled=mixed_precision) of its own inside
    # this one: enabled, it keeps this dtype; disabled, it would switch a CUDA autocast
    # off again
    mixed = shim._mixed_precision
    shim._mixed_precision = mixed or device_type == "cuda"
    try:
        with torch.autocast(device_type, dtype=dtype):
            result = method(inputs)
    finally:
        shim._mixed_precision = mixed
    if name == "predict":
        return to_float32(result)
    output, backprop = (
        result  # backprop runs later, outside autocast, as torch requires
    )
    if device_type == "cpu":
        backprop = _releasing(backprop)
    return to_float32(output), backprop


def _releasing(backprop: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``backprop``, then the memory the step freed back to the operating system
    (:mod:`spacy_stsn.ml.runtime`: without it a bfloat16 CPU training grows by GiBs)."""

    def backprop_and_release(d_output: Any) -> Any:
        d_inputs = backprop(d_output)
        release_free_memory()
        return d_inputs

    return backprop_and_release


def set_model_precision(
    model: Model, precision: str, inference: Optional[str] = None
) -> None:
    """The precision of every PyTorch module in a thinc model.

    model (Model): the model.
    precision (str): the precision in training.
    inference (Optional[str]): the precision at inference; None: ``precision``.
    """
    for node in model.walk():
        for shim in node.shims:
            if isinstance(shim, PyTorchShim):
                set_shim_precision(shim, precision, inference or precision)


@registry.callbacks("spacy_stsn.precision.v1")
def make_precision_callback(precision: str = "auto") -> Callable[[Language], Language]:
    """``[nlp.after_pipeline_creation]`` callback: every PyTorch model of the pipeline
    (transformers, the STSN head) computes in ``precision`` ("float32", "bfloat16" or
    "auto"), in training and in inference.

    precision (str): the precision.
    RETURNS (Callable[[Language], Language]): the callback.
    """
    check_precision(precision)

    def set_pipeline_precision(nlp: Language) -> Language:
        for name, component in nlp.components:
            model = getattr(component, "model", None)
            if isinstance(model, Model):
                set_model_precision(model, precision)
            # recorded in the component's config too, which `source` carries along
            if nlp.get_pipe_meta(name).factory == "stsn":
                nlp.get_pipe_config(name)["precision"] = precision
        return nlp

    return set_pipeline_precision


def set_listened_precision(nlp: Language, model: Model, precision: str) -> None:
    """The precision of an ``stsn`` component's ``model`` (an inline transformer
    included) and of the components of ``nlp`` its listeners listen to (each named by
    its ``upstream``; "*": every transformer or tok2vec).

    nlp (Language): the pipeline.
    model (Model): the component's model.
    precision (str): the precision.
    """
    set_model_precision(model, precision)
    upstream = {getattr(node, "upstream_name", "*") for node, _ in listeners(model)}
    for name, component in nlp.components:
        listened = name in upstream or (
            "*" in upstream and hasattr(component, "listener_map")
        )
        if listened and isinstance(getattr(component, "model", None), Model):
            set_model_precision(component.model, precision)


def overrides(precision: str) -> Dict[str, Any]:
    """The ``config=`` of ``spacy.load`` that sets the pipeline's precision, also for
    pipelines saved without the callback: ``spacy.load(path,
    config=overrides("bfloat16"))``.

    precision (str): the precision.
    RETURNS (Dict[str, Any]): the overrides.
    """
    return {
        "nlp": {
            "after_pipeline_creation": {
                "@callbacks": "spacy_stsn.precision.v1",
                "precision": check_precision(precision),
            }
        }
    }


def pipeline_precision(nlp: Language) -> str:
    """The precision ``nlp`` was configured with: its precision callback's, else the
    one an ``stsn`` component's config sets, else "float32".

    nlp (Language): the pipeline.
    RETURNS (str): the precision.
    """
    config = nlp.config
    callback = config["nlp"].get("after_pipeline_creation") or {}
    if callback.get("@callbacks") == "spacy_stsn.precision.v1":
        return callback.get("precision", "auto")
    for name in nlp.component_names:
        component = config["components"].get(name, {})
        if component.get("factory") == "stsn" and component.get("precision"):
            return component["precision"]
    return "float32"


def describe(nlp: Language) -> str:
    """The configured precision and what it computes in on this machine's CPU, e.g.
    "auto (bfloat16)".

    nlp (Language): the pipeline.
    RETURNS (str): the description.
    """
    precision = pipeline_precision(nlp)
    dtype = resolve(precision, torch.device("cpu"))
    return f"{precision} ({'bfloat16' if dtype is not None else 'float32'} on CPU)"
