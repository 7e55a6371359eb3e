"""The ``stsn`` component's settings: their defaults (the factory's ``default_config``)
and their checks, in one place for the factory and the component. What each one means is
documented on the factory, :func:`spacy_stsn.pipeline.factory.make_stsn`."""

from typing import Any, Dict

from .annotations import DEFAULT_SPANS_KEY
from .decoding import OVERLAP_POLICIES
from ..ml.precision import PRECISIONS
from .tags import SCHEMES
from .windows import WINDOW_MODES

ENTITY_MODES = ("predict", "given")
# what initialize learns from the data; the other cfg entries are settings, which come
# from the config
LEARNED = ("labels", "input_width", "tag_scheme", "data_overlaps")
DEFAULTS: Dict[str, Any] = {
    "spans_key": DEFAULT_SPANS_KEY,
    "threshold": 0.4,
    "relation_thresholds": {},
    "tag_scheme": "auto",
    "overlaps": "auto",
    "nested_threshold": 0.0,
    "symmetric_relations": [],
    "entities": "predict",
    "given_spans_key": None,
    "neg_entity_samples": 100,
    "neg_relation_samples": 100,
    "max_batch_items": 2048,
    "precision": None,
    "windows": "auto",
    "window_size": 128,
    "window_overlap": 32,
}
CHOICES = {
    "tag_scheme": SCHEMES + ("auto",),
    "overlaps": OVERLAP_POLICIES,
    "entities": ENTITY_MODES,
    "precision": PRECISIONS + (None,),
    "windows": WINDOW_MODES,
}


def check_settings(settings: Dict[str, Any]) -> Dict[str, Any]:
    """``settings`` over the defaults; an unknown name or a value out of range is a
    ``ValueError`` naming it."""
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        raise ValueError(
            f"unknown stsn settings {unknown}; the settings are {sorted(DEFAULTS)}"
        )
    merged = {**DEFAULTS, **settings}
    for name, choices in CHOICES.items():
        if merged[name] not in choices:
            raise ValueError(f"{name} must be one of {choices}, not {merged[name]!r}")
    for name in ("threshold", "nested_threshold"):
        if not 0.0 <= merged[name] <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], not {merged[name]}")
    for label, value in merged["relation_thresholds"].items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(
                f"relation_thresholds[{label!r}] must be in [0, 1], not {value}"
            )
    merged["relation_thresholds"] = dict(merged["relation_thresholds"])
    for name in ("neg_entity_samples", "neg_relation_samples", "max_batch_items"):
        if merged[name] < (1 if name == "max_batch_items" else 0):
            raise ValueError(
                f"{name} must be >= {1 if name == 'max_batch_items' else 0}, not {merged[name]}"
            )
    if not 0 <= merged["window_overlap"] < merged["window_size"]:
        raise ValueError(
            f"window_overlap must be >= 0 and less than window_size "
            f"({merged['window_size']}), not {merged['window_overlap']}"
        )
    return merged


def initial_cfg(settings: Dict[str, Any]) -> Dict[str, Any]:
    """A new component's cfg: its checked settings, the label data it starts with
    (``symmetric_relations`` from the config; the rest is learnt at ``initialize``) and
    what ``initialize`` will learn, unknown yet."""
    cfg = check_settings(settings)
    symmetric = sorted(cfg.pop("symmetric_relations"))
    labels = {"entities": [], "relations": [], "tags": [], "symmetric": symmetric}
    return {"labels": labels, **cfg, "input_width": None, "data_overlaps": None}


def restore_learned(cfg: Dict[str, Any], saved: Dict[str, Any]) -> None:
    """Put what ``initialize`` learned (``LEARNED``) from a saved cfg into ``cfg``,
    whose settings come from the config and so can be changed at load time; symmetric
    relation types configured now are kept."""
    configured = set(cfg["labels"].get("symmetric", ()))
    cfg.update({key: saved[key] for key in LEARNED if key in saved})
    labels = cfg["labels"]
    symmetric = set(labels.get("symmetric", ())) | configured
    labels["symmetric"] = sorted(symmetric & set(labels["relations"]))
