"""What the ``stsn`` component learns from its training examples at ``initialize``,
before training: the label sets (entities, relation types, the symmetric ones, the
token tags), the tag scheme and how often entities overlap."""

import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spacy.training import Example

from ..ml.labels import Span3
from .annotations import SYMMETRIC_KEY, get_entities
from .tags import OUTSIDE, encode_tags


def label_data(
    examples: Sequence[Example],
    spans_key: str,
    tag_scheme: str,
    known: Dict[str, List[str]],
    preset: Optional[Dict[str, List[str]]] = None,
) -> Tuple[Dict[str, List[str]], str, float]:
    """What a component learns from its training examples before training: the label
    data (entity and relation labels, the relation types the corpus marks symmetric, the
    token tags), the tag scheme (``auto``: extended_BIO iff some document has
    overlapping entities) and the fraction of documents with overlapping entities.
    ``known`` is label data set before (``add_label``, ``symmetric_relations``);
    ``preset`` is label data from ``spacy init labels``, used instead of the examples'
    labels.

    examples (Sequence[Example]): the training examples.
    spans_key (str): the ``spans_key`` setting.
    tag_scheme (str): the ``tag_scheme`` setting.
    known (Dict[str, List[str]]): the label data set before.
    preset (Optional[Dict[str, List[str]]]): label data from ``spacy init labels``.
    RETURNS (Tuple[Dict[str, List[str]], str, float]): the label data, the tag scheme
        and the fraction of documents with overlapping entities.
    """
    entities, relations = set(known["entities"]), set()
    symmetric = set(known.get("symmetric", ()))
    n_overlapping = 0
    for eg in examples:
        ents = get_entities(eg.reference, spans_key)
        entities.update(label for _, _, label in ents)
        relations.update(rel["label"] for rel in eg.reference._.relations)
        symmetric.update(eg.reference.user_data.get(SYMMETRIC_KEY, ()))
        n_overlapping += has_overlap(ents)
    if tag_scheme == "auto":
        tag_scheme = "extended_BIO" if n_overlapping else "BIO"
    if preset is not None:
        entities, relations = set(preset["entities"]), set(preset["relations"])
        symmetric.update(preset.get("symmetric", ()))
    tags = {OUTSIDE} | {f"{prefix}-{label}" for label in entities for prefix in "BI"}
    if preset is not None and preset.get("tags"):
        tags.update(preset["tags"])
    elif tag_scheme == "extended_BIO":
        # two-fold tags ("B-AE/B-DRUG") exist only for the combinations the data has
        for eg in examples:
            tags.update(
                encode_tags(
                    len(eg.reference), get_entities(eg.reference, spans_key), tag_scheme
                )[0]
            )
    labels = {
        "entities": sorted(entities),
        "relations": sorted(relations),
        "tags": [OUTSIDE] + sorted(tags - {OUTSIDE}),
        "symmetric": sorted(symmetric & relations),
    }
    return labels, tag_scheme, n_overlapping / max(len(examples), 1)


def check_label_data(
    labels: Dict[str, List[str]], cfg: Dict[str, Any], overlaps: str, name: str
) -> None:
    """What ``initialize`` says about the label data it found: no entity labels is an
    error; no relation types (an entity-only corpus) trains and predicts entities only;
    overlaps too rare for ``overlaps = "auto"`` to decode nested are pointed out.

    labels (Dict[str, List[str]]): the label data found.
    cfg (Dict[str, Any]): the component's cfg.
    overlaps (str): the overlap policy in force.
    name (str): the component's name.
    """
    if not labels["entities"]:
        raise ValueError(
            f"[{name}] found no entity labels in the training data (spans_key "
            f"{cfg['spans_key']!r} or doc.ents); check the corpus and the spans_key setting"
        )
    if not labels["relations"]:
        warnings.warn(
            f"[{name}] found no relation types in the training data (doc._.relations is empty in "
            "every document): the component will train and predict entities only",
            stacklevel=2,
        )
    if cfg["overlaps"] == "auto" and cfg["data_overlaps"] and overlaps == "flat":
        warnings.warn(
            f"[{name}] {100 * cfg['data_overlaps']:.1f} % of the training documents have overlapping "
            "entities: too few for nested decoding (overlaps = 'auto' resolved to 'flat'); set "
            "overlaps = 'nested' to predict overlapping entities",
            stacklevel=2,
        )


def has_overlap(spans: Sequence[Span3]) -> bool:
    """Whether any two of the entities share a token.

    spans (Sequence[Span3]): the entities.
    RETURNS (bool): whether two overlap.
    """
    ordered = sorted((s, e) for s, e, _ in spans)
    return any(ordered[i][1] > ordered[i + 1][0] for i in range(len(ordered) - 1))
