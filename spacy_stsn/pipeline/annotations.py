"""How STSN annotations live on a ``Doc``: one representation for gold data and
predictions.

Entities (overlaps included) live in a span group, ``doc.spans[spans_key]``, with their
scores in ``group.attrs["scores"]`` as spaCy's ``spancat`` does; ``doc.ents`` holds a
non-overlapping subset chosen by
:func:`spacy_stsn.pipeline.decoding.select_non_overlapping`. Relations are plain,
msgpack-serialisable dicts in ``doc._.relations``::

    {"head": [start, end], "head_label": "Peop",
     "tail": [start, end], "tail_label": "Loc", "label": "Live_In", "score": 0.97}

(token offsets, ``end`` exclusive), so they survive ``DocBin(store_user_data=True)`` and
``doc.to_bytes()`` untouched. ``doc._.relation_spans`` turns them back into
:class:`Relation` tuples of ``Span`` objects. The token-level tags (BIO or extended BIO)
are ``doc._.stsn_tags`` and ``token._.stsn_tag``.
"""

from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from spacy.tokens import Doc, Span, Token

from .decoding import select_non_overlapping

DEFAULT_SPANS_KEY = "stsn"
# doc.user_data key of the relation types a converted corpus marks symmetric (read by
# the component's initialize)
SYMMETRIC_KEY = "symmetric_relations"
# The key spaCy itself uses for an extension attribute's value, so DocBin and to_bytes
# keep it.
_REL_KEY = ("._.", "relations", None, None)
_TAGS_KEY = ("._.", "stsn_tags", None, None)


class Relation(NamedTuple):
    """A relation with its arguments as ``Span`` objects (labelled with their entity
    types)."""

    head: Span
    tail: Span
    label: str
    score: float


def doc_name(doc: Doc, index: Optional[int] = None) -> str:
    """A human-readable name of a document for error messages: its ``orig_id`` if known,
    else its position.

    doc (Doc): the document.
    index (Optional[int]): its position in its corpus or batch.
    RETURNS (str): the name.
    """
    orig_id = doc.user_data.get("orig_id")
    parts = []
    if orig_id is not None:
        parts.append(f"orig_id={orig_id}")
    if index is not None:
        parts.append(f"#{index}")
    text = doc.text if len(doc.text) <= 60 else doc.text[:57] + "..."
    parts.append(repr(text))
    return "document " + " ".join(parts)


def make_relation(
    head: Tuple[int, int],
    head_label: str,
    tail: Tuple[int, int],
    tail_label: str,
    label: str,
    score: float = 1.0,
) -> Dict[str, Any]:
    """Build one relation record in the stored format.

    head (Tuple[int, int]): the head entity's token offsets.
    head_label (str): its label.
    tail (Tuple[int, int]): the tail entity's token offsets.
    tail_label (str): its label.
    label (str): the relation type.
    score (float): the relation's score.
    RETURNS (Dict[str, Any]): the record.
    """
    return {
        "head": [int(head[0]), int(head[1])],
        "head_label": str(head_label),
        "tail": [int(tail[0]), int(tail[1])],
        "tail_label": str(tail_label),
        "label": str(label),
        "score": float(score),
    }


def validate_relations(
    doc: Doc, relations: Iterable[Dict[str, Any]], index: Optional[int] = None
) -> None:
    """Raise ``ValueError`` naming the document if a relation is malformed or points
    outside the doc.

    doc (Doc): the document.
    relations (Iterable[Dict[str, Any]]): its relations.
    index (Optional[int]): its position, in the message.
    """
    for i, rel in enumerate(relations):
        for key in ("head", "tail", "head_label", "tail_label", "label"):
            if key not in rel:
                raise ValueError(
                    f"{doc_name(doc, index)}: relation {i} has no '{key}': {rel!r}"
                )
        for key in ("head", "tail"):
            start, end = rel[key]
            if not (0 <= start < end <= len(doc)):
                raise ValueError(
                    f"{doc_name(doc, index)}: relation {i} ({rel['label']}) has {key} span "
                    f"[{start}, {end}) outside the document's {len(doc)} tokens"
                )


