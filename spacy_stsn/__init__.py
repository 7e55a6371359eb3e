"""spacy-stsn: the STSN joint entity and relation extractor as a spaCy component
(factory ``stsn``)."""

from .about import __version__
from .pipeline.annotations import (
    DEFAULT_SPANS_KEY,
    Relation,
    get_entities,
    register_extensions,
    set_entities,
)

__all__ = [
    "__version__",
    "DEFAULT_SPANS_KEY",
    "Relation",
    "get_entities",
    "register_extensions",
    "set_entities",
]


def __getattr__(name: str):
    """``spacy_stsn.extract_dataset`` (Ray Data extraction), imported on first use: Ray
    is an optional extra and importing ``spacy_stsn`` must not import it."""
    if name == "extract_dataset":
        from .extraction.ray.annotate import extract_dataset

        return extract_dataset
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
