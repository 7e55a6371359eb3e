"""Loading a trained pipeline for the command line tools, with errors that name the path
and the cause."""

from typing import Any, Dict, Optional, Tuple

import spacy
from spacy.language import Language
from spacy.util import dict_to_dot

from ..ml.precision import check_precision
from ..ml.precision import overrides as precision_overrides
from .component import STSNComponent


def load_pipeline(
    model: str,
    gpu_id: int = -1,
    precision: Optional[str] = None,
    overrides: Optional[Dict[str, Any]] = None,
) -> Tuple[Language, STSNComponent]:
    """``spacy.load(model)`` and its stsn component. A missing or corrupt directory
    raises ``ValueError`` naming ``model`` (spaCy raises ``OSError`` with its own codes,
    or a msgpack/JSON error from deep inside). ``precision`` (float32 | bfloat16 | auto)
    overrides the pipeline's saved precision (:mod:`spacy_stsn.ml.precision`; None keeps
    it), ``overrides`` other settings of the config (dotted keys).

    model (str): the pipeline's directory or package name.
    gpu_id (int): the GPU to load onto; -1: the CPU.
    precision (Optional[str]): "float32", "bfloat16" or "auto"; None keeps the saved.
    overrides (Optional[Dict[str, Any]]): config overrides.
    RETURNS (Tuple[Language, STSNComponent]): the pipeline and its stsn component.
    """
    if gpu_id >= 0:
        use_gpu(gpu_id)
    try:
        config = dict(overrides or {})
        if precision is not None:
            precision_config = precision_overrides(check_precision(precision))
            config.update(dict_to_dot(precision_config, for_overrides=True))
        nlp = spacy.load(model, config=config)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{model}: could not load the pipeline: {err}") from err
    return nlp, stsn_component(nlp, model)


def use_gpu(gpu_id: int) -> None:
    """spaCy's ``require_gpu(gpu_id)``, with an error that says what this machine
    lacks (a GPU that torch sees, CuPy through which spaCy uses it) and how to run on
    the CPU instead.

    gpu_id (int): the GPU.
    """
    try:
        spacy.require_gpu(gpu_id)
    except Exception as err:  # thinc: ValueError; CuPy: its CUDA errors
        raise ValueError(
            f"--gpu-id {gpu_id}: cannot run on GPU {gpu_id} ({err}); {_gpu_state()}; "
            "--gpu-id -1 runs on the CPU"
        ) from None


def _gpu_state() -> str:
    import torch

    if torch.cuda.is_available():
        state = f"torch {torch.__version__} sees {torch.cuda.device_count()} CUDA GPUs"
    elif torch.version.cuda is None:
        state = f"torch {torch.__version__} is a build without CUDA"
    else:
        state = f"torch {torch.__version__} sees no CUDA GPU"
    try:
        import cupy  # noqa: F401
    except ImportError:
        state += "; spaCy computes on a GPU through CuPy (pip install cupy-cuda12x)"
    return state


def stsn_component(nlp: Language, name: str) -> STSNComponent:
    """The pipeline's stsn component; ``ValueError`` naming the pipeline ``name`` if it
    has none.

    nlp (Language): the pipeline.
    name (str): what to call it in the message.
    RETURNS (STSNComponent): the component.
    """
    stsn = next(
        (pipe for _, pipe in nlp.pipeline if isinstance(pipe, STSNComponent)), None
    )
    if stsn is None:
        raise ValueError(f"{name}: the pipeline {nlp.pipe_names} has no stsn component")
    return stsn