def _get_relations(doc: Doc) -> List[Dict[str, Any]]:
    rels = doc.user_data.get(_REL_KEY)
    if not isinstance(rels, list):
        # absent, or read back by DocBin/msgpack, which turns lists into tuples
        rels = [
            dict(rel, head=list(rel["head"]), tail=list(rel["tail"]))
            for rel in rels or ()
        ]
        doc.user_data[_REL_KEY] = rels
    return rels


def _set_relations(doc: Doc, relations: Iterable[Dict[str, Any]]) -> None:
    relations = [dict(rel) for rel in relations]
    validate_relations(doc, relations)
    doc.user_data[_REL_KEY] = relations


def _get_relation_spans(doc: Doc) -> List[Relation]:
    out = []
    for rel in doc._.relations:
        head = Span(doc, rel["head"][0], rel["head"][1], label=rel["head_label"])
        tail = Span(doc, rel["tail"][0], rel["tail"][1], label=rel["tail_label"])
        out.append(Relation(head, tail, rel["label"], float(rel.get("score", 1.0))))
    return out


def _get_tags(doc: Doc) -> Optional[List[str]]:
    tags = doc.user_data.get(_TAGS_KEY)
    return tags if tags is None or isinstance(tags, list) else list(tags)


def _set_tags(doc: Doc, tags: Optional[Sequence[str]]) -> None:
    if tags is not None and len(tags) != len(doc):
        raise ValueError(f"{doc_name(doc)}: {len(tags)} tags for {len(doc)} tokens")
    doc.user_data[_TAGS_KEY] = None if tags is None else list(tags)


def _get_token_tag(token: Token) -> Optional[str]:
    tags = token.doc._.stsn_tags
    return None if tags is None else tags[token.i]


def register_extensions() -> None:
    """Register the ``Doc``/``Token`` extensions (idempotent; called when the package is
    imported)."""
    if not Doc.has_extension("relations"):
        Doc.set_extension("relations", getter=_get_relations, setter=_set_relations)
    if not Doc.has_extension("relation_spans"):
        Doc.set_extension("relation_spans", getter=_get_relation_spans)
    if not Doc.has_extension("stsn_tags"):
        Doc.set_extension("stsn_tags", getter=_get_tags, setter=_set_tags)
    if not Token.has_extension("stsn_tag"):
        Token.set_extension("stsn_tag", getter=_get_token_tag)


def set_entities(
    doc: Doc,
    spans: Sequence[Tuple[int, int, str]],
    scores: Optional[Sequence[float]] = None,
    spans_key: str = DEFAULT_SPANS_KEY,
    ents: bool = True,
) -> None:
    """Write entities to ``doc.spans[spans_key]`` (all, with scores) and, unless
    ``ents`` is False, to ``doc.ents`` (non-overlapping).

    doc (Doc): the document.
    spans (Sequence[Tuple[int, int, str]]): the entities.
    scores (Optional[Sequence[float]]): their scores.
    spans_key (str): the span group.
    ents (bool): whether to write ``doc.ents`` too.
    """
    order = sorted(
        range(len(spans)), key=lambda i: (spans[i][0], spans[i][1], spans[i][2])
    )
    spans = [spans[i] for i in order]
    scores = [1.0] * len(spans) if scores is None else [float(scores[i]) for i in order]
    group = [Span(doc, s, e, label=label) for s, e, label in spans]
    doc.spans[spans_key] = group
    doc.spans[spans_key].attrs["scores"] = scores
    if ents:
        keep = select_non_overlapping([(s, e) for s, e, _ in spans], scores)
        doc.set_ents([group[i] for i in keep], default="outside")


