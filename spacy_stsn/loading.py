"""Loading a trained pipeline for the command line tools, with errors that name the path and the cause."""

from typing import Any, Dict, Optional, Tuple

import spacy
from spacy.language import Language

from .pipe import STSNComponent

PRECISION_KEY = "components.stsn.model.inference_precision"


def load_pipeline(
    model: str,
    gpu_id: int = -1,
    inference_precision: Optional[str] = None,
    overrides: Optional[Dict[str, Any]] = None,
) -> Tuple[Language, STSNComponent]:
    """``spacy.load(model)`` and its stsn component. A missing or corrupt directory raises ``ValueError``
    naming ``model`` (spaCy raises ``OSError`` with its own codes, or a msgpack/JSON error from deep inside).
    ``inference_precision`` overrides the stored ``components.stsn.model.inference_precision``, ``overrides``
    other settings of the config (dotted keys)."""
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    overrides = dict(overrides or {})
    if inference_precision is not None:
        overrides[PRECISION_KEY] = inference_precision
    try:
        nlp = spacy.load(model, config=overrides)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"{model}: could not load the pipeline: {err}") from err
    return nlp, stsn_component(nlp, model)


def stsn_component(nlp: Language, name: str) -> STSNComponent:
    """The pipeline's stsn component; ``ValueError`` naming the pipeline ``name`` if it has none."""
    stsn = next(
        (pipe for _, pipe in nlp.pipeline if isinstance(pipe, STSNComponent)), None
    )
    if stsn is None:
        raise ValueError(f"{name}: the pipeline {nlp.pipe_names} has no stsn component")
    return stsn
