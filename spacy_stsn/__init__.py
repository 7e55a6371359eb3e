"""spacy-stsn: the STSN joint entity and relation extractor as a spaCy component (factory ``stsn``)."""
from .annotations import DEFAULT_SPANS_KEY, Relation, get_entities, register_extensions, set_entities

__version__ = "0.1.0"
__all__ = ["DEFAULT_SPANS_KEY", "Relation", "get_entities", "register_extensions", "set_entities"]