def given_entities(
    doc: Doc,
    spans_key: Optional[str],
    labels: Sequence[str],
    component: str = "stsn",
) -> List[Tuple[int, int, str]]:
    """Entities an upstream component put on ``doc``, in order: the span group
    ``spans_key``, or ``doc.ents`` when it is None. A span given twice with one label
    counts once. ``ValueError`` naming the document for a missing span group, a label
    that is not one of the model's ``labels`` (its relations were learnt between those
    types: an upstream "ORG" must be mapped to the model's "Org", not guessed), and a
    span given twice with two labels (which one its relations would carry is
    undecidable).

    doc (Doc): the document.
    spans_key (Optional[str]): the span group; None: ``doc.ents``.
    labels (Sequence[str]): the model's entity labels.
    component (str): the component's name, in messages.
    RETURNS (List[Tuple[int, int, str]]): the entities.
    """
    if spans_key is not None and spans_key not in doc.spans:
        raise ValueError(
            f"[{component}] {doc_name(doc)} has no span group {spans_key!r} for the given entities "
            f'(entities = "given", given_spans_key = {spans_key!r}); is the upstream component in '
            f"the pipeline, before {component!r}?"
        )
    spans = doc.spans[spans_key] if spans_key is not None else doc.ents
    entities = sorted({(span.start, span.end, span.label_) for span in spans})
    where = f"doc.spans[{spans_key!r}]" if spans_key is not None else "doc.ents"
    for start, end, label in entities:
        if label not in labels:
            raise ValueError(
                f"[{component}] {doc_name(doc)}: given entity {doc[start:end].text!r} [{start}, {end}) in "
                f"{where} has the label {label!r}, which the model does not know (its labels: "
                f"{list(labels)}); map the upstream labels to the model's"
            )
    for (s1, e1, l1), (s2, e2, l2) in zip(entities, entities[1:]):
        if (s1, e1) == (s2, e2):
            raise ValueError(
                f"[{component}] {doc_name(doc)}: the span {doc[s1:e1].text!r} [{s1}, {e1}) is given twice "
                f"in {where}, as {l1!r} and as {l2!r}; give each span one label"
            )
    return entities


def get_entities(
    doc: Doc, spans_key: str = DEFAULT_SPANS_KEY
) -> List[Tuple[int, int, str]]:
    """Entities of a doc as ``(start, end, label)``: the span group if present, else
    ``doc.ents``.

    doc (Doc): the document.
    spans_key (str): the span group.
    RETURNS (List[Tuple[int, int, str]]): the entities.
    """
    spans = doc.spans[spans_key] if spans_key in doc.spans else doc.ents
    return [(span.start, span.end, span.label_) for span in spans]


def relation_arguments(
    doc: Doc,
    entities: Sequence[Tuple[int, int, str]],
    spans_key: str = DEFAULT_SPANS_KEY,
    index: Optional[int] = None,
) -> List[Tuple[int, int]]:
    """Positions of each relation's head and tail in ``entities``, for formats that
    index an entity list (SpERT JSON, the ``extract`` JSONL). An argument that is not
    among them raises ``ValueError`` naming the doc.

    doc (Doc): the document.
    entities (Sequence[Tuple[int, int, str]]): its entity list.
    spans_key (str): the span group (in messages).
    index (Optional[int]): its position, in messages.
    RETURNS (List[Tuple[int, int]]): per relation, the head's and the tail's index.
    """
    position = {entity: n for n, entity in enumerate(entities)}
    out = []
    for j, rel in enumerate(doc._.relations):
        args = [(*rel[arg], rel[f"{arg}_label"]) for arg in ("head", "tail")]
        missing = [arg for arg in args if arg not in position]
        if missing:
            raise ValueError(
                f"{doc_name(doc, index)}: relation {j} ({rel['label']}) has argument(s) {missing} "
                f"that are not among the entities in doc.spans[{spans_key!r}]"
            )
        out.append((position[args[0]], position[args[1]]))
    return out


register_extensions()
